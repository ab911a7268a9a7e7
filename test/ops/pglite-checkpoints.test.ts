/**
 * PGlite runs no checkpoint by itself (a single-user backend): the
 * collector's driver does (ops/collect/pglite-checkpoints.ts). A real PGlite
 * on a folder, written through the driver's transactions: the checkpoint's
 * redo point moves and old WAL segments go; without the policy neither
 * happens (the reason it exists).
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { afterAll, describe, expect, it } from "vitest";
import { PGLITE_MAX_WAL_SIZE, pgliteDriver } from "../../ops/collect/pglite-store";
import { PgliteCheckpoints } from "../../ops/collect/pglite-checkpoints";

const root = mkdtempSync(join(tmpdir(), "espfleet-checkpoints-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Each test's own database (initdb: a few seconds). */
async function open(name: string): Promise<{ db: PGlite; dir: string }> {
  const dir = join(root, name);
  const db = await PGlite.create({ dataDir: dir, postgresqlconf: [`max_wal_size = ${PGLITE_MAX_WAL_SIZE}`, "min_wal_size = 32MB"] });
  await db.exec("CREATE TABLE t (a int, b text)");
  return { db, dir };
}

async function redo(db: PGlite): Promise<string> {
  const { rows } = await db.query<{ redo: string }>("SELECT redo_lsn::text AS redo FROM pg_control_checkpoint()");
  return rows[0].redo;
}

const segments = (dir: string): number => readdirSync(join(dir, "pg_wal")).filter((f) => /^[0-9A-F]{24}$/.test(f)).length;

const INSERT = "INSERT INTO t SELECT g, repeat('x', 200) FROM generate_series(1, 4000) g";

describe("PGlite checkpoints", () => {
  it("once the WAL since the last checkpoint passes the policy's size, a checkpoint runs and the old WAL goes", async () => {
    const { db, dir } = await open("policy");
    const checkpoints = new PgliteCheckpoints(db, { walBytes: 16 * 1024 * 1024, everyMs: 3_600_000, lookEveryMs: 0 });
    const before = await redo(db);
    for (let i = 0; i < 60; i++) {
      await db.transaction((tx) => tx.query(INSERT));
      checkpoints.afterCommit();
      await checkpoints.settled();
    }
    const after = await redo(db);
    const wal = segments(dir);
    await db.close();
    expect(checkpoints.counts.failures).toBe(0);
    // ~1 MB of WAL per transaction: a checkpoint about every 16.
    expect(checkpoints.counts.checkpoints).toBeGreaterThanOrEqual(2);
    expect(after).not.toBe(before);
    // ~60 MB written; what stays is bounded by max_wal_size (64 MB: 4 segments of 16 MB) and the current one.
    expect(wal).toBeLessThanOrEqual(6);
  });

  it("the collector's driver runs them after its commits", async () => {
    const { db } = await open("driver");
    const driver = pgliteDriver(db, "test", { walBytes: 8 * 1024 * 1024, everyMs: 3_600_000, lookEveryMs: 0 });
    const before = await redo(db);
    for (let i = 0; i < 30; i++) {
      await driver.transaction((s) => s.query(INSERT));
    }
    // The look after a commit is not awaited by it; poll for its effect.
    const deadline = performance.now() + 10_000;
    let after = await redo(db);
    while (after === before && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      after = await redo(db);
    }
    await driver.close();
    expect(after).not.toBe(before);
  });

  it("PGlite alone runs none: the redo point stays at the creation while the WAL grows", async () => {
    const { db, dir } = await open("without");
    const before = await redo(db);
    for (let i = 0; i < 60; i++) {
      await db.transaction((tx) => tx.query(INSERT));
    }
    const after = await redo(db);
    const wal = segments(dir);
    await db.close();
    expect(after).toBe(before);
    expect(wal).toBeGreaterThan(3);
  });
});
