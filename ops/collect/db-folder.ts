/**
 * The embedded database's folder (`--db`, default `.espfleet/db`):
 *
 *   pgdata/         PGlite's data folder (PostgreSQL's files)
 *   lock            {"pid","role","socket","since"}: who has the database open
 *   collector.sock  while a collector runs: where `espfleet query` asks it
 *
 * PGlite is PostgreSQL in one process, with no server to share it: two
 * processes opening the same pgdata would corrupt it. So whoever opens it
 * takes the lock first (created exclusively; a lock whose process is gone is
 * stale and taken over). A query that finds a collector holding it asks the
 * collector over its socket instead (control-socket.ts).
 */
import { createHash } from "node:crypto";
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const DEFAULT_DB_DIR = join(".espfleet", "db");

export interface DbFolder {
  dir: string;
  pgdata: string;
  lockFile: string;
  /** Unix socket of a running collector (in os.tmpdir() when the folder's path is too long for one). */
  socketPath: string;
}

export interface LockHolder {
  pid: number;
  role: "collect" | "query";
  /** Where the collector answers queries. */
  socket?: string;
  since: string;
}

/** Unix socket paths are limited to about 104-108 bytes. */
const MAX_SOCKET_PATH = 100;

export function dbFolder(dir: string): DbFolder {
  const abs = resolve(dir);
  let socketPath = join(abs, "collector.sock");
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
    socketPath = join(tmpdir(), `espfleet-${createHash("sha256").update(abs).digest("hex").slice(0, 16)}.sock`);
  }
  return { dir: abs, pgdata: join(abs, "pgdata"), lockFile: join(abs, "lock"), socketPath };
}

/** Is a process with this id alive (ours or another user's)? */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

export function readLock(folder: DbFolder): LockHolder | undefined {
  try {
    const holder = JSON.parse(readFileSync(folder.lockFile, "utf8")) as LockHolder;
    return typeof holder.pid === "number" ? holder : undefined;
  } catch {
    return undefined;
  }
}

export type LockAttempt = { ok: true; release: () => void } | { ok: false; holder: LockHolder };

/** Take the folder's lock, or say who holds it. A lock left by a dead process is taken over. */
export function tryLock(folder: DbFolder, role: LockHolder["role"]): LockAttempt {
  mkdirSync(folder.dir, { recursive: true });
  const mine: LockHolder = { pid: process.pid, role, ...(role === "collect" ? { socket: folder.socketPath } : {}), since: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(folder.lockFile, "wx", 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") {
        throw error;
      }
      const holder = readLock(folder);
      if (holder !== undefined && holder.pid !== process.pid && processAlive(holder.pid)) {
        return { ok: false, holder };
      }
      if (holder === undefined && justCreated(folder.lockFile)) {
        // Another process is between creating and writing it.
        return { ok: false, holder: { pid: 0, role: "query", since: "" } };
      }
      // Stale (its process died, e.g. killed), or half-written: take it over.
      rmSync(folder.lockFile, { force: true });
      continue;
    }
    writeSync(fd, JSON.stringify(mine) + "\n");
    closeSync(fd);
    return {
      ok: true,
      release: () => {
        if (readLock(folder)?.pid === process.pid) {
          rmSync(folder.lockFile, { force: true });
        }
      },
    };
  }
  const holder = readLock(folder);
  return { ok: false, holder: holder ?? { pid: 0, role: "query", since: "" } };
}

function justCreated(file: string): boolean {
  try {
    return Date.now() - statSync(file).mtimeMs < 2000;
  } catch {
    return false;
  }
}
