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
 * ack). The price is about 0.5 ms per write on an SSD; nothing is written
 * behind, because nothing the core writes may be lost (the contract
 * promises both files).
 *
 * The fleet's nodes write through the group commit instead (writeGrouped,
 * issue 14): the same steps, but the fsyncs of every file written in one
 * turn of the event loop are done together at its end, and the node's
 * platform holds back what the node publishes until its write is on disk.
 * A config change to 10,000 nodes then no longer waits for 10,000 fsyncs
 * one after the other on the event loop.
 *
 * On a file system that lives in RAM (tmpfs, ramfs: `/dev/shm`, where the
 * benchmark keeps its nodes' files), the page cache is the storage: an
 * fsync there cannot make anything more durable (a power cut loses the
 * whole file system either way), so writes there skip the file's and the
 * folder's fsync and keep only what protects against `kill -9` mid-write,
 * the temp file and the rename (whole when the rename returns, and a
 * rename is atomic). Such a write is durable against everything its file
 * system survives as soon as it returns, so those nodes write with write()
 * and the group commit is not offered (nothing would be waited for: the
 * ack goes out at once, with no held publish). The mode is decided once
 * per NodeStorage from statfs(2) of the state folder (see ramBacked()).
 *
 * Folders are made one level at a time, never with `mkdir -p` semantics:
 * Node's recursive mkdir spins forever on paths like /proc/xyz (issue 15,
 * defect 9). `prepare()` checks the state directory once, before any node
 * starts, so a bad `--state-dir` is one clear error instead of one per node.
 */
