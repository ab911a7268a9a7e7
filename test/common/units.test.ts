import { describe, expect, it } from "vitest";
import { formatDuration, parseCount, parseDuration, parseRate } from "../../common/units";

describe("human units (common/units.ts)", () => {
  it("parses durations to milliseconds", () => {
    expect(parseDuration("500ms")).toEqual({ ok: true, value: 500 });
    expect(parseDuration("2s")).toEqual({ ok: true, value: 2000 });
    expect(parseDuration("1.5s")).toEqual({ ok: true, value: 1500 });
    expect(parseDuration("1m")).toEqual({ ok: true, value: 60_000 });
    expect(parseDuration("1m30s")).toEqual({ ok: true, value: 90_000 });
    expect(parseDuration("2h")).toEqual({ ok: true, value: 7_200_000 });
    expect(parseDuration("1d")).toEqual({ ok: true, value: 86_400_000 });
    expect(parseDuration("0")).toEqual({ ok: true, value: 0 });
  });

  it("refuses bare numbers and junk, saying what to type", () => {
    const bare = parseDuration("2");
    expect(bare.ok).toBe(false);
    expect(!bare.ok && bare.error).toContain("2ms, 2s or 2m");
    expect(parseDuration("fast").ok).toBe(false);
    expect(parseDuration("2 s x").ok).toBe(false);
    expect(parseDuration("").ok).toBe(false);
    expect(parseDuration("-1s").ok).toBe(false);
  });

  it("formats durations back in the shortest exact spelling", () => {
    expect(formatDuration(250)).toBe("250ms");
    expect(formatDuration(1500)).toBe("1.5s");
    expect(formatDuration(10_000)).toBe("10s");
    expect(formatDuration(90_000)).toBe("1m30s");
    expect(formatDuration(3_600_000)).toBe("1h");
  });

  it("parses rates and counts", () => {
    expect(parseRate("500/s", "r")).toEqual({ ok: true, value: 500 });
    expect(parseRate("600/m", "r")).toEqual({ ok: true, value: 10 });
    expect(parseRate("20", "r")).toEqual({ ok: true, value: 20 });
    expect(parseRate("0/s", "r").ok).toBe(false);
    expect(parseCount("10", "n", 1, 100)).toEqual({ ok: true, value: 10 });
    expect(parseCount("1.5", "n", 1, 100).ok).toBe(false);
    expect(parseCount("0", "n", 1, 100).ok).toBe(false);
  });
});
