/**
 * The store in a worker thread (ops/collect/store-worker.ts,
 * pglite-worker-store.ts): errors cross with their message and code, opening
 * progress is told, close ends the thread and lets go of the folder, and a
 * worker that dies fails the write waiting for it and every later call (so
 * the collector acknowledges nothing that was not committed).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPgliteStore } from "../../ops/collect/pglite-store";
import { openPgliteWorkerStore } from "../../ops/collect/pglite-worker-store";
import { emptyBatch, type ReadingRecord } from "../../ops/collect/store";
import { openStoreInWorker } from "../../ops/collect/store-worker";

const reading = (node: string, boot: number, seq: number): ReadingRecord => ({
  node,
  boot,
  seq,
  timeMs: Date.now(),
  up: seq,
  ts: null,
  values: { temperature: 21.5 },
  extra: null,
  gap: 0,
  reboot: false,
  fillsGap: false,
});

let template: Blob;
let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "espfleet-store-worker-"));
  const db = await PGlite.create();
  template = await db.dumpDataDir("none");
  await db.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("PGlite in a worker thread", () => {
  it("answers as the store in this thread does, and a database error reaches the caller with its message and SQLSTATE", async () => {
    const store = await openPgliteWorkerStore({ loadDataDir: template, description: "PGlite for the test" });
    try {
      expect(store.description).toBe("PGlite for the test");
      const stored = await store.write({ ...emptyBatch(), readings: [reading("node-1", 1, 1), reading("node-1", 1, 2)] });
      expect(stored).toEqual({ stored: 2, duplicates: 0, notStored: [] });
      // Sent again with a new one: the database's backstop finds the first two, and says which.
      const again = await store.write({ ...emptyBatch(), readings: [reading("node-1", 1, 1), reading("node-1", 1, 2), reading("node-1", 1, 3)] });
      expect(again).toEqual({ stored: 1, duplicates: 2, notStored: [0, 1] });
      // boot beyond PostgreSQL's integer: the INSERT fails in the worker.
      const failed = await store.write({ ...emptyBatch(), readings: [reading("node-1", 2 ** 40, 3)] }).then(
        () => undefined,
        (error: unknown) => error as Error & { code?: string },
      );
      expect(failed).toBeInstanceOf(Error);
      expect(failed?.message).toMatch(/out of range for type integer/);
      expect(failed?.code).toBe("22003");
      // The failed transaction left nothing behind, and the store goes on.
      expect((await store.summary()).map((s) => [s.node, s.readings, s.seq])).toEqual([["node-1", 3, 3]]);
      expect(await store.positions()).toEqual([{ node: "node-1", boot: 1, seq: 3 }]);
    } finally {
      await store.close();
    }
    await expect(store.summary()).rejects.toThrow(/closed/);
  });

  it("tells the first open's progress, and close lets go of the folder", { timeout: 60_000 }, async () => {
    const dataDir = join(dir, "pgdata");
    const lines: string[] = [];
    const store = await openPgliteWorkerStore({ dataDir, progress: (line) => lines.push(line) });
    expect(lines[0]).toMatch(/^creating the database in .*pgdata/);
    expect(lines.at(-1)).toMatch(/^database created in [\d.]+ s$/);
    await store.write({ ...emptyBatch(), readings: [reading("node-7", 1, 1)] });
    await store.close();
    // Only one process (thread) may have a folder open: this open works because the worker's PGlite closed.
    const again = await openPgliteStore({ dataDir });
    try {
      expect((await again.summary()).map((s) => s.node)).toEqual(["node-7"]);
    } finally {
      await again.close();
    }
  });

  it("a failed open rejects with the worker's error", async () => {
    await expect(openPgliteWorkerStore({ loadDataDir: new Blob([new Uint8Array([1, 2, 3])]) })).rejects.toThrow();
  });
});

describe("a store worker that dies", () => {
  it("fails the write it died in and every call after it, with why; close still returns", async () => {
    const lines: string[] = [];
    const store = await openStoreInWorker({
      entry: new URL("./support/dying-store-worker.js", import.meta.url),
      workerData: { exitCode: 7 },
      progress: (line) => lines.push(line),
      name: "the test's store worker",
    });
    expect(lines).toEqual(["opening the stand-in"]);
    expect(store.description).toBe("a stand-in store");
    expect(await store.summary()).toBeNull();
    await expect(store.write(emptyBatch())).rejects.toThrow("the test's store worker stopped (exit code 7); nothing further is committed");
    await expect(store.summary()).rejects.toThrow(/stopped \(exit code 7\)/);
    // The collector stops on this (collect-command.ts): nothing more can be committed.
    expect((await store.lost)?.message).toBe("the test's store worker stopped (exit code 7); nothing further is committed");
    await store.close();
  });

  it("a store closed on purpose is not lost", async () => {
    const store = await openStoreInWorker({ entry: new URL("./support/dying-store-worker.js", import.meta.url), workerData: { exitCode: 7 }, name: "the test's store worker" });
    await store.close();
    const outcome = await Promise.race([store.lost?.then(() => "lost"), new Promise((r) => setTimeout(() => r("not lost"), 300))]);
    expect(outcome).toBe("not lost");
  });
});
