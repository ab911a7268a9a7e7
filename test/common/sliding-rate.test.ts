import { describe, expect, it } from "vitest";
import { RATE_WINDOW_MS, SlidingRate } from "../../common/sliding-rate";

describe("SlidingRate", () => {
  it("counts events per second over the window, from the second event on", () => {
    const r = new SlidingRate();
    expect(r.rate(0)).toBe(0);
    r.event(0);
    expect(r.rate(500)).toBe(0);
    r.event(1000);
    expect(r.rate(1500)).toBeCloseTo(1, 5);
    for (let t = 2000; t <= 30_000; t += 1000) {
      r.event(t);
    }
    expect(r.rate(30_400)).toBeCloseTo(1, 5);
  });

  it("reads a sampled counter the same way: unchanged reads add nothing, bursts average out", () => {
    const r = new SlidingRate();
    let total = 0;
    const seen: string[] = [];
    for (let t = 0; t < 40_000; t += 1000) {
      if (t % 4000 === 0) {
        total += 20; // 20 at once every 4 s: 5/s
      }
      r.total(t + 100, total);
      if (t >= 8000) {
        seen.push(r.rate(t + 100).toFixed(2));
      }
    }
    expect(new Set(seen)).toEqual(new Set(["5.00"]));
  });

  it("decays when the events stop and reads 0 after the window and three intervals", () => {
    const r = new SlidingRate();
    for (let t = 0; t <= 10_000; t += 500) {
      r.event(t);
    }
    expect(r.rate(10_000)).toBeCloseTo(2, 5);
    const later = [11_000, 13_000, 16_000].map((t) => r.rate(t));
    expect(later[0]).toBeLessThan(2);
    expect(later[1]).toBeLessThan(later[0] as number);
    expect(later[2]).toBeLessThan(later[1] as number);
    expect(r.rate(10_000 + RATE_WINDOW_MS + 1)).toBe(0);
  });

  it("starts again when a counter goes back (a restarted source)", () => {
    const r = new SlidingRate();
    r.total(0, 100);
    r.total(1000, 110);
    expect(r.rate(1000)).toBeCloseTo(10, 5);
    r.total(2000, 3);
    expect(r.rate(2000)).toBe(0);
    r.total(3000, 8);
    expect(r.rate(3000)).toBeCloseTo(5, 5);
  });
});
