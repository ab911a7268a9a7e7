/**
 * `--db` to a store: `postgres://…` (or `postgresql://…`) is a PostgreSQL
 * server through `pg`; anything else is the folder of the embedded PGlite
 * database, opened under its lock (db-folder.ts): for the collector in a
 * worker thread (pglite-worker-store.ts), for a query in this one. A query
 * finding a collector holding the folder reads through the collector instead.
 */
import { maskUrlPassword } from "../../common/secrets";
import { CliError } from "../../common/errors";
import { collectorSource, type QuerySource } from "./control-socket";
import { dbFolder, tryLock, type DbFolder, type LockHolder } from "./db-folder";
import { openPgStore } from "./pg-store";
import { openPgliteStore, type PgliteStoreOptions } from "./pglite-store";
import { openPgliteWorkerStore } from "./pglite-worker-store";
import type { Store } from "./store";

/** How long to wait for another process (a query) to let go of the embedded database. */
const LOCK_WAIT_MS = 30_000;

export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db);
}

export interface OpenedStore {
  store: Store;
  /** The embedded database's folder; undefined for PostgreSQL. */
  folder?: DbFolder;
  /** Close the store and give up the folder's lock. */
  close(): Promise<void>;
}

function explainOpenError(db: string, error: Error): CliError {
  const code = (error as Error & { code?: string }).code;
  const reason = code !== undefined && !error.message.includes(code) ? `${code} ${error.message}` : error.message;
  if (isPostgresUrl(db)) {
    const hint =
      code === "ECONNREFUSED"
        ? "is PostgreSQL running there? (or omit --db to use the embedded database)"
        : code === "28P01" || code === "28000"
          ? "check the user and password in --db"
          : code === "3D000"
            ? "create the database first (createdb), or name an existing one in --db"
            : "check --db";
    return new CliError(`cannot open the database ${maskUrlPassword(db)}: ${reason}; ${hint}`);
  }
  return new CliError(`cannot open the embedded database in ${db}: ${reason}`);
}

async function waitForLock(folder: DbFolder, role: LockHolder["role"], log: (line: string) => void): Promise<{ ok: true; release: () => void } | { ok: false; holder: LockHolder }> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  let told = false;
  for (;;) {
    const attempt = tryLock(folder, role);
    if (attempt.ok || attempt.holder.role === "collect" || Date.now() > deadline) {
      return attempt;
    }
    if (!told) {
      log(`the database in ${folder.dir} is open in another espfleet (pid ${attempt.holder.pid}); waiting for it`);
      told = true;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** For the collector: the store, with the embedded folder locked for this process. */
export async function openForCollect(db: string, log: (line: string) => void): Promise<OpenedStore> {
  if (isPostgresUrl(db)) {
    try {
      const store = await openPgStore({ url: db });
      return { store, close: () => store.close() };
    } catch (error) {
      throw explainOpenError(db, error as Error);
    }
  }
  const folder = dbFolder(db);
  const lock = await waitForLock(folder, "collect", log);
  if (!lock.ok) {
    throw new CliError(
      lock.holder.role === "collect"
        ? `another collector (pid ${lock.holder.pid}) is writing to ${db}; stop it first, or give this one another --db`
        : `the database in ${db} stayed open in another espfleet (pid ${lock.holder.pid}) for ${LOCK_WAIT_MS / 1000} s; try again when it is done`,
    );
  }
  const { store, close } = await openLockedPglite(db, folder, lock.release, log, openPgliteWorkerStore);
  return { store, folder, close };
}

/**
 * The embedded store in `folder`, whose lock this process holds: released
 * when the store closes, or when it cannot be opened. `open` is
 * openPgliteWorkerStore for the collector (its commits off the MQTT thread),
 * openPgliteStore for one-shot reads.
 */
async function openLockedPglite(
  db: string,
  folder: DbFolder,
  release: () => void,
  log: (line: string) => void,
  open: (options: PgliteStoreOptions) => Promise<Store>,
): Promise<{ store: Store; close: () => Promise<void> }> {
  try {
    const store = await open({ dataDir: folder.pgdata, description: `PGlite in ${db}`, progress: log });
    const close = async (): Promise<void> => {
      try {
        await store.close();
      } finally {
        release();
      }
    };
    return { store, close };
  } catch (error) {
    release();
    throw explainOpenError(db, error as Error);
  }
}

export interface OpenedSource {
  source: QuerySource;
  /** For people: where the answers come from. */
  via: string;
  close(): Promise<void>;
}

/** For queries: the store itself, or the collector that has the embedded database open. */
export async function openForQuery(db: string, log: (line: string) => void): Promise<OpenedSource> {
  if (isPostgresUrl(db)) {
    try {
      const store = await openPgStore({ url: db });
      return { source: store, via: store.description, close: () => store.close() };
    } catch (error) {
      throw explainOpenError(db, error as Error);
    }
  }
  const folder = dbFolder(db);
  const lock = await waitForLock(folder, "query", log);
  if (!lock.ok) {
    if (lock.holder.role === "collect" && lock.holder.socket !== undefined) {
      return { source: collectorSource(lock.holder.socket), via: `the collector (pid ${lock.holder.pid}) writing to ${db}`, close: async () => undefined };
    }
    throw new CliError(`the database in ${db} stayed open in another espfleet (pid ${lock.holder.pid}) for ${LOCK_WAIT_MS / 1000} s; try again when it is done`);
  }
  const { store, close } = await openLockedPglite(db, folder, lock.release, log, openPgliteStore);
  return { source: store, via: store.description, close };
}
