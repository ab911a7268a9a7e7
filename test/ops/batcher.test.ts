/**
 * Group commit (ops/collect/batcher.ts): acks only after the commit and in
 * order, what arrives during a commit goes in the next, a failed commit is
 * retried and acknowledges nothing until it succeeds, backpressure; and the
 * pipeline: the next commit starts before the last one's acks, never two
 * commits at once.
 */
import { describe, expect, it } from "vitest";
import { Batcher } from "../../ops/collect/batcher";

const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

function gate(): { promise: Promise<void>; open: () => void } {
  let open: () => void = () => undefined;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

describe("Batcher", () => {
  it("acknowledges nothing before its transaction is committed, then all of it in arrival order", async () => {
    const commits: number[][] = [];
    const acks: number[] = [];
    const g = gate();
    const b = new Batcher<number>({ commit: async (items) => { commits.push(items); await g.promise; }, maxBatch: 100, maxPending: 100, retryMinMs: 1, retryMaxMs: 1 });
    for (let i = 1; i <= 3; i++) b.add(i, () => acks.push(i));
    await tick(5);
    expect(commits).toEqual([[1, 2, 3]]);
    expect(acks).toEqual([]);
    g.open();
    await tick(5);
    expect(acks).toEqual([1, 2, 3]);
    expect(b.waiting).toBe(0);
  });

  it("what arrives during a commit goes into the next transaction; --batch caps a transaction", async () => {
    const commits: number[][] = [];
    let g = gate();
    const b = new Batcher<number>({ commit: async (items) => { commits.push(items); await g.promise; }, maxBatch: 2, maxPending: 100, retryMinMs: 1, retryMaxMs: 1 });
    b.add(1, () => undefined);
    await tick(2);
    for (let i = 2; i <= 6; i++) b.add(i, () => undefined);
    const first = g;
    g = { promise: Promise.resolve(), open: () => undefined };
    first.open();
    await tick(10);
    expect(commits).toEqual([[1], [2, 3], [4, 5], [6]]);
  });

  it("a failed commit is retried with the same items, doubling the pause, and nothing is acknowledged until it succeeds", async () => {
    let failures = 2;
    const tries: number[][] = [];
    const delays: number[] = [];
    const acks: number[] = [];
    let recovered = 0;
    const b = new Batcher<number>({
      commit: async (items) => {
        tries.push(items);
        if (failures-- > 0) throw new Error("connection refused");
      },
      maxBatch: 10,
      maxPending: 100,
      retryMinMs: 5,
      retryMaxMs: 8,
      onRetry: (_e, _attempt, delay) => {
        delays.push(delay);
        expect(acks).toEqual([]);
      },
      onRecovered: (_ms, attempts) => (recovered = attempts),
    });
    b.add(1, () => acks.push(1));
    b.add(2, () => acks.push(2));
    await tick(60);
    expect(tries).toEqual([[1, 2], [1, 2], [1, 2]]);
    expect(delays).toEqual([5, 8]);
    expect(acks).toEqual([1, 2]);
    expect(recovered).toBe(2);
  });

  it("says there is no room once maxPending wait, and when there is again", async () => {
    const g = gate();
    const b = new Batcher<number>({ commit: () => g.promise, maxBatch: 10, maxPending: 3, retryMinMs: 1, retryMaxMs: 1 });
    for (let i = 0; i < 3; i++) b.add(i, () => undefined);
    expect(b.hasRoom()).toBe(false);
    let room = false;
    void b.whenRoom().then(() => (room = true));
    await tick(5);
    expect(room).toBe(false);
    g.open();
    await tick(5);
    expect(room).toBe(true);
  });

  it("drain gives up after its timeout while the database is down, leaving the items unacknowledged", async () => {
    const acks: number[] = [];
    const b = new Batcher<number>({ commit: () => Promise.reject(new Error("down")), maxBatch: 10, maxPending: 10, retryMinMs: 5, retryMaxMs: 5 });
    b.add(1, () => acks.push(1));
    expect(await b.drain(30)).toBe(false);
    expect(acks).toEqual([]);
    expect(b.waiting).toBe(1);
  });

  it("pipelines: the next transaction starts before the previous one's acks, never two commits at once, each ack after its own commit", async () => {
    const events: string[] = [];
    let committing = 0;
    let most = 0;
    const gates: { open: () => void }[] = [];
    const committed = new Set<number>();
    const b = new Batcher<number, number>({
      commit: async (items) => {
        committing++;
        most = Math.max(most, committing);
        events.push(`commit ${items.join(",")}`);
        const g = gate();
        gates.push(g);
        await g.promise;
        for (const i of items) committed.add(i);
        committing--;
        return items.length;
      },
      maxBatch: 3,
      maxPending: 100,
      retryMinMs: 1,
      retryMaxMs: 1,
      onCommitted: (items, _at, result) => events.push(`counted ${result} of ${items.length}`),
    });
    const add = (i: number): void =>
      b.add(i, () => {
        // An ack for an item whose transaction has not finished would be a PUBACK for something not stored.
        expect(committed.has(i)).toBe(true);
        events.push(`ack ${i}`);
      });
    add(1);
    await tick(2);
    for (let i = 2; i <= 7; i++) add(i);
    for (let round = 0; round < 4; round++) {
      await tick(2);
      // Items keep arriving while a commit runs.
      add(10 + round);
      gates.shift()?.open();
    }
    await tick(5);
    while (gates.length > 0) {
      gates.shift()?.open();
      await tick(2);
    }
    expect(most).toBe(1);
    expect(events.slice(0, 8)).toEqual(["commit 1", "commit 2,3,4", "ack 1", "counted 1 of 1", "commit 5,6,7", "ack 2", "ack 3", "ack 4"]);
    expect(events.filter((e) => e.startsWith("ack")).map((e) => Number(e.slice(4)))).toEqual([1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13]);
    expect(b.waiting).toBe(0);
  });

  it("reads ahead one transaction while commits succeed, up to maxPending while they fail", async () => {
    let g = gate();
    let fail = false;
    const b = new Batcher<number>({
      commit: async () => {
        const mine = g;
        await mine.promise;
        if (fail) throw new Error("down");
      },
      maxBatch: 2,
      maxPending: 6,
      retryMinMs: 1000,
      retryMaxMs: 1000,
    });
    b.add(1, () => undefined);
    await tick(2);
    // 1 commits; 2 and 3 would be the next transaction: no room for more yet.
    b.add(2, () => undefined);
    expect(b.hasRoom()).toBe(true);
    b.add(3, () => undefined);
    expect(b.hasRoom()).toBe(false);
    let room = false;
    void b.whenRoom().then(() => (room = true));
    await tick(2);
    expect(room).toBe(false);
    // 1 committed: 2 and 3 are taken, so the subscriber may read on.
    const first = g;
    g = gate();
    first.open();
    await tick(2);
    expect(room).toBe(true);
    expect(b.hasRoom()).toBe(true);
    // The commit of 2, 3 fails: what arrives is kept, up to maxPending (6 waiting).
    fail = true;
    const second = g;
    g = gate();
    second.open();
    await tick(2);
    expect(b.failing).toBe(true);
    for (let i = 4; i <= 7; i++) {
      expect(b.hasRoom()).toBe(true);
      b.add(i, () => undefined);
    }
    expect(b.waiting).toBe(6);
    expect(b.hasRoom()).toBe(false);
    expect(await b.drain(1)).toBe(false);
  });

  it("a commit that runs long (a slow or blocked database) lets the subscriber read on up to maxPending", async () => {
    const g = gate();
    const b = new Batcher<number>({ commit: () => g.promise, maxBatch: 2, maxPending: 5, slowCommitMs: 30, retryMinMs: 1, retryMaxMs: 1 });
    b.add(1, () => undefined);
    await tick(2);
    b.add(2, () => undefined);
    b.add(3, () => undefined);
    expect(b.hasRoom()).toBe(false);
    let room = false;
    void b.whenRoom().then(() => (room = true));
    // Not before the commit has run slowCommitMs; then up to maxPending (5 waiting).
    expect(room).toBe(false);
    await tick(80);
    expect(room).toBe(true);
    b.add(4, () => undefined);
    b.add(5, () => undefined);
    expect(b.hasRoom()).toBe(false);
    g.open();
    expect(await b.drain(1000)).toBe(true);
  });
});
