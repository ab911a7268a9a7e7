/**
 * Per-node files in a directory, laid out like the device's file system:
 * `<state-dir>/<node-id>/config.json`, `<state-dir>/<node-id>/boot.txt`.
 *
 * Writes are write-behind: the node sees its write at once (reads are served
 * from the pending copy), and the disk follows a moment later, each file
 * replaced atomically (temp file + rename, like firmware/nodemcu).
 * Why: one disk write costs ~40 µs of CPU (~300 µs through fs/promises), so
 * writing synchronously inside a fleet-wide config_change to 10,000 nodes
 * would hold up every acknowledgement by about half a second. Deferring the
 * writes by COMMIT_DELAY_MS moves them out of that burst and merges repeated
 * writes of one file. `flush()` is awaited on a clean shutdown, so a config
 * acknowledged as applied is on disk when the simulator exits.
 */
import { mkdir, readFileSync, rename, rm, writeFile } from "node:fs";
import { dirname, join } from "node:path";

/** Files are private to the user: a node's config holds the MQTT password, as on the device. */
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
/** Disk writes in flight at once: enough to keep a disk busy, few enough to leave CPU to the nodes. */
const WRITE_CONCURRENCY = 2;
/** How long a write waits before it goes to disk. */
export const COMMIT_DELAY_MS = 1000;

/** The simple file system the Platform exposes: one node's directory. */
export interface NodeFiles {
  read(name: string): string | undefined;
  /** False when the write is known to fail (an earlier write of this store failed, or a fault was injected). */
  write(name: string, contents: string): boolean;
}

export class NodeStorage {
  /** Latest contents per path not yet on disk. */
  private readonly pending = new Map<string, string>();
  /** Paths waiting for their turn, oldest first; a path appears once however often it is written. */
  private queue: string[] = [];
  private queueHead = 0;
  private active = 0;
  private commitTimer: NodeJS.Timeout | undefined = undefined;
  private flushing = false;
  private idleWaiters: (() => void)[] = [];
  private failure: string | undefined = undefined;
  /** Paths whose writes fail on purpose (fault injection: a full file system). */
  private readonly refused = new Set<string>();
  writesDone = 0;
  writeErrors = 0;

  constructor(
    readonly root: string,
    private readonly onError: (text: string) => void = () => undefined,
  ) {}

  /** The file view of one node (its directory is made at its first write). */
  forNode(nodeId: string): NodeFiles {
    if (!/^[A-Za-z0-9._-]+$/.test(nodeId) || nodeId.startsWith(".")) {
      throw new Error(`node id "${nodeId}" cannot name a directory; use letters, digits, ".", "_" and "-"`);
    }
    return new NodeDirectory(this, join(this.root, nodeId));
  }

  /** Make every later write of `nodeId`'s `name` fail (fault injection: a full file system). */
  refuseWrites(nodeId: string, name: string, refuse: boolean): void {
    const path = join(this.root, nodeId, name);
    if (refuse) {
      this.refused.add(path);
    } else {
      this.refused.delete(path);
    }
  }

  /** Writes not yet on disk. */
  pendingWrites(): number {
    return this.pending.size;
  }

  read(path: string): string | undefined {
    const pending = this.pending.get(path);
    if (pending !== undefined) {
      return pending;
    }
    try {
      return readFileSync(path, "utf8");
    } catch {
      return undefined;
    }
  }

  write(path: string, contents: string): boolean {
    if (this.failure !== undefined || this.refused.has(path)) {
      return false;
    }
    if (!this.pending.has(path)) {
      this.queue.push(path);
    }
    this.pending.set(path, contents);
    if (this.flushing) {
      this.pump();
    } else {
      this.commitTimer ??= setTimeout(() => this.commit(), COMMIT_DELAY_MS);
    }
    return true;
  }

  /** Resolves when everything written so far is on disk. */
  flush(): Promise<void> {
    this.commit();
    if (this.active === 0 && this.pending.size === 0) {
      return Promise.resolve();
    }
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Delete every node's files (`--fresh`). */
  static wipe(root: string): Promise<void> {
    return new Promise((resolve, reject) => rm(root, { recursive: true, force: true }, (error) => (error !== null ? reject(error) : resolve())));
  }

  private commit(): void {
    if (this.commitTimer !== undefined) {
      clearTimeout(this.commitTimer);
      this.commitTimer = undefined;
    }
    this.flushing = true;
    this.pump();
  }

  private pump(): void {
    while (this.active < WRITE_CONCURRENCY && this.queueHead < this.queue.length) {
      const path = this.queue[this.queueHead++];
      const contents = this.pending.get(path);
      if (contents !== undefined) {
        this.active++;
        this.writeAtomically(path, contents, true);
      }
    }
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
    }
    if (this.active === 0 && this.pending.size === 0) {
      this.flushing = false;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) {
        resolve();
      }
    }
  }

  /** Temp file, then rename over the old one; makes the node's directory on first use. */
  private writeAtomically(path: string, contents: string, mayMakeDir: boolean): void {
    const temp = path + ".new";
    writeFile(temp, contents, { mode: FILE_MODE }, (error) => {
      if (error !== null && error.code === "ENOENT" && mayMakeDir) {
        mkdir(dirname(path), { recursive: true, mode: DIR_MODE }, (mkdirError) => {
          if (mkdirError !== null) {
            this.written(path, contents, mkdirError);
          } else {
            this.writeAtomically(path, contents, false);
          }
        });
        return;
      }
      if (error !== null) {
        this.written(path, contents, error);
        return;
      }
      rename(temp, path, (renameError) => this.written(path, contents, renameError));
    });
  }

  private written(path: string, contents: string, error: NodeJS.ErrnoException | null): void {
    this.active--;
    if (error !== null) {
      // Later writes report false to the node, as a full flash would on the device.
      this.failure = error.message;
      this.writeErrors++;
      this.onError(`cannot write ${path}: ${error.message}; check free space and permissions of ${this.root}`);
    } else {
      this.writesDone++;
    }
    // A newer write of the same path may have arrived meanwhile: then it is queued again.
    if (this.pending.get(path) === contents || error !== null) {
      this.pending.delete(path);
    } else if (this.pending.has(path)) {
      this.queue.push(path);
    }
    this.pump();
  }
}

/** One node's directory. A class, not a pair of closures: at 19,000 nodes every per-node byte counts. */
class NodeDirectory implements NodeFiles {
  constructor(
    private readonly storage: NodeStorage,
    private readonly dir: string,
  ) {}

  read(name: string): string | undefined {
    return this.storage.read(join(this.dir, name));
  }

  write(name: string, contents: string): boolean {
    return this.storage.write(join(this.dir, name), contents);
  }
}
