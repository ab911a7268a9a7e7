/** The collector's in-memory dedupe (ops/collect/dedupe.ts): each rule of the contract's (id, boot, seq). */
import { describe, expect, it } from "vitest";
import { DedupeTracker } from "../../ops/collect/dedupe";

const store = (gap = 0, reboot = false, fillsGap = false) => ({ kind: "store", gap, reboot, fillsGap });

describe("DedupeTracker", () => {
  it("the first reading of a node sets its position without a gap (earlier ones were before the collector listened)", () => {
    const t = new DedupeTracker();
    expect(t.classify("a", 3, 500)).toEqual(store());
    expect(t.position("a")).toEqual({ boot: 3, seq: 500 });
  });

  it("the same (boot, seq) again is a duplicate, kept out of the database", () => {
    const t = new DedupeTracker();
    t.classify("a", 1, 1);
    expect(t.classify("a", 1, 1)).toEqual({ kind: "duplicate" });
    expect(t.classify("b", 1, 1)).toEqual(store());
  });

  it("a jump in seq is a gap of the readings skipped", () => {
    const t = new DedupeTracker();
    t.classify("a", 1, 1);
    expect(t.classify("a", 1, 2)).toEqual(store(0));
    expect(t.classify("a", 1, 6)).toEqual(store(3));
    expect(t.position("a")).toEqual({ boot: 1, seq: 6 });
  });

  it("a new boot is a reboot; readings before its seq are missing from the new boot", () => {
    const t = new DedupeTracker();
    t.classify("a", 1, 40);
    expect(t.classify("a", 2, 1)).toEqual(store(0, true));
    expect(t.classify("a", 3, 4)).toEqual(store(3, true));
  });

  it("older readings go to the database to decide: a lower seq of this boot may fill a gap, an earlier boot does not", () => {
    const t = new DedupeTracker();
    t.classify("a", 2, 10);
    expect(t.classify("a", 2, 7)).toEqual(store(0, false, true));
    expect(t.classify("a", 1, 99)).toEqual(store(0, false, false));
    // Neither moves the position back.
    expect(t.position("a")).toEqual({ boot: 2, seq: 10 });
  });

  it("starts from the positions stored, so after a restart a redelivered last reading is a duplicate", () => {
    const t = new DedupeTracker([{ node: "a", boot: 4, seq: 17 }]);
    expect(t.nodes).toBe(1);
    expect(t.classify("a", 4, 17)).toEqual({ kind: "duplicate" });
    expect(t.classify("a", 4, 18)).toEqual(store(0));
  });
});
