/**
 * The contract of a Store (ops/collect/store.ts), one suite for every store,
 * in the manner of aedes-persistence's abstract.js: a backend's test file
 * calls storeSuite({ name, open, destroy }) and nothing else. Each case gets
 * a fresh, empty store and destroys it whatever happens, and declares how
 * many assertions it makes (expect.assertions), so a check that is skipped
 * fails the case.
 */
import { describe, expect, it } from "vitest";
import type { Batch, MessageRecord, ReadingRecord, StatusRecord, Store } from "../../ops/collect/store";

export interface StoreSuiteOptions {
  name: string;
  /** A fresh, empty store. */
  open: () => Promise<Store>;
  /** Close it and remove whatever it left. */
  destroy: (store: Store) => Promise<void>;
  /** Set: the suite is skipped, and this says why. */
  skip?: string;
}

const T0 = Date.UTC(2026, 11, 5, 10, 0, 0);
const MINUTE = 60_000;

export function reading(node: string, boot: number, seq: number, more: Partial<ReadingRecord> = {}): ReadingRecord {
  return {
    node,
    boot,
    seq,
    timeMs: T0 + seq * 1000,
    up: seq,
    ts: Math.floor((T0 + seq * 1000) / 1000),
    values: { temperature: 20 + seq / 10, humidity: 40 },
    extra: null,
    gap: 0,
    reboot: false,
    fillsGap: false,
    ...more,
  };
}

export function batch(parts: Partial<Batch>): Batch {
  return { readings: [], duplicates: {}, statuses: [], messages: [], drops: [], ...parts };
}

