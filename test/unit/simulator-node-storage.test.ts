import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { NodeStorage } from "../../simulator/node-storage";

const root = () => join(mkdtempSync(join(tmpdir(), "espfleet-storage-")), "nodes");

describe("per-node storage (simulator/node-storage.ts)", () => {
  it("shows a write at once and has it on disk after flush, in <dir>/<node-id>/<file>", async () => {
    const dir = root();
    const storage = new NodeStorage(dir);
    const files = storage.forNode("node-0001");
    expect(files.read("config.json")).toBeUndefined();
    expect(files.write("config.json", '{"interval_ms":500}')).toBe(true);
    expect(files.read("config.json")).toBe('{"interval_ms":500}');
    await storage.flush();
    expect(readFileSync(join(dir, "node-0001", "config.json"), "utf8")).toBe('{"interval_ms":500}');
    // Atomic replace: no temp file is left behind.
    expect(readdirSync(join(dir, "node-0001"))).toEqual(["config.json"]);
  });

  it("keeps the newest of several writes, and a new storage (a restart) reads it", async () => {
    const dir = root();
    const storage = new NodeStorage(dir);
    const files = storage.forNode("node-0002");
    for (let i = 0; i < 20; i++) {
      files.write("config.json", `{"n":${i}}`);
    }
    await storage.flush();
    expect(new NodeStorage(dir).forNode("node-0002").read("config.json")).toBe('{"n":19}');
  });

  it("refuses writes on request (a full file system), and after a disk error", async () => {
    const dir = root();
    const storage = new NodeStorage(dir);
    storage.refuseWrites("node-0003", "config.json", true);
    expect(storage.forNode("node-0003").write("config.json", "{}")).toBe(false);
    expect(storage.forNode("node-0003").write("boot.txt", "{}")).toBe(true);
    await storage.flush();

    // A disk error (here: the state directory's parent is a file) is reported, and later writes fail.
    const parent = mkdtempSync(join(tmpdir(), "espfleet-storage-"));
    writeFileSync(join(parent, "not-a-dir"), "");
    const errors: string[] = [];
    const broken = new NodeStorage(join(parent, "not-a-dir", "nodes"), (e) => errors.push(e));
    expect(broken.forNode("n").write("config.json", "{}")).toBe(true);
    await broken.flush();
    expect(errors[0]).toMatch(/cannot write .*config\.json.*check free space and permissions/);
    expect(broken.forNode("n").write("config.json", "{}")).toBe(false);
  });

  it("rejects node ids that would leave the state directory", () => {
    const storage = new NodeStorage(root());
    expect(() => storage.forNode("../etc")).toThrow(/cannot name a directory/);
    expect(() => storage.forNode(".hidden")).toThrow(/cannot name a directory/);
  });

  it("reads files written by someone else (a stored config from an earlier run)", () => {
    const dir = root();
    const storage = new NodeStorage(dir);
    const files = storage.forNode("node-0004");
    files.write("x", "1");
    return storage.flush().then(() => {
      writeFileSync(join(dir, "node-0004", "config.json"), '{"interval_ms":700}');
      expect(new NodeStorage(dir).forNode("node-0004").read("config.json")).toBe('{"interval_ms":700}');
      expect(existsSync(join(dir, "node-0004", "x"))).toBe(true);
    });
  });
});
