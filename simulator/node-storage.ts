/**
 * Per-node files in a directory, laid out like the device's file system:
 * `<state-dir>/<node-id>/config.json`, `<state-dir>/<node-id>/boot.txt`.
 *
 * Every write is durable before it returns (issue 15, defect 4): temp file,
 * fsync, rename over the old file, fsync of the folder (where the OS allows
 * a folder to be fsynced). The core acknowledges a config_change as applied
 * right after its writeFile returns true, and publishes readings carrying the
 * boot number it has just written, so "written" must mean "on disk": a
 * `kill -9` (or a power cut) after an `applied` ack must not lose the change,
 * and a restart must never reuse a boot number whose readings were published.
 * The firmware does the same on the device (file.open/write/close before the
 * ack). The price is about 0.5 ms per write on an SSD, paid by the node that
 * writes; nothing is written behind any more, because nothing the core
 * writes may be lost (the contract promises both files).
 *
 * Folders are made one level at a time, never with `mkdir -p` semantics:
 * Node's recursive mkdir spins forever on paths like /proc/xyz (issue 15,
 * defect 9). `prepare()` checks the state directory once, before any node
 * starts, so a bad `--state-dir` is one clear error instead of one per node.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rm, statSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

/** Files are private to the user: a node's config holds the MQTT password, as on the device. */
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

/** The simple file system the Platform exposes: one node's directory. */
export interface NodeFiles {
  read(name: string): string | undefined;
  /** True once the file is on disk (fsynced); false when it could not be written (or a fault was injected). */
  write(name: string, contents: string): boolean;
}

export class NodeStorage {
  /** Paths whose writes fail on purpose (fault injection: a full file system). */
  private readonly refused = new Set<string>();
  writesDone = 0;
  writeErrors = 0;

  constructor(
    readonly root: string,
    private readonly onError: (text: string) => void = () => undefined,
  ) {}

  /**
   * Make sure `root` is a folder this process can write to, creating it (and
   * missing parents) when needed; throws an Error saying what is wrong
   * otherwise. Call once before the nodes start.
   */
  static prepare(root: string): void {
    const dir = resolve(root);
    makeDirs(dir);
    const probe = join(dir, `.espfleet-probe-${process.pid}`);
    try {
      writeDurably(probe, "");
    } catch (error) {
      throw new Error(`cannot write in ${dir}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
    }
    unlinkQuiet(probe);
  }

  /** The file view of one node (its directory is made at its first write). */
  forNode(nodeId: string): NodeFiles {
    if (!/^[A-Za-z0-9._-]+$/.test(nodeId) || nodeId.startsWith(".")) {
      throw new Error(`node id "${nodeId}" cannot name a directory; use letters, digits, ".", "_" and "-"`);
    }
    return new NodeDirectory(this, nodeId);
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

  /** Writes not yet on disk: none, every write is durable when it returns (kept for callers that wait on it). */
  pendingWrites(): number {
    return 0;
  }

  read(path: string): string | undefined {
    try {
      return readFileSync(path, "utf8");
    } catch {
      return undefined;
    }
  }

  write(path: string, contents: string): boolean {
    if (this.refused.has(path)) {
      return false;
    }
    try {
      try {
        writeDurably(path, contents);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
          throw error;
        }
        // The node's first write: make its folder (and the state folder, if someone removed it), then again.
        makeDirs(dirname(path));
        writeDurably(path, contents);
      }
      this.writesDone++;
      return true;
    } catch (error) {
      this.writeErrors++;
      this.onError(`cannot write ${path}: ${(error as Error).message}; check free space and permissions of ${this.root}`);
      return false;
    }
  }

  /** Resolves when everything written so far is on disk: at once, as writes are durable when they return. */
  flush(): Promise<void> {
    return Promise.resolve();
  }

  /** Delete the whole state directory. */
  static wipe(root: string): Promise<void> {
    return new Promise((resolve, reject) => rm(root, { recursive: true, force: true }, (error) => (error !== null ? reject(error) : resolve())));
  }

  /**
   * Delete the folders of these nodes only (`--fresh`): never the state
   * directory itself, which may be shared with other shards or, by a slip
   * of the keyboard, be a folder holding other things (`--state-dir .`).
   */
  static async wipeNodes(root: string, ids: readonly string[]): Promise<void> {
    let next = 0;
    const one = (id: string): Promise<void> =>
      new Promise((resolve, reject) => rm(join(root, id), { recursive: true, force: true }, (error) => (error !== null ? reject(error) : resolve())));
    const lane = async (): Promise<void> => {
      while (next < ids.length) {
        await one(ids[next++]);
      }
    };
    await Promise.all(Array.from({ length: Math.min(16, ids.length) }, lane));
  }
}

/** Temp file, fsync, rename over the old one, fsync the folder: on disk, whole, when this returns. */
function writeDurably(path: string, contents: string): void {
  const temp = path + ".new";
  const fd = openSync(temp, "w", FILE_MODE);
  try {
    writeFileSync(fd, contents);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
  fsyncDir(dirname(path));
}

/** Make the rename (or a new entry) durable. Not every OS can fsync a folder (Windows); there it is skipped. */
function fsyncDir(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, "r");
  } catch {
    return;
  }
  try {
    fsyncSync(fd);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "EPERM" && code !== "EISDIR" && code !== "EINVAL" && code !== "EBADF") {
      throw error;
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * `mkdir -p` one level at a time, each new folder fsynced into its parent.
 * Throws a plain Error naming the first level that is not a folder or
 * cannot be made.
 */
export function makeDirs(dir: string): void {
  const missing: string[] = [];
  let at = resolve(dir);
  for (;;) {
    let isDir: boolean;
    try {
      isDir = statSync(at).isDirectory();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // ENOTDIR: some level above is a file; walking up finds and names it.
      if (code !== "ENOENT" && code !== "ENOTDIR") {
        throw new Error(`${at}: ${code ?? (error as Error).message}`, { cause: error });
      }
      const parent = dirname(at);
      if (parent === at) {
        throw new Error(`${at} does not exist`, { cause: error });
      }
      missing.push(at);
      at = parent;
      continue;
    }
    if (!isDir) {
      throw new Error(`${at} is a file, not a folder`);
    }
    break;
  }
  for (const level of missing.reverse()) {
    try {
      mkdirSync(level, { mode: DIR_MODE });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // Another node (or worker) may have made it a moment ago.
      if (code !== "EEXIST") {
        throw new Error(`cannot make ${level}: ${code ?? (error as Error).message}`, { cause: error });
      }
    }
    fsyncDir(dirname(level));
  }
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // a leftover probe file is harmless
  }
}

/**
 * One node's directory. A class, not a pair of closures, holding the node's
 * id rather than its directory's path (the id is the node's own string
 * anyway): at 19,000 nodes every per-node byte counts.
 */
class NodeDirectory implements NodeFiles {
  constructor(
    private readonly storage: NodeStorage,
    private readonly nodeId: string,
  ) {}

  read(name: string): string | undefined {
    return this.storage.read(join(this.storage.root, this.nodeId, name));
  }

  write(name: string, contents: string): boolean {
    return this.storage.write(join(this.storage.root, this.nodeId, name), contents);
  }
}
