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
import { SqlStore, type SqlDriver, type SqlResult, type SqlSession } from "./sql-store";

/** Smaller than PostgreSQL's 1 GB: checkpoints come sooner, so the folder stays small and a restart replays little WAL. */
export const PGLITE_MAX_WAL_SIZE = "64MB";

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

export function pgliteDriver(db: PGlite, description: string): SqlDriver {
  const plain = session(db);
  return {
    description,
    query: (text, params) => plain.query(text, params),
    async exec(script) {
      await db.exec(script);
    },
    transaction: (fn) => db.transaction((tx) => fn(session(tx))),
    close: () => db.close(),
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
      postgresqlconf: [`max_wal_size = ${PGLITE_MAX_WAL_SIZE}`, "min_wal_size = 32MB"],
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
