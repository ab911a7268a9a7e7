/**
 * The collector's pipeline over a store whose writes the test holds
 * (ops/collect/collector.ts with batcher.ts): messages keep arriving while a
 * transaction commits and go into the next one; never two writes at once;
 * a PUBACK only after the write holding its message resolved; a write that
 * fails (a dead store worker) acknowledges nothing.
 */
import { describe, expect, it } from "vitest";
import { operatorTopics } from "../../broker/topics";
import { Collector } from "../../ops/collect/collector";
import type { Batch, Store, WriteResult } from "../../ops/collect/store";

const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A store whose write() waits for the test: `release()` settles the oldest write still waiting. */
function heldStore(): { store: Store; writes: Batch[]; release: (error?: Error) => void; most: () => number } {
  const writes: Batch[] = [];
  const waiting: { resolve: (r: WriteResult) => void; reject: (e: Error) => void; batch: Batch }[] = [];
  let open = 0;
  let most = 0;
  const never = (): Promise<never> => Promise.reject(new Error("not used"));
  const store: Store = {
    description: "a held store",
    positions: async () => [],
    brokerDrops: async () => [],
    write: (batch) => {
      open++;
      most = Math.max(most, open);
      writes.push(batch);
      return new Promise((resolve, reject) => waiting.push({ resolve, reject, batch }));
    },
    readings: never,
    summary: never,
    fleetMinutes: never,
    nodeHistory: never,
    nodeMessages: never,
    lastConfigs: never,
    prune: never,
    close: async () => undefined,
  };
  const release = (error?: Error): void => {
    const w = waiting.shift();
    open--;
    if (error !== undefined) {
      w?.reject(error);
    } else {
      w?.resolve({ stored: w.batch.readings.length, duplicates: 0, notStored: [] });
    }
  };
  return { store, writes, release, most: () => most };
}

const payload = (seq: number): Buffer => Buffer.from(JSON.stringify({ id: "node-0001", seq, boot: 1, up: seq, temperature: 20 }));

describe("the collector's pipeline", () => {
  it("fills the next batch while one commits, one write at a time, each PUBACK after its own commit", async () => {
    const held = heldStore();
    const collector = await Collector.create({ store: held.store, topics: operatorTopics("p"), maxBatch: 100, maxPending: 1000, retryMinMs: 10, retryMaxMs: 10, log: () => undefined });
    const acked: number[] = [];
    const committed = new Set<number>();
    const receive = (seq: number): void =>
      collector.receive("p/sensor_data", payload(seq), () => {
        expect(committed.has(seq)).toBe(true);
        acked.push(seq);
      });
    receive(1);
    await tick(5);
    expect(held.writes.map((b) => b.readings.map((r) => r.seq))).toEqual([[1]]);
    for (let seq = 2; seq <= 5; seq++) receive(seq);
    await tick(5);
    // Still one write: the next batch waits for the first to commit.
    expect(held.writes).toHaveLength(1);
    expect(acked).toEqual([]);
    committed.add(1);
    held.release();
    await tick(5);
    expect(acked).toEqual([1]);
    expect(held.writes.map((b) => b.readings.map((r) => r.seq))).toEqual([[1], [2, 3, 4, 5]]);
    receive(6);
    for (const seq of [2, 3, 4, 5]) committed.add(seq);
    held.release();
    await tick(5);
    expect(acked).toEqual([1, 2, 3, 4, 5]);
    committed.add(6);
    held.release();
    await tick(5);
    expect(acked).toEqual([1, 2, 3, 4, 5, 6]);
    expect(held.most()).toBe(1);
    expect(collector.stats.totals.stored).toBe(6);
    expect(collector.waiting).toBe(0);
  });

  it("a write that fails (the store's worker died) acknowledges nothing, and says so", async () => {
    const held = heldStore();
    const log: string[] = [];
    const collector = await Collector.create({ store: held.store, topics: operatorTopics("p"), maxBatch: 100, maxPending: 1000, retryMinMs: 1000, retryMaxMs: 1000, log: (l) => log.push(l) });
    const acked: number[] = [];
    for (let seq = 1; seq <= 3; seq++) collector.receive("p/sensor_data", payload(seq), () => acked.push(seq));
    await tick(5);
    held.release(new Error("the PGlite worker thread stopped (exit code 1); nothing further is committed"));
    await tick(5);
    expect(acked).toEqual([]);
    expect(collector.waiting).toBe(3);
    expect(log[0]).toMatch(/^database error \(a held store\): the PGlite worker thread stopped \(exit code 1\).*3 messages wait uncommitted and unacknowledged/);
    expect(await collector.drain(20)).toBe(false);
    expect(acked).toEqual([]);
  });
});
