/** The small parts of collect and query: time ranges, output formats, the retention schedule. */
import { describe, expect, it } from "vitest";
import { formatReadings, formatSummary, readingsHeader } from "../../ops/collect/query-format";
import { retentionEveryMs, startRetention } from "../../ops/collect/retention";
import type { Store } from "../../ops/collect/store";
import { parseInstant, timeRange } from "../../ops/collect/time-range";

const NOW = Date.UTC(2026, 11, 5, 12, 0, 0);

describe("time range", () => {
  it("--since is up to now; the default is the last hour", () => {
    expect(timeRange({ since: 600_000 }, NOW)).toEqual({ fromMs: NOW - 600_000, toMs: NOW + 1 });
    expect(timeRange({}, NOW)).toEqual({ fromMs: NOW - 3_600_000, toMs: NOW + 1 });
  });

  it("--from/--to take ISO 8601 or a duration ago", () => {
    expect(parseInstant("--from", "2026-12-05T10:00:00Z", NOW)).toBe(Date.UTC(2026, 11, 5, 10));
    expect(parseInstant("--from", "2h", NOW)).toBe(NOW - 7_200_000);
    expect(timeRange({ from: "2h", to: "1h" }, NOW)).toEqual({ fromMs: NOW - 7_200_000, toMs: NOW - 3_600_000 });
  });

  it("refuses what it cannot read, and an empty range", () => {
    expect(() => parseInstant("--from", "yesterday", NOW)).toThrow(/neither a date-time/);
    expect(() => timeRange({ from: "1h", to: "2h" }, NOW)).toThrow(/the range is empty/);
  });
});

describe("output", () => {
  const row = { node: "n,1", timeMs: NOW, boot: 1, seq: 2, up: 3, ts: null, temperature: 21.5, humidity: null, adc: null, vdd: 3.3, extra: { failed: ["humidity"] } };

  it("CSV: a header, empty for no value, quotes where needed", () => {
    expect(readingsHeader("csv")).toBe("time,node,boot,seq,up,ts,temperature,humidity,adc,vdd,extra\n");
    expect(formatReadings([row], "csv")).toBe(`2026-12-05T12:00:00.000Z,"n,1",1,2,3,,21.5,,,3.3,"{""failed"":[""humidity""]}"\n`);
  });

  it("JSON lines: one object per reading, absent values left out", () => {
    expect(JSON.parse(formatReadings([row], "jsonl"))).toEqual({ time: "2026-12-05T12:00:00.000Z", node: "n,1", boot: 1, seq: 2, up: 3, temperature: 21.5, vdd: 3.3, extra: { failed: ["humidity"] } });
  });

  it("the summary table has a totals line", () => {
    const s = { node: "a", readings: 5, gaps: 1, duplicates: 2, reboots: 0, boot: 1, seq: 6, firstSeenMs: NOW - 60_000, lastSeenMs: NOW - 5000, state: "online", fw: null };
    const table = formatSummary([s, { ...s, node: "b" }], "table", NOW);
    expect(table.split("\n")[1]).toMatch(/^a\s+5\s+1\s+2\s+0\s+1\s+6\s+5 s ago\s+online$/);
    expect(table.split("\n")[3]).toMatch(/^2 nodes\s+10\s+2\s+4\s+0$/);
  });
});

describe("retention", () => {
  it("runs a tenth of --keep apart, between 10 s and 1 h", () => {
    expect([retentionEveryMs(60_000), retentionEveryMs(86_400_000), retentionEveryMs(30 * 86_400_000)]).toEqual([10_000, 3_600_000, 3_600_000]);
    expect(retentionEveryMs(1_800_000)).toBe(180_000);
  });

  it("prunes at start what is older than --keep, and not while the database is failing", async () => {
    const limits: number[] = [];
    const store = { prune: async (before: number) => (limits.push(before), { readings: 3, minutes: 1, messages: 0 }) } as unknown as Store;
    const log: string[] = [];
    const started = Date.now();
    const r = startRetention(store, 86_400_000, (l) => log.push(l), () => false);
    await r.stop();
    expect(Math.abs(limits[0] - (started - 86_400_000))).toBeLessThan(1000);
    expect(log).toEqual(["retention: deleted 3 readings, 0 events and acks, 1 minutes older than 1d"]);
    const idle = startRetention(store, 86_400_000, () => undefined, () => true);
    await idle.stop();
    expect(limits).toHaveLength(1);
  });
});
