/**
 * The embedded store: PGlite (PostgreSQL compiled to WebAssembly) in this
 * process, its files in a folder (default `.espfleet/db/pgdata`), or in
 * memory. PGlite runs with fsync off (its `-F` start option): every commit
 * reaches the operating system, so a killed process loses nothing committed,
 * but a power cut or an OS crash can lose the last seconds or damage the
 * folder (README "Collector"). One process at a time may open a folder:
 * db-folder.ts holds the lock. Creating a folder runs initdb, which takes
 * 6-14 s on a small machine: `progress` is told every 2 s.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { PGlite, type Results, type Transaction } from "@electric-sql/pglite";
import { COLLECT_DEBUG, debugLine } from "./debug-timing";
import { type CheckpointPolicy, DEFAULT_CHECKPOINT_POLICY, PgliteCheckpoints } from "./pglite-checkpoints";
import { SqlStore, type SqlDriver, type SqlResult, type SqlSession } from "./sql-store";

/**
 * How much WAL a checkpoint keeps for reuse (smaller than PostgreSQL's 1 GB,
 * so the folder stays small). It does not start checkpoints in PGlite, a
 * single-user backend: the collector runs them (pglite-checkpoints.ts).
 */
export const PGLITE_MAX_WAL_SIZE = "64MB";

/**
 * New WAL segments are not filled with zeroes first (wal_init_zero off).
 * Between checkpoints (pglite-checkpoints.ts) every 16 MB of WAL is a new
 * file, and zero-filling it was 16 MB of synchronous writes in the
 * thread that commits: at 10,000 readings/s a new segment every ~2 s, each
 * 110-220 ms of writeSync stalling the transaction that needed it (and half
 * the bytes written). An unfilled segment reads as zeroes all the same
 * (holes), which is what recovery expects past the last record.
 */
const PGLITE_WAL_INIT_ZERO = "off";

export interface PgliteStoreOptions {
  /** The PGlite data folder; absent: in memory. */
  dataDir?: string;
  /** Start from a dump of another instance's folder (tests: skips initdb). */
  loadDataDir?: Blob | File;
  /** Told about a slow first open (elapsed ms), every 2 s. */
  progress?: (line: string) => void;
  /** For people, e.g. "PGlite in .espfleet/db". */
  description?: string;
}

const PROGRESS_EVERY_MS = 2000;

function result<T>(r: Results<T>): SqlResult<T> {
  return { rows: r.rows, rowCount: r.affectedRows ?? 0 };
}

function session(db: PGlite | Transaction): SqlSession {
  return {
    async query<T>(text: string, params?: unknown[]): Promise<SqlResult<T>> {
      return result(await db.query<T>(text, params));
    },
  };
}

/**
 * The SQL driver over one PGlite; its commits run the checkpoints nothing
 * else runs in PGlite (pglite-checkpoints.ts).
 */
export function pgliteDriver(db: PGlite, description: string, checkpointPolicy: CheckpointPolicy = DEFAULT_CHECKPOINT_POLICY): SqlDriver {
  const plain = session(db);
  const checkpoints = new PgliteCheckpoints(db, checkpointPolicy);
  const transact: SqlDriver["transaction"] = COLLECT_DEBUG ? timedTransaction(db) : (fn) => db.transaction((tx) => fn(session(tx)));
  return {
    description,
    query: (text, params) => plain.query(text, params),
    async exec(script) {
      await db.exec(script);
    },
    async transaction(fn) {
      const value = await transact(fn);
      checkpoints.afterCommit();
      return value;
    },
    async close() {
      await checkpoints.settled();
      await db.close();
    },
  };
}

/** A transaction that took this long is reported (ESPFLEET_COLLECT_DEBUG). */
const SLOW_TRANSACTION_MS = 250;

/**
 * ESPFLEET_COLLECT_DEBUG: transactions timed; a slow one is reported with
 * whether a checkpoint (pglite-checkpoints.ts, between transactions) ran
 * meanwhile.
 */
function timedTransaction(db: PGlite): SqlDriver["transaction"] {
  let checkpoint: string | undefined = undefined;
  const where = async (): Promise<string> => {
    const { rows } = await db.query<{ at: string; wal: string }>("SELECT checkpoint_time::text AS at, pg_current_wal_lsn()::text AS wal FROM pg_control_checkpoint()");
    return `checkpoint ${rows[0].at}, WAL at ${rows[0].wal}`;
  };
  let count = 0;
  let slowest = 0;
  return async (fn) => {
    checkpoint ??= await where();
    const started = performance.now();
    const value = await db.transaction((tx) => fn(session(tx)));
    const ms = performance.now() - started;
    count++;
    slowest = Math.max(slowest, ms);
    if (ms >= SLOW_TRANSACTION_MS) {
      const now = await where();
      debugLine(`PGlite: a transaction took ${ms.toFixed(0)} ms; ${now.split(",")[0] === checkpoint.split(",")[0] ? "no checkpoint" : "CHECKPOINTED"} (${now}; before: ${checkpoint})`);
      checkpoint = now;
    }
    if (count % 100 === 0) {
      debugLine(`PGlite: ${count} transactions, slowest of the last 100 ${slowest.toFixed(0)} ms; ${await where()}`);
      slowest = 0;
    }
    return value;
  };
}

/** Whether `dataDir` already holds a database (else the first open runs initdb). */
export function pgliteFolderExists(dataDir: string): boolean {
  return existsSync(join(dataDir, "PG_VERSION"));
}

export async function openPgliteStore(options: PgliteStoreOptions = {}): Promise<SqlStore> {
  const { dataDir, progress } = options;
  const creating = dataDir !== undefined && !pgliteFolderExists(dataDir) && options.loadDataDir === undefined;
  const started = Date.now();
  let ticker: NodeJS.Timeout | undefined = undefined;
  if (creating && progress !== undefined) {
    progress(`creating the database in ${dataDir} (first start only; takes 6-14 s)`);
    ticker = setInterval(() => progress(`  still creating the database… ${Math.round((Date.now() - started) / 1000)} s`), PROGRESS_EVERY_MS);
  }
  try {
    const db = await PGlite.create({
      ...(dataDir !== undefined ? { dataDir } : {}),
      ...(options.loadDataDir !== undefined ? { loadDataDir: options.loadDataDir } : {}),
      postgresqlconf: [`max_wal_size = ${PGLITE_MAX_WAL_SIZE}`, "min_wal_size = 32MB", `wal_init_zero = ${PGLITE_WAL_INIT_ZERO}`],
    });
    const store = await SqlStore.open(pgliteDriver(db, options.description ?? (dataDir !== undefined ? `PGlite in ${dataDir}` : "PGlite in memory")));
    if (creating && progress !== undefined) {
      progress(`database created in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
    return store;
  } finally {
    if (ticker !== undefined) {
      clearInterval(ticker);
    }
  }
}
