import { spawn } from "node:child_process";
import * as fs from "node:fs";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it, vi } from "vitest";
import { makeDirs, NodeStorage, ramBacked } from "../../simulator/node-storage";

// fsyncSync counted (and still done): which writes sync, and which need not.
vi.mock("node:fs", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:fs")>();
  return { ...real, fsyncSync: vi.fn(real.fsyncSync) };
});

const root = () => join(mkdtempSync(join(tmpdir(), "espfleet-storage-")), "nodes");

/** A real tmpfs (Linux's /dev/shm) and a real disk folder (the repository's build folder, as the benchmark's --state-dir). */
const SHM = "/dev/shm";
const hasShm = process.platform === "linux" && existsSync(SHM);
const BUILD = fileURLToPath(new URL("../../build", import.meta.url));
const made: string[] = [];
afterAll(() => made.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
function folderIn(parent: string): string {
  mkdirSync(parent, { recursive: true });
  const dir = mkdtempSync(join(parent, "espfleet-storage-"));
  made.push(dir);
  return dir;
}

describe("per-node storage (simulator/node-storage.ts)", () => {
  it("has a write on disk when write() returns, in <dir>/<node-id>/<file>: nothing is written behind (issue 15)", () => {
    const dir = root();
    const storage = new NodeStorage(dir);
    const files = storage.forNode("node-0001");
    expect(files.read("config.json")).toBeUndefined();
    expect(files.write("config.json", '{"interval_ms":500}')).toBe(true);
    // No flush, no timer: the node acks right after this call, so the file must be there now.
    expect(readFileSync(join(dir, "node-0001", "config.json"), "utf8")).toBe('{"interval_ms":500}');
    expect(storage.pendingWrites()).toBe(0);
    expect(files.read("config.json")).toBe('{"interval_ms":500}');
    // Atomic replace: no temp file is left behind.
    expect(readdirSync(join(dir, "node-0001"))).toEqual(["config.json"]);
  });

  it("keeps the newest of several writes, and a new storage (a restart) reads it", () => {
    const dir = root();
    const storage = new NodeStorage(dir);
    const files = storage.forNode("node-0002");
    for (let i = 0; i < 20; i++) {
      files.write("config.json", `{"n":${i}}`);
    }
    expect(new NodeStorage(dir).forNode("node-0002").read("config.json")).toBe('{"n":19}');
    expect(storage.writesDone).toBe(20);
  });

  it("refuses writes on request (a full file system), and reports a disk error on the write that hit it", () => {
    const dir = root();
    const storage = new NodeStorage(dir);
    storage.refuseWrites("node-0003", "config.json", true);
    expect(storage.forNode("node-0003").write("config.json", "{}")).toBe(false);
    expect(storage.forNode("node-0003").write("boot.txt", "{}")).toBe(true);

    // A disk error (here: the state directory's parent is a file): false at once, reported, counted.
    const parent = mkdtempSync(join(tmpdir(), "espfleet-storage-"));
    writeFileSync(join(parent, "not-a-dir"), "");
    const errors: string[] = [];
    const broken = new NodeStorage(join(parent, "not-a-dir", "nodes"), (e) => errors.push(e));
    expect(broken.forNode("n").write("config.json", "{}")).toBe(false);
    expect(errors[0]).toMatch(/cannot write .*config\.json.*check free space and permissions/);
    expect(broken.writeErrors).toBe(1);
  });

  it("rejects node ids that would leave the state directory", () => {
    const storage = new NodeStorage(root());
    expect(() => storage.forNode("../etc")).toThrow(/cannot name a directory/);
    expect(() => storage.forNode(".hidden")).toThrow(/cannot name a directory/);
  });

  it("reads files written by someone else (a stored config from an earlier run)", () => {
    const dir = root();
    const storage = new NodeStorage(dir);
    storage.forNode("node-0004").write("x", "1");
    writeFileSync(join(dir, "node-0004", "config.json"), '{"interval_ms":700}');
    expect(new NodeStorage(dir).forNode("node-0004").read("config.json")).toBe('{"interval_ms":700}');
    expect(existsSync(join(dir, "node-0004", "x"))).toBe(true);
  });

  it("checks the state directory up front: made when missing, refused when a file or not makeable (issue 15)", () => {
    const dir = join(root(), "a", "b");
    NodeStorage.prepare(dir);
    expect(readdirSync(dir)).toEqual([]);
    const file = join(mkdtempSync(join(tmpdir(), "espfleet-storage-")), "plain");
    writeFileSync(file, "");
    expect(() => NodeStorage.prepare(file)).toThrow(/is a file, not a folder/);
    expect(() => NodeStorage.prepare(join(file, "nodes"))).toThrow(/is a file, not a folder/);
    // Node's recursive mkdir spins forever here; one level at a time fails at once.
    expect(() => makeDirs("/proc/espfleet-xyz/nodes")).toThrow(/cannot make \/proc/);
  });

  it("wipes only the folders of the nodes named (--fresh), never the state directory's other contents", async () => {
    const dir = root();
    const storage = new NodeStorage(dir);
    storage.forNode("node-0001").write("boot.txt", "{}");
    storage.forNode("node-0002").write("boot.txt", "{}");
    mkdirSync(join(dir, "keep"));
    await NodeStorage.wipeNodes(dir, ["node-0001", "node-0009"]);
    expect(readdirSync(dir).sort()).toEqual(["keep", "node-0002"]);
  });
});

describe("the group commit (NodeStorage.writeGrouped)", () => {
  /** A waiter that records what it heard, and what the file held on disk when it heard it. */
  function waiter(path: string) {
    const heard: { ok: boolean; onDisk: string | undefined }[] = [];
    return {
      heard,
      committed(ok: boolean) {
        heard.push({ ok, onDisk: existsSync(path) ? readFileSync(path, "utf8") : undefined });
      },
    };
  }

  it("says ok only once the file is on disk under its name, never from inside the call; reads see the write at once", async () => {
    const dir = root();
    const storage = new NodeStorage(dir);
    const files = storage.forNode("node-0001");
    const path = join(dir, "node-0001", "config.json");
    const w = waiter(path);
    expect(files.writeGrouped?.("config.json", '{"interval_ms":500}', w)).toBe(true);
    expect(w.heard).toEqual([]);
    expect(files.read("config.json")).toBe('{"interval_ms":500}');
    expect(storage.pendingWrites()).toBe(1);
    await storage.flush();
    expect(w.heard).toEqual([{ ok: true, onDisk: '{"interval_ms":500}' }]);
    expect(storage.pendingWrites()).toBe(0);
    expect(readdirSync(join(dir, "node-0001"))).toEqual(["config.json"]);
    expect(storage.writesDone).toBe(1);
  });

  it("commits many nodes' files of one turn together, each waiter told after its own file is on disk", async () => {
    const dir = root();
    const storage = new NodeStorage(dir);
    const waiters = Array.from({ length: 50 }, (_, i) => {
      const id = `node-${String(i + 1).padStart(4, "0")}`;
      const w = waiter(join(dir, id, "config.json"));
      expect(storage.forNode(id).writeGrouped?.("config.json", `{"n":${i}}`, w)).toBe(true);
      return w;
    });
    await storage.flush();
    waiters.forEach((w, i) => expect(w.heard).toEqual([{ ok: true, onDisk: `{"n":${i}}` }]));
  });

  it("writes of one file during its commit wait for the next round: the newest wins, every waiter hears ok after it is on disk", async () => {
    const dir = root();
    const storage = new NodeStorage(dir);
    const files = storage.forNode("node-0002");
    const path = join(dir, "node-0002", "config.json");
    const ws = [waiter(path), waiter(path), waiter(path)];
    ws.forEach((w, i) => expect(files.writeGrouped?.("config.json", `{"n":${i}}`, w)).toBe(true));
    expect(files.read("config.json")).toBe('{"n":2}');
    await storage.flush();
    expect(ws[0].heard[0].ok).toBe(true);
    // The later two were written while the first was being committed: they are on disk when told.
    expect(ws[1].heard).toEqual([{ ok: true, onDisk: '{"n":2}' }]);
    expect(ws[2].heard).toEqual([{ ok: true, onDisk: '{"n":2}' }]);
    expect(new NodeStorage(dir).forNode("node-0002").read("config.json")).toBe('{"n":2}');
  });

  it("a refused write is false at once; a disk that fails between the write and the fsync says not ok, and the old file stays", async () => {
    const dir = root();
    const storage = new NodeStorage(dir);
    const files = storage.forNode("node-0003");
    const path = join(dir, "node-0003", "config.json");
    expect(files.write("config.json", '{"n":"old"}')).toBe(true);
    storage.refuseWrites("node-0003", "config.json", true);
    expect(files.writeGrouped?.("config.json", '{"n":"new"}', waiter(path))).toBe(false);
    storage.refuseWrites("node-0003", "config.json", false);
    const w = waiter(path);
    expect(files.writeGrouped?.("config.json", '{"n":"new"}', w)).toBe(true);
    // Fails after the write returned true (fault injection at the commit).
    storage.refuseWrites("node-0003", "config.json", true);
    await storage.flush();
    expect(w.heard).toEqual([{ ok: false, onDisk: '{"n":"old"}' }]);
    expect(storage.writeErrors).toBe(1);
    expect(readdirSync(join(dir, "node-0003"))).toEqual(["config.json"]);
  });
});

describe.skipIf(!hasShm)("a state folder in RAM (tmpfs): no fsync, no group commit; temp file and rename kept", () => {
  it("tells a tmpfs folder from a disk folder, also before the folder exists (its nearest parent decides)", () => {
    const shm = folderIn(SHM);
    const disk = folderIn(BUILD);
    expect(ramBacked(shm)).toBe(true);
    expect(ramBacked(join(shm, "not", "yet"))).toBe(true);
    expect(ramBacked(disk)).toBe(false);
    expect(ramBacked(join(disk, "not", "yet"))).toBe(false);
    expect(new NodeStorage(join(shm, "nodes")).ramBacked()).toBe(true);
    expect(new NodeStorage(join(disk, "nodes")).ramBacked()).toBe(false);
  });

  it("in RAM, write() is whole and in place when it returns, with no fsync and no group commit; on a disk, both", () => {
    const fsync = vi.mocked(fs.fsyncSync);
    const ram = new NodeStorage(join(folderIn(SHM), "nodes"));
    const files = ram.forNode("node-0001");
    // The platform then writes with write(), and an ack goes out at once (test/simulator/node-platform.test.ts).
    expect(files.writeGrouped).toBeUndefined();
    fsync.mockClear();
    expect(files.write("config.json", '{"interval_ms":500}')).toBe(true);
    expect(files.write("config.json", '{"interval_ms":700}')).toBe(true);
    expect(fsync).not.toHaveBeenCalled();
    expect(readFileSync(join(ram.root, "node-0001", "config.json"), "utf8")).toBe('{"interval_ms":700}');
    expect(readdirSync(join(ram.root, "node-0001"))).toEqual(["config.json"]);
    expect(ram.writesDone).toBe(2);
    ram.refuseWrites("node-0001", "config.json", true);
    expect(files.write("config.json", "{}")).toBe(false);
    expect(files.read("config.json")).toBe('{"interval_ms":700}');

    const disk = new NodeStorage(join(folderIn(BUILD), "nodes"));
    expect(disk.forNode("node-0001").writeGrouped).toBeTypeOf("function");
    fsync.mockClear();
    expect(disk.forNode("node-0001").write("config.json", '{"interval_ms":500}')).toBe(true);
    // The file, the folder made at the first write (into its parent), the folder after the rename.
    expect(fsync.mock.calls.length).toBeGreaterThanOrEqual(2);
  });

  it("a process killed (kill -9) while writing in RAM leaves the old or the new file, whole, never a torn one", async () => {
    const dir = join(folderIn(SHM), "nodes");
    const storageModule = fileURLToPath(new URL("../../simulator/node-storage.ts", import.meta.url));
    // Large texts (many pages each), written back to back: a kill lands in the middle of a write almost always.
    const writer = [
      `import { NodeStorage } from ${JSON.stringify(storageModule)};`,
      `const files = new NodeStorage(${JSON.stringify(dir)}).forNode("node-0001");`,
      `for (let n = 0; ; n++) {`,
      `  if (!files.write("config.json", JSON.stringify({ n, pad: String(n % 10).repeat(256 * 1024) }))) process.exit(3);`,
      `  if (n === 2) process.stdout.write("writing\\n");`,
      `}`,
    ].join("\n");
    for (let round = 0; round < 5; round++) {
      const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", writer], { stdio: ["ignore", "pipe", "inherit"] });
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, signal) => resolve(signal)));
      await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
      // A different point of the loop each round.
      await new Promise((resolve) => setTimeout(resolve, round * 7));
      child.kill("SIGKILL");
      expect(await exited).toBe("SIGKILL");
      const text = readFileSync(join(dir, "node-0001", "config.json"), "utf8");
      const stored = JSON.parse(text) as { n: number; pad: string };
      expect(stored.pad).toBe(String(stored.n % 10).repeat(256 * 1024));
      expect(stored.n).toBeGreaterThanOrEqual(2);
    }
  }, 60_000);
});