import { close, closeSync, fsync, fsyncSync, mkdirSync, open, openSync, readFileSync, rename, renameSync, rm, statSync, statfsSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

/** Files are private to the user: a node's config holds the MQTT password, as on the device. */
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
/** writeFileSync's options for a node's file (one object for every write). */
const UTF8_FILE = { encoding: "utf8", mode: FILE_MODE } as const;

/** Told when a write of the group commit is on disk (`ok`), or could not be made durable. */
export interface CommitWaiter {
  committed(ok: boolean): void;
}

/** The simple file system the Platform exposes: one node's directory. */
export interface NodeFiles {
  read(name: string): string | undefined;
  /** True once the file is durable (fsynced; in RAM, renamed into place: see the header); false when it could not be written (or a fault was injected). */
  write(name: string, contents: string): boolean;
  /**
   * The group commit: false at once when the file cannot be written (a full
   * disk, a fault injected); true when it is written and on its way to disk,
   * and then `waiter.committed(ok)` follows, from the event loop, once it is
   * durable (ok) or could not be made so. Reads see it at once. Hosts that
   * do not offer it (a test double) make the platform use write().
   */
  writeGrouped?(name: string, contents: string, waiter: CommitWaiter): boolean;
}

/**
 * One file of the group commit. Its temp file holds `contents` (open as
 * `fd` until the commit, or -1); writes of the same file while it is being
 * committed wait in `next` (only the newest matters on disk: it holds every
 * change before it) for one more round.
 */
class PendingFile {
  next: string | undefined = undefined;
  nextWaiters: CommitWaiter[] = [];

  constructor(
    readonly path: string,
    public contents: string,
    public waiters: CommitWaiter[],
    public fd: number,
  ) {}
}

/**
 * Commits on the event loop tell how fast the file system is: when the
 * quickest of the last PROBES took less than this (a RAM-backed one, where
 * fsync costs nothing), files are committed at once, on the event loop,
 * which is cheaper there than a thread-pool round trip per step; otherwise
 * (a disk) off the event loop, concurrently. The quickest, not the last: on
 * a busy machine one commit may be slow only because the process was not
 * running. While committing off the event loop, one batch in PROBE_EVERY
 * commits its first file on the event loop again, to follow a change.
 */
const INLINE_COMMIT_MS = 0.3;
const PROBES = 8;
const PROBE_EVERY = 64;
/** Temp files kept open from their write to their commit at most (each node also holds a socket). */
const MAX_OPEN_TEMPS = 512;

/** statfs(2) f_type of the file systems that live in RAM (linux/magic.h): TMPFS_MAGIC, RAMFS_MAGIC. */
const RAM_FILE_SYSTEMS: readonly number[] = [0x01021994, 0x858458f6];

/**
 * Does `dir` (or, while it does not exist yet, its nearest existing parent)
 * live in RAM? False when statfs cannot tell (another OS, an error): then
 * every write is fsynced, the safe side. A file system mounted later below
 * the existing parent is not seen: the state folder is made at the start.
 */
export function ramBacked(dir: string): boolean {
  let at = resolve(dir);
  for (;;) {
    try {
      // (>>> 0: the magic numbers are unsigned 32-bit; some platforms report f_type signed.)
      return RAM_FILE_SYSTEMS.includes(statfsSync(at).type >>> 0);
    } catch (error) {
      const parent = dirname(at);
      const code = (error as NodeJS.ErrnoException).code;
      if (parent === at || (code !== "ENOENT" && code !== "ENOTDIR")) {
        return false;
      }
      at = parent;
    }
  }
}

export class NodeStorage {
  /** Paths whose writes fail on purpose (fault injection: a full file system). */
  private readonly refused = new Set<string>();
  writesDone = 0;
  writeErrors = 0;
  /** Files of the group commit not yet durable, by path. */
  private readonly pending = new Map<string, PendingFile>();
  /** Written (temp file) in this turn of the event loop, to be committed together at its end. */
  private batch: PendingFile[] = [];
  /** Resolvers of flush(), called when nothing is pending any more. */
  private idle: (() => void)[] = [];
  /** Temp files open now (PendingFile.fd). */
  private openTemps = 0;
  /** Durations (ms) of the last PROBES commits on the event loop, a ring; 0 until measured. */
  private readonly probes = new Float64Array(PROBES);
  private probeAt = 0;
  /** What the probes say: commit on the event loop (a fast file system), or off it. */
  private inlineCommits = true;
  private batches = 0;
  /** The state folder lives in RAM (ramBacked()): no fsyncs, no group commit; undefined until the first node asks. */
  private inRam: boolean | undefined = undefined;

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

  /**
   * Whether this storage's writes skip the fsyncs (its folder lives in RAM,
   * see the header), decided at the first call (of this or forNode) and
   * kept: every node of a fleet writes the same way.
   */
  ramBacked(): boolean {
    return (this.inRam ??= ramBacked(this.root));
  }

  /**
   * The file view of one node (its directory is made at its first write):
   * with the group commit on a disk; without it in RAM, where write() is as
   * cheap as the group commit's first step and durable when it returns.
   */
  forNode(nodeId: string): NodeFiles {
    if (!/^[A-Za-z0-9._-]+$/.test(nodeId) || nodeId.startsWith(".")) {
      throw new Error(`node id "${nodeId}" cannot name a directory; use letters, digits, ".", "_" and "-"`);
    }
    return this.ramBacked() ? new NodeDirectory(this, nodeId) : new GroupedNodeDirectory(this, nodeId);
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

  /** Writes of the group commit not yet on disk (write() is durable when it returns). */
  pendingWrites(): number {
    return this.pending.size;
  }

  read(path: string): string | undefined {
    // A write of the group commit is visible at once, as on a file system.
    const pending = this.pending.get(path);
    if (pending !== undefined) {
      return pending.next ?? pending.contents;
    }
    try {
      return readFileSync(path, "utf8");
    } catch {
      return undefined;
    }
  }

  /**
   * Durable when it returns. Not for a file with a grouped write pending
   * (both use its temp file): the fleet writes a node's config.json here
   * only before the node starts (node-config-seed.ts), and grouped after.
   */
  write(path: string, contents: string): boolean {
    if (this.refused.has(path)) {
      return false;
    }
    const sync = !this.ramBacked();
    try {
      try {
        writeDurably(path, contents, sync);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
          throw error;
        }
        // The node's first write: make its folder (and the state folder, if someone removed it), then again.
        makeDirs(dirname(path), sync);
        writeDurably(path, contents, sync);
      }
      this.writesDone++;
      return true;
    } catch (error) {
      this.writeErrors++;
      this.onError(`cannot write ${path}: ${(error as Error).message}; check free space and permissions of ${this.root}`);
      return false;
    }
  }

  /**
   * The group commit's write (NodeFiles.writeGrouped): the temp file is
   * written now, so a full disk or a refused write says no at once, as
   * write() does; fsync, rename and the folder's fsync follow off the event
   * loop (libuv's thread pool), for every file written in this turn of the
   * event loop together. A node's platform holds back what it publishes
   * after the write (a config change's ack, readings of a new boot) until
   * the waiter hears ok: the same promise as write(), "on disk before
   * anyone is told", at a fraction of the cost when many nodes write at
   * once (a config change to every node): the event loop no longer waits
   * ~0.5-1 ms per file for the disk, and concurrent fsyncs share the file
   * system's journal commits.
   */
  writeGrouped(path: string, contents: string, waiter: CommitWaiter): boolean {
    if (this.refused.has(path)) {
      return false;
    }
    const pending = this.pending.get(path);
    if (pending !== undefined) {
      // Being committed: this newer text goes in the next round (the temp file may be in use now).
      pending.next = contents;
      pending.nextWaiters.push(waiter);
      return true;
    }
    const fd = this.writeTemp(path, contents);
    if (fd === undefined) {
      return false;
    }
    this.stage(new PendingFile(path, contents, [waiter], fd));
    return true;
  }

  /** Resolves when everything written so far is on disk (the group commit's writes included). */
  flush(): Promise<void> {
    if (this.pending.size === 0) {
      return Promise.resolve();
    }
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /**
   * The temp file of a grouped write (not yet fsynced): its descriptor, kept
   * open for the commit's fsync (-1 when too many are open already), or
   * undefined, reported and counted, when it cannot be written.
   */
  private writeTemp(path: string, contents: string): number | undefined {
    const temp = path + ".new";
    let fd = -1;
    try {
      try {
        fd = openSync(temp, "w", FILE_MODE);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
          throw error;
        }
        // The node's first write: make its folder (and the state folder, if someone removed it), then again.
        makeDirs(dirname(path));
        fd = openSync(temp, "w", FILE_MODE);
      }
      writeFileSync(fd, contents);
      if (this.openTemps >= MAX_OPEN_TEMPS) {
        closeSync(fd);
        return -1;
      }
      this.openTemps++;
      return fd;
    } catch (error) {
      if (fd >= 0) {
        closeQuiet(fd);
      }
      this.writeErrors++;
      this.onError(`cannot write ${path}: ${(error as Error).message}; check free space and permissions of ${this.root}`);
      return undefined;
    }
  }

  private stage(file: PendingFile): void {
    this.pending.set(file.path, file);
    this.batch.push(file);
    if (this.batch.length === 1) {
      // At the end of this turn of the event loop: every file the nodes wrote in it, together.
      setImmediate(commitBatch, this);
    }
  }

  /** The temp file's descriptor, handed over to the commit (which closes it), or -1. */
  private takeFd(file: PendingFile): number {
    const fd = file.fd;
    if (fd >= 0) {
      file.fd = -1;
      this.openTemps--;
    }
    return fd;
  }

  /** Record one commit's duration on the event loop; true when the next ones should be committed there too. */
  private probed(ms: number): boolean {
    this.probes[this.probeAt] = ms;
    this.probeAt = (this.probeAt + 1) % PROBES;
    let quickest = ms;
    for (const p of this.probes) {
      // (0: not measured yet.)
      if (p > 0 && p < quickest) {
        quickest = p;
      }
    }
    this.inlineCommits = quickest < INLINE_COMMIT_MS;
    return this.inlineCommits;
  }

  /** Commit the files written in the turn that just ended (see INLINE_COMMIT_MS). */
  commitBatch(): void {
    const batch = this.batch;
    this.batch = [];
    // On a disk, only one batch in PROBE_EVERY waits for one fsync on the event loop.
    let inline = this.inlineCommits || this.batches++ % PROBE_EVERY === 0;
    for (const file of batch) {
      if (this.refused.has(file.path)) {
        // Fault injection: the disk fails this file between its write and its fsync.
        const fd = this.takeFd(file);
        if (fd >= 0) {
          closeQuiet(fd);
        }
        unlinkQuiet(file.path + ".new");
        this.committed(file, Object.assign(new Error("refused (fault injection)"), { code: "EIO" }));
        continue;
      }
      if (!inline) {
        commitFile(file.path, this.takeFd(file), (error) => this.committed(file, error));
        continue;
      }
      const started = performance.now();
      let failure: NodeJS.ErrnoException | null = null;
      try {
        commitFileSync(file.path, this.takeFd(file));
      } catch (error) {
        failure = error as NodeJS.ErrnoException;
      }
      inline = this.probed(performance.now() - started);
      this.committed(file, failure);
    }
  }

  private committed(file: PendingFile, error: NodeJS.ErrnoException | null): void {
    let ok = error === null;
    if (!ok && !this.refused.has(file.path)) {
      // One more try, the slow way (temp, fsync, rename, folder fsync, here and now), before saying no.
      try {
        writeDurably(file.path, file.contents);
        ok = true;
      } catch (again) {
        this.onError(`cannot write ${file.path}: ${(again as Error).message}; check free space and permissions of ${this.root}`);
      }
    }
    if (ok) {
      this.writesDone++;
    } else {
      this.writeErrors++;
    }
    const next = file.next;
    const nextWaiters = file.nextWaiters;
    this.pending.delete(file.path);
    if (next !== undefined) {
      const fd = this.writeTemp(file.path, next);
      if (fd !== undefined) {
        this.stage(new PendingFile(file.path, next, nextWaiters, fd));
      } else {
        for (const waiter of nextWaiters) {
          waiter.committed(false);
        }
      }
    }
    for (const waiter of file.waiters) {
      waiter.committed(ok);
    }
    if (this.pending.size === 0 && this.idle.length > 0) {
      const idle = this.idle;
      this.idle = [];
      for (const resolve of idle) {
        resolve();
      }
    }
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

/** setImmediate's callback: the storage as an argument, no closure per batch. */
function commitBatch(storage: NodeStorage): void {
  storage.commitBatch();
}

/**
 * The rest of writeDurably for a temp file already written, off the event
 * loop: fsync it, rename it over the old file, fsync the folder. `fd` is the
 * temp file open for writing (closed here), or -1 to open it again. Calls
 * `done` once, with the first error or null.
 */
function commitFile(path: string, fd: number, done: (error: NodeJS.ErrnoException | null) => void): void {
  const temp = path + ".new";
  if (fd < 0) {
    open(temp, "r+", (openError, opened) => (openError !== null ? done(openError) : commitFile(path, opened, done)));
    return;
  }
  fsync(fd, (syncError) => {
    close(fd, (closeError) => {
      const error = syncError ?? closeError;
      if (error !== null) {
        done(error);
        return;
      }
      rename(temp, path, (renameError) => {
        if (renameError !== null) {
          done(renameError);
          return;
        }
        fsyncDirAsync(dirname(path), done);
      });
    });
  });
}

/** commitFile here and now, on the event loop; throws the first error. */
function commitFileSync(path: string, fd: number): void {
  const temp = path + ".new";
  const open = fd >= 0 ? fd : openSync(temp, "r+");
  try {
    fsyncSync(open);
  } finally {
    closeSync(open);
  }
  renameSync(temp, path);
  fsyncDir(dirname(path));
}

function closeQuiet(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already failing: the first error is the one reported
  }
}

/** fsyncDir off the event loop; a folder the OS cannot fsync is skipped, as there. */
function fsyncDirAsync(dir: string, done: (error: NodeJS.ErrnoException | null) => void): void {
  open(dir, "r", (openError, fd) => {
    if (openError !== null) {
      done(null);
      return;
    }
    fsync(fd, (syncError) => {
      close(fd, () => {
        done(syncError === null || folderCannotSync(syncError) ? null : syncError);
      });
    });
  });
}

/**
 * Temp file, fsync, rename over the old one, fsync the folder: on disk,
 * whole, when this returns. Without `sync` (a file system in RAM, where an
 * fsync makes nothing more durable) only the temp file and the rename: the
 * old or the new text, whole, whenever the process is killed.
 */
function writeDurably(path: string, contents: string, sync = true): void {
  const temp = path + ".new";
  if (!sync) {
    // One call (open, write, close in C++: Node takes that path only when the options name utf8), then the rename.
    writeFileSync(temp, contents, UTF8_FILE);
    renameSync(temp, path);
    return;
  }
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

/** The errors of an OS or file system that cannot fsync a folder at all (not a failed sync): skipped. */
function folderCannotSync(error: NodeJS.ErrnoException): boolean {
  const code = error.code;
  return code === "EPERM" || code === "EISDIR" || code === "EINVAL" || code === "EBADF";
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
    if (!folderCannotSync(error as NodeJS.ErrnoException)) {
      throw error;
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * `mkdir -p` one level at a time, each new folder fsynced into its parent
 * (unless `sync` is false: a file system in RAM). Throws a plain Error
 * naming the first level that is not a folder or cannot be made.
 */
export function makeDirs(dir: string, sync = true): void {
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
    if (sync) {
      fsyncDir(dirname(level));
    }
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
 * anyway): at 19,000 nodes every per-node byte counts. This one has no
 * group commit (a state folder in RAM); GroupedNodeDirectory has.
 */
class NodeDirectory implements NodeFiles {
  constructor(
    protected readonly storage: NodeStorage,
    protected readonly nodeId: string,
  ) {}

  read(name: string): string | undefined {
    return this.storage.read(join(this.storage.root, this.nodeId, name));
  }

  write(name: string, contents: string): boolean {
    return this.storage.write(join(this.storage.root, this.nodeId, name), contents);
  }
}

/** A node's directory on a disk: its writes after the start go through the group commit. */
class GroupedNodeDirectory extends NodeDirectory {
  writeGrouped(name: string, contents: string, waiter: CommitWaiter): boolean {
    return this.storage.writeGrouped(join(this.storage.root, this.nodeId, name), contents, waiter);
  }
}
