import { describe, expect, it } from "vitest";
import { nodeId, nodeNumber, parseShard, shardRange, splitRange } from "../../simulator/node-ids";

describe("node ids and shards (simulator/node-ids.ts)", () => {
  it("names nodes node-0001 … and reads the number back", () => {
    expect(nodeId(1)).toBe("node-0001");
    expect(nodeId(9999)).toBe("node-9999");
    expect(nodeId(19000)).toBe("node-19000");
    expect(nodeNumber("node-0042")).toBe(42);
    expect(nodeNumber("sensor-1")).toBeUndefined();
  });

  it("parses K/N and refuses anything else", () => {
    expect(parseShard("2/4")).toEqual({ ok: true, value: { index: 2, count: 4 } });
    expect(parseShard("0/4").ok).toBe(false);
    expect(parseShard("5/4").ok).toBe(false);
    expect(parseShard("two").ok).toBe(false);
  });

  it("gives every node of the fleet to exactly one shard", () => {
    for (const [total, shards] of [
      [10, 3],
      [19000, 4],
      [5, 5],
      [7, 2],
    ]) {
      const seen: number[] = [];
      for (let k = 1; k <= shards; k++) {
        const { first, count } = shardRange(total, { index: k, count: shards });
        for (let n = first; n < first + count; n++) {
          seen.push(n);
        }
      }
      expect(seen).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    }
  });

  it("splits a range over workers without gaps or overlaps", () => {
    expect(splitRange(11, 10, 3)).toEqual([
      { first: 11, count: 3 },
      { first: 14, count: 3 },
      { first: 17, count: 4 },
    ]);
    expect(splitRange(1, 2, 4)).toEqual([
      { first: 1, count: 1 },
      { first: 2, count: 1 },
    ]);
  });
});