export function storeSuite(options: StoreSuiteOptions): void {
  const suite = options.skip !== undefined ? describe.skip : describe;
  /** A case: a fresh store, always destroyed. */
  const test = (title: string, assertions: number, body: (store: Store) => Promise<void>): void => {
    it(title, async () => {
      expect.assertions(assertions);
      const store = await options.open();
      try {
        await body(store);
      } finally {
        await options.destroy(store);
      }
    });
  };
  const all = (store: Store, node?: string) => store.readings({ ...(node !== undefined ? { node } : {}), fromMs: 0, toMs: T0 + 86_400_000, limit: 100_000 });
  const summaryOf = async (store: Store, node: string) => (await store.summary()).find((s) => s.node === node);

  suite(`store contract: ${options.name}${options.skip !== undefined ? ` (skipped: ${options.skip})` : ""}`, () => {
    describe("writing readings", () => {
      test("a reading is stored with every field and read back as it was", 3, async (store) => {
        const r = reading("node-0001", 3, 42, { values: { temperature: 21.5, humidity: 40.25, adc: 512, vdd: 3.3 }, extra: { failed: ["x"], dropped: 2 } });
        const result = await store.write(batch({ readings: [r] }));
        expect(result).toEqual({ stored: 1, duplicates: 0, notStored: [] });
        const rows = await all(store);
        expect(rows).toEqual([
          { node: "node-0001", timeMs: r.timeMs, boot: 3, seq: 42, up: 42, ts: r.ts, temperature: 21.5, humidity: 40.25, adc: 512, vdd: 3.3, extra: { failed: ["x"], dropped: 2 } },
        ]);
        expect((await summaryOf(store, "node-0001"))?.readings).toBe(1);
      });

      test("absent values are stored as null, not as zero", 1, async (store) => {
        await store.write(batch({ readings: [reading("n", 1, 1, { values: { vdd: 3.1 }, up: null, ts: null })] }));
        const [row] = await all(store);
        expect([row.temperature, row.humidity, row.adc, row.vdd, row.up, row.ts]).toEqual([null, null, null, 3.1, null, null]);
      });

      test("values cross as array literals unchanged: quotes, backslashes, braces, commas and NULL in extras; every digit of a double", 2, async (store) => {
        const odd = { note: 'say "hi", {x} \\ y', list: [1, "a,b", null, "NULL"], "k\"ey": "}" };
        const r1 = reading("n", 1, 1, { values: { temperature: 0.1 + 0.2, humidity: -1e-7, adc: 1e21, vdd: -0 }, extra: odd });
        const r2 = reading("n", 1, 2, { extra: { text: "NULL" } });
        await store.write(batch({ readings: [r1, r2, reading("n", 1, 3)] }));
        const rows = await all(store);
        expect(rows.map((r) => [r.temperature, r.humidity, r.adc, r.vdd])).toEqual([
          [0.1 + 0.2, -1e-7, 1e21, 0],
          [r2.values.temperature, 40, null, null],
          [20.3, 40, null, null],
        ]);
        expect(rows.map((r) => r.extra)).toEqual([odd, { text: "NULL" }, null]);
      });

      test("a reading delivered again in a later batch is stored once and counted as a duplicate", 4, async (store) => {
        await store.write(batch({ readings: [reading("n", 1, 1), reading("n", 1, 2)] }));
        const again = await store.write(batch({ readings: [reading("n", 1, 2, { fillsGap: true })] }));
        expect(again.stored).toBe(0);
        expect([again.duplicates, again.notStored]).toEqual([1, [0]]);
        expect(await all(store)).toHaveLength(2);
        expect(await summaryOf(store, "n")).toMatchObject({ readings: 2, duplicates: 1, gaps: 0 });
      });

      test("the same reading twice in one batch is stored once", 3, async (store) => {
        const result = await store.write(batch({ readings: [reading("n", 1, 5), reading("n", 1, 5, { fillsGap: true })] }));
        expect(result).toEqual({ stored: 1, duplicates: 1, notStored: [1] });
        expect(await all(store)).toHaveLength(1);
        expect(await summaryOf(store, "n")).toMatchObject({ readings: 1, duplicates: 1 });
      });

      test("duplicates found in memory are added to the node's counter, no reading stored", 2, async (store) => {
        await store.write(batch({ readings: [reading("n", 1, 1)] }));
        const result = await store.write(batch({ duplicates: { n: 3 } }));
        expect(result).toMatchObject({ stored: 0, duplicates: 3 });
        expect(await summaryOf(store, "n")).toMatchObject({ readings: 1, duplicates: 3 });
      });

      test("gaps are counted with the reading after them, once, even if that reading comes again", 2, async (store) => {
        await store.write(batch({ readings: [reading("n", 1, 1), reading("n", 1, 5, { gap: 3 })] }));
        await store.write(batch({ readings: [reading("n", 1, 5, { gap: 3 })] }));
        expect(await summaryOf(store, "n")).toMatchObject({ readings: 2, gaps: 3, duplicates: 1 });
        expect((await all(store)).map((r) => r.seq)).toEqual([1, 5]);
      });

      test("a late reading fills a gap; the gap count never goes below zero", 2, async (store) => {
        await store.write(batch({ readings: [reading("n", 1, 1), reading("n", 1, 3, { gap: 1 })] }));
        await store.write(batch({ readings: [reading("n", 1, 2, { fillsGap: true })] }));
        expect(await summaryOf(store, "n")).toMatchObject({ readings: 3, gaps: 0 });
        await store.write(batch({ readings: [reading("m", 1, 7), reading("m", 1, 2, { fillsGap: true })] }));
        expect(await summaryOf(store, "m")).toMatchObject({ readings: 2, gaps: 0 });
      });

      test("reboots are counted and the position is the highest (boot, seq) stored", 3, async (store) => {
        await store.write(batch({ readings: [reading("n", 1, 9), reading("n", 2, 1, { reboot: true })] }));
        await store.write(batch({ readings: [reading("n", 1, 8, { fillsGap: false })] }));
        expect(await summaryOf(store, "n")).toMatchObject({ readings: 3, reboots: 1, boot: 2, seq: 1 });
        expect(await store.positions()).toEqual([{ node: "n", boot: 2, seq: 1 }]);
        await store.write(batch({ readings: [reading("n", 2, 4, { gap: 2 })] }));
        expect(await store.positions()).toEqual([{ node: "n", boot: 2, seq: 4 }]);
      });

      test("a batch that fails stores nothing of itself, and the store goes on working", 4, async (store) => {
        await store.write(batch({ readings: [reading("ok", 1, 1)] }));
        // seq beyond PostgreSQL's integer: the insert fails inside the transaction, after the new node's row was made.
        await expect(store.write(batch({ readings: [reading("new", 1, 1), reading("new", 1, 2 ** 40)] }))).rejects.toThrow();
        expect((await store.summary()).map((s) => s.node)).toEqual(["ok"]);
        expect(await all(store)).toHaveLength(1);
        await store.write(batch({ readings: [reading("new", 1, 1)] }));
        expect((await store.summary()).map((s) => [s.node, s.readings])).toEqual([
          ["new", 1],
          ["ok", 1],
        ]);
      });

      test("a NUL character (which JSON can carry, PostgreSQL text cannot) does not make a batch fail", 3, async (store) => {
        const nul = String.fromCharCode(0);
        const result = await store.write(
          batch({
            readings: [reading(`n${nul}1`, 1, 1, { extra: { note: `a${nul}b`, [`k${nul}`]: ["\\u0000", nul] } })],
            statuses: [{ node: `n${nul}1`, state: `on${nul}line`, fw: null, timeMs: T0 }],
            messages: [{ node: "m", kind: "event", code: `x${nul}`, body: { text: nul }, timeMs: T0 }],
          }),
        );
        expect(result.stored).toBe(1);
        expect((await all(store))[0].extra).toEqual({ note: "ab", k: ["\\u0000", ""] });
        expect((await store.summary()).map((s) => [s.node, s.state])).toEqual([
          ["m", null],
          ["n1", "online"],
        ]);
      });

      test("statuses set each node's state and firmware; events and acks are kept", 3, async (store) => {
        const status = (node: string, state: string, fw: string | null): StatusRecord => ({ node, state, fw, timeMs: T0 });
        const message = (node: string, kind: MessageRecord["kind"], code: string): MessageRecord => ({ node, kind, code, body: { id: node, code }, timeMs: T0 });
        await store.write(batch({ statuses: [status("a", "online", "1.2.0"), status("b", "online", null)], messages: [message("a", "event", "sensor_read_failed"), message("b", "ack", "applied")] }));
        await store.write(batch({ statuses: [status("a", "offline", null)] }));
        const summary = await store.summary();
        expect(summary.map((s) => [s.node, s.state, s.fw, s.readings])).toEqual([
          ["a", "offline", "1.2.0", 0],
          ["b", "online", null, 0],
        ]);
        const pruned = await store.prune(T0 + 1);
        expect(pruned.messages).toBe(2);
        expect(await store.positions()).toEqual([]);
      });
    });

    describe("reading back", () => {
      test("a node's readings over a range: that node only, in time order, the end excluded", 2, async (store) => {
        await store.write(batch({ readings: [3, 1, 2, 4].map((s) => reading("a", 1, s)).concat([reading("b", 1, 2)]) }));
        const rows = await store.readings({ node: "a", fromMs: T0 + 2000, toMs: T0 + 4000, limit: 100 });
        expect(rows.map((r) => [r.node, r.seq])).toEqual([
          ["a", 2],
          ["a", 3],
        ]);
        expect(await store.readings({ node: "nobody", fromMs: 0, toMs: T0 * 2, limit: 100 })).toEqual([]);
      });

      test("paging with `after` returns every row once, ties in time included", 2, async (store) => {
        const rows: ReadingRecord[] = [];
        for (let s = 1; s <= 25; s++) {
          // Five readings share each second, as readings with a 1 s ts do.
          rows.push(reading(s % 2 === 0 ? "a" : "b", 1, s, { timeMs: T0 + Math.floor(s / 5) * 1000 }));
        }
        await store.write(batch({ readings: rows }));
        const seen: string[] = [];
        let after: Parameters<Store["readings"]>[0]["after"] = undefined;
        for (;;) {
          const page = await store.readings({ fromMs: 0, toMs: T0 * 2, limit: 4, ...(after !== undefined ? { after } : {}) });
          seen.push(...page.map((r) => `${r.node}/${r.seq}`));
          if (page.length < 4) break;
          const last = page[page.length - 1];
          after = { timeMs: last.timeMs, node: last.node, boot: last.boot, seq: last.seq };
        }
        expect(seen).toHaveLength(25);
        expect(new Set(seen).size).toBe(25);
      });

      test("the summary: per node readings, gaps, duplicates, reboots, first and last seen, by name", 1, async (store) => {
        await store.write(batch({ readings: [reading("b", 1, 1), reading("b", 1, 4, { gap: 2 }), reading("a", 7, 1)], duplicates: { a: 1 } }));
        await store.write(batch({ readings: [reading("a", 8, 1, { reboot: true })] }));
        const summary = await store.summary();
        expect(summary.map((s) => ({ ...s, fw: undefined, state: undefined }))).toEqual([
          { node: "a", readings: 2, gaps: 0, duplicates: 1, reboots: 1, boot: 8, seq: 1, firstSeenMs: T0 + 1000, lastSeenMs: T0 + 1000, fw: undefined, state: undefined },
          { node: "b", readings: 2, gaps: 2, duplicates: 0, reboots: 0, boot: 1, seq: 4, firstSeenMs: T0 + 1000, lastSeenMs: T0 + 4000, fw: undefined, state: undefined },
        ]);
      });

      test("the fleet's per-minute averages, minima and maxima, duplicates not counted twice", 4, async (store) => {
        const at = (node: string, seq: number, minute: number, temperature: number, vdd?: number): ReadingRecord =>
          reading(node, 1, seq, { timeMs: T0 + minute * MINUTE + seq, values: vdd === undefined ? { temperature } : { temperature, vdd } });
        await store.write(batch({ readings: [at("a", 1, 0, 10), at("b", 1, 0, 20, 3.0), at("a", 2, 1, 30)] }));
        await store.write(batch({ readings: [at("b", 1, 0, 20, 3.0), at("b", 2, 0, 40)] }));
        const minutes = await store.fleetMinutes(T0, T0 + 10 * MINUTE);
        expect(minutes.map((m) => [m.minuteMs - T0, m.readings])).toEqual([
          [0, 3],
          [MINUTE, 1],
        ]);
        expect(minutes[0].avg.temperature).toBeCloseTo(70 / 3, 9);
        expect([minutes[0].min.temperature, minutes[0].max.temperature, minutes[0].avg.vdd, minutes[0].avg.humidity]).toEqual([10, 40, 3.0, null]);
        expect(minutes[1].avg.temperature).toBe(30);
      });
    });

    describe("the console's queries", () => {
      test("a node's history: per bucket the count and each sensor's average, minimum, maximum, that node only", 5, async (store) => {
        // Node a: one reading a second for 10 s (temperature 1…10); node b in the same seconds.
        const rows = Array.from({ length: 10 }, (_, i) => reading("a", 1, i + 1, { timeMs: T0 + i * 1000, values: { temperature: i + 1, vdd: i < 5 ? 3.0 : 3.2 } }));
        await store.write(batch({ readings: [...rows, reading("b", 1, 1, { timeMs: T0, values: { temperature: 99 } })] }));
        const h = await store.nodeHistory({ node: "a", fromMs: T0, toMs: T0 + 10_000, points: 2 });
        expect([h.source, h.bucketMs, h.t.map((t) => t - T0), h.n]).toEqual(["readings", 5000, [0, 5000], [5, 5]]);
        expect([h.avg.temperature, h.min.temperature, h.max.temperature]).toEqual([[3, 8], [1, 6], [5, 10]]);
        expect([h.avg.vdd[1], h.avg.humidity, h.avg.adc]).toEqual([3.2, [null, null], [null, null]]);
        // Over two days the buckets are whole minutes, from node_minutes: the same readings, the same numbers.
        const long = await store.nodeHistory({ node: "a", fromMs: T0 - 86_400_000, toMs: T0 + 86_400_000, points: 100 });
        expect([long.source, long.bucketMs % MINUTE, long.n.reduce((a, b) => a + b, 0), long.min.temperature[0], long.max.temperature[0]]).toEqual(["minutes", 0, 10, 1, 10]);
        expect((await store.nodeHistory({ node: "nobody", fromMs: T0, toMs: T0 + 10_000, points: 10 })).t).toEqual([]);
      });

      test("a duplicate stored once counts once in the node's minutes", 1, async (store) => {
        await store.write(batch({ readings: [reading("a", 1, 1, { timeMs: T0 })] }));
        await store.write(batch({ readings: [reading("a", 1, 1, { timeMs: T0 }), reading("a", 1, 2, { timeMs: T0 + 1000 })] }));
        const long = await store.nodeHistory({ node: "a", fromMs: T0 - 86_400_000, toMs: T0 + 86_400_000, points: 10 });
        expect(long.n).toEqual([2]);
      });

      test("a node's events and acks in a range, the last `limit` of them in time order; each node's last applied config", 3, async (store) => {
        const message = (node: string, kind: MessageRecord["kind"], code: string, at: number, body: Record<string, unknown> = {}): MessageRecord => ({ node, kind, code, body: { id: node, ...body }, timeMs: T0 + at });
        await store.write(
          batch({
            messages: [
              message("a", "event", "sensor_read_failed", 1000),
              message("a", "ack", "applied", 2000, { config: { interval_ms: 1000 } }),
              message("a", "ack", "rejected", 3000, { errors: [] }),
              message("a", "event", "sensor_recovered", 4000),
              message("b", "ack", "applied", 2500, { config: { interval_ms: 5000 } }),
              message("b", "ack", "applied", 1500, { config: { interval_ms: 2000 } }),
            ],
          }),
        );
        const got = await store.nodeMessages({ node: "a", fromMs: T0, toMs: T0 + 4000, limit: 2 });
        expect(got.map((m) => [m.timeMs - T0, m.kind, m.code])).toEqual([
          [2000, "ack", "applied"],
          [3000, "ack", "rejected"],
        ]);
        expect(got[0].body).toEqual({ id: "a", config: { interval_ms: 1000 } });
        expect((await store.lastConfigs()).map((c) => [c.node, c.timeMs - T0, c.config])).toEqual([
          ["a", 2000, { interval_ms: 1000 }],
          ["b", 2500, { interval_ms: 5000 }],
        ]);
      });
    });

    describe("the broker's drop counts", () => {
      test("one row per collector client id, the last count of a batch and of later batches wins", 2, async (store) => {
        const drops = (client: string, dropped: number, at: number) => ({ client, dropped, brokerCount: dropped, queueLimit: 50, lastDropMs: T0 + at, seenMs: T0 + at + 1 });
        await store.write(batch({ drops: [drops("a", 10, 1000), drops("a", 12, 2000), drops("b", 1, 3000)] }));
        expect(await store.brokerDrops()).toEqual([drops("a", 12, 2000), drops("b", 1, 3000)]);
        await store.write(batch({ drops: [drops("a", 70, 4000)] }));
        expect((await store.brokerDrops()).map((d) => [d.client, d.dropped, d.lastDropMs - T0])).toEqual([
          ["a", 70, 4000],
          ["b", 1, 3000],
        ]);
      });
    });

    describe("retention", () => {
      test("prune deletes what is older than the limit and keeps the rest and the counters", 3, async (store) => {
        await store.write(batch({ readings: [reading("n", 1, 1, { timeMs: T0 }), reading("n", 1, 2, { timeMs: T0 + 2 * MINUTE })] }));
        const result = await store.prune(T0 + MINUTE);
        expect(result).toEqual({ readings: 1, minutes: 1, messages: 0 });
        expect((await all(store)).map((r) => r.seq)).toEqual([2]);
        expect(await summaryOf(store, "n")).toMatchObject({ readings: 2 });
      });
    });
  });
}
