/**
 * The LFS helpers of the uploader: the probe line run by a real Lua 5.1 on
 * stand-ins of 3.x and 2.x firmwares, its parser, the partition plan (the
 * checks of node_setpartitiontable, never over the firmware), and the size an
 * image needs.
 */
import { gzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import {
  describeLfs,
  lfsImageNeeds,
  LFS_PROBE_LINE,
  parseLfsProbe,
  partitionLine,
  PartitionPlanError,
  planLfsPartition,
} from "../../../host-bridge/uploader/lfs";
import { MAX_LUA_LINE } from "../../../host-bridge/uploader/repl";
import { WasmLua } from "../../../common/wasm-lua";

const states: WasmLua[] = [];
afterEach(() => {
  for (const s of states.splice(0)) {
    s.close();
  }
});

/** Runs the probe line in Lua 5.1 after `setup` (which defines the firmware's `node` and `file`), returns what it printed. */
function probeOn(setup: string): string {
  const lua = new WasmLua({ version: "5.1", print: "capture" });
  states.push(lua);
  lua.run(setup);
  lua.run(LFS_PROBE_LINE);
  return lua.takeOutput().join("\n");
}

const FILE_WITHOUT_IMAGE = `file = { exists = function(n) return false end }`;

describe("the LFS probe line", () => {
  it("fits the REPL's line limit", () => {
    expect(LFS_PROBE_LINE.length).toBeLessThan(MAX_LUA_LINE);
    expect(LFS_PROBE_LINE).not.toMatch(/[\r\n]/);
  });

  it("on a 3.x firmware with a loaded image: partition and sorted modules", () => {
    const out = probeOn(`${FILE_WITHOUT_IMAGE}
      node = { getpartitiontable = function() return { lfs_addr = 655360, lfs_size = 131072, spiffs_addr = 1048576, spiffs_size = 3145728 } end,
               LFS = { list = function() return { "app", "cfg" } end } }`);
    expect(parseLfsProbe(out)).toEqual({
      supported: true,
      partition: { lfsAddr: 0xa0000, lfsSize: 0x20000, spiffsAddr: 0x100000, spiffsSize: 0x300000 },
      modules: ["app", "cfg"],
      pendingImage: false,
    });
  });

  it("on a 3.x firmware without an LFS partition: lfs_size 0, no image", () => {
    const out = probeOn(`file = { exists = function(n) return n == "lfs.img" end }
      node = { getpartitiontable = function() return { lfs_addr = 0, lfs_size = 0, spiffs_addr = 1048576, spiffs_size = 3145728 } end,
               LFS = { list = function() return nil end } }`);
    const lfs = parseLfsProbe(out);
    expect(lfs).toMatchObject({ supported: true, modules: undefined, pendingImage: true });
    expect(describeLfs(lfs)).toBe("none on this firmware (lfs_size 0)");
  });

  it("an image with no modules is an empty list, not 'no image'", () => {
    const out = probeOn(`${FILE_WITHOUT_IMAGE}
      node = { getpartitiontable = function() return { lfs_addr = 655360, lfs_size = 131072, spiffs_addr = 1048576, spiffs_size = 3145728 } end,
               LFS = { list = function() return {} end } }`);
    const lfs = parseLfsProbe(out);
    expect(lfs.modules).toEqual([]);
    expect(describeLfs(lfs)).toBe("128 KB partition at 0x0a0000, image with no modules");
  });

  it("on a 2.x firmware (no node.getpartitiontable, no node.LFS, maybe node.flashreload): no error, not supported", () => {
    const out = probeOn(`${FILE_WITHOUT_IMAGE}
      node = { flashreload = function() end, flashindex = function() end }`);
    const lfs = parseLfsProbe(out);
    expect(lfs).toEqual({ supported: false, partition: undefined, modules: undefined, pendingImage: false });
    expect(describeLfs(lfs)).toMatch(/not supported by this firmware.*2\.x or older/);
  });
});

describe("parseLfsProbe", () => {
  it("finds its line among an app's log lines", () => {
    const out = "app: sample 7\nESPFLEET_LFS\ttrue\ttrue\t655360\t131072\t1048576\t3145728\tfalse\t=app,cfg\nmqtt: connected";
    expect(parseLfsProbe(out).modules).toEqual(["app", "cfg"]);
  });

  it("says what it got when the line is missing or malformed", () => {
    expect(() => parseLfsProbe("")).toThrow(/could not read the board's LFS state: the probe printed ""/);
    expect(() => parseLfsProbe("ESPFLEET_LFS\ttrue\ttrue\t65536\tabc\t1048576\t3145728\tfalse\t-")).toThrow(/could not read/);
    expect(() => parseLfsProbe("ESPFLEET_LFS\ttrue\ttrue\t65536\t0\t1048576\t3145728\tfalse")).toThrow(/could not read/);
  });
});

describe("planLfsPartition", () => {
  it("no LFS: 128 KB where SPIFFS starts, SPIFFS after it up to its old end", () => {
    const plan = planLfsPartition({ lfsAddr: 0, lfsSize: 0, spiffsAddr: 0x100000, spiffsSize: 0x300000 }, 0x20000);
    expect(plan).toEqual({ lfsAddr: 0x100000, lfsSize: 0x20000, spiffsAddr: 0x120000, spiffsSize: 0x2e0000 });
    expect(partitionLine(plan)).toBe("node.setpartitiontable{lfs_addr=1048576,lfs_size=131072,spiffs_addr=1179648,spiffs_size=3014656}");
  });

  it("SPIFFS right after the firmware (no fixed location): LFS takes its start, never the firmware's space", () => {
    const plan = planLfsPartition({ lfsAddr: 0, lfsSize: 0, spiffsAddr: 0x0a0000, spiffsSize: 0x35e000 }, 0x20000);
    expect(plan.lfsAddr).toBe(0x0a0000);
    expect(plan.spiffsAddr + plan.spiffsSize).toBe(0x0a0000 + 0x35e000);
  });

  it("a small LFS grows in place; the size is rounded up to whole 4 KB sectors", () => {
    const plan = planLfsPartition({ lfsAddr: 0x0a0000, lfsSize: 0x8000, spiffsAddr: 0x100000, spiffsSize: 0x300000 }, 0x20001);
    expect(plan).toEqual({ lfsAddr: 0x0a0000, lfsSize: 0x21000, spiffsAddr: 0x0c1000, spiffsSize: 0x33f000 });
    for (const n of Object.values(plan)) {
      expect(n % 0x1000).toBe(0);
    }
  });

  it("refuses when SPIFFS would be too small (a 1 MB flash) or the table is odd", () => {
    expect(() => planLfsPartition({ lfsAddr: 0, lfsSize: 0, spiffsAddr: 0xe0000, spiffsSize: 0x1b000 }, 0x20000)).toThrow(PartitionPlanError);
    expect(() => planLfsPartition({ lfsAddr: 0, lfsSize: 0, spiffsAddr: 0x100000, spiffsSize: 0x30000 }, 0x20000, 0x20000)).toThrow(/leave SPIFFS 64 KB, less than the 128 KB/);
    expect(() => planLfsPartition({ lfsAddr: 0, lfsSize: 0, spiffsAddr: 0x100800, spiffsSize: 0x300000 }, 0x20000)).toThrow(/not one this command can move safely/);
    expect(() => planLfsPartition({ lfsAddr: 0x0a0000, lfsSize: 0x80000, spiffsAddr: 0x100000, spiffsSize: 0x300000 }, 0x90000)).toThrow(/does not lie before SPIFFS/);
  });
});

describe("lfsImageNeeds", () => {
  it("reads flash_size from the inflated header; falls back to the unpacked length at the end", () => {
    const header = Buffer.alloc(32);
    header.writeUInt32LE(0xfafaa150, 0);
    header.writeUInt32LE(51_234, 4);
    const image = gzipSync(Buffer.concat([header, Buffer.alloc(100, 1)]));
    expect(lfsImageNeeds(image)).toBe(51_234);
    const notGzip = Buffer.concat([Buffer.from("not deflate data at all"), Buffer.from([0x10, 0x27, 0, 0])]);
    expect(lfsImageNeeds(notGzip)).toBe(10_000);
  });
});
