/**
 * The virtual ESP8266's LFS: a partition table (node.getpartitiontable /
 * setpartitiontable), node.LFS.reload reading the project's lfs.img in the
 * device's own format, node.LFS.get / list, and code in LFS that takes no
 * heap, as on the board. The firmware's own use of it (init.lua loading
 * lfs.img, then the app from LFS at 40 KB) is in firmware.test.ts.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { VirtualDeviceOptions } from "../../device/options";
import { writeLfsImage } from "../../firmware/lfs";
import { WasmLua } from "../../common/wasm-lua";
import { ConsoleDevice, DIST, removeDir, requireBuiltFirmware, tempDir } from "./support/harness";

const IMAGE = (): Buffer => readFileSync(join(DIST, "lfs.img"));
/** Prompt-only boots: these tests drive the device at the REPL. */
const IDLE_INIT = 'print("ready")';

describe("virtual device LFS", () => {
  const dirs: string[] = [];
  const devices: ConsoleDevice[] = [];
  const make = (files: Record<string, string | Buffer>, options: Partial<VirtualDeviceOptions> = {}, dir = tempDir("lfs")): ConsoleDevice => {
    dirs.push(dir);
    for (const [name, data] of Object.entries(files)) {
      writeFileSync(join(dir, name), data);
    }
    const d = new ConsoleDevice({ fsDir: dir, ...options });
    devices.push(d);
    return d;
  };
  const value = async (d: ConsoleDevice, expr: string): Promise<string> => (await d.type(`=${expr}`)).split("\r\n")[1] ?? "";
  afterEach(() => {
    for (const d of devices.splice(0)) {
      d.device.stop();
    }
    for (const dir of dirs.splice(0)) {
      removeDir(dir);
    }
  });

  it("reloads lfs.img into the partition and restarts; then get and list give the app's modules, which take no heap", async () => {
    requireBuiltFirmware();
    const d = make({ "init.lua": IDLE_INIT, "lfs.img": IMAGE() });
    d.device.start();
    await d.expectConsole(/ready\r\n> $/);
    expect(await value(d, "node.LFS.list()")).toBe("nil");
    expect(await value(d, "node.LFS.get('app')")).toBe("nil");
    await d.type("collectgarbage()");
    const freeEmpty = Number(await value(d, "node.heap()"));

    const from = d.console.length;
    d.device.write("node.LFS.reload('lfs.img')\r");
    await d.expectConsole(/LFS region updated\. {2}Restarting\.\r\n[\s\S]*ready\r\n> $/, 10_000, from);
    expect(await value(d, "table.concat(node.LFS.list(), ',')")).toBe("app,cfg");
    expect(await value(d, "type(node.LFS.get('cfg'))")).toBe("function");
    expect(await value(d, "type(node.LFS.cfg)")).toBe("function"); // node.LFS.<name> is get(<name>)
    expect(await value(d, "node.LFS.get('nope')")).toBe("nil");
    expect(Number(await value(d, "node.info('lfs').lfs_used"))).toBe(d.device.flash.lfsContents()?.usedBytes);
    // 68 KB of code in flash: the free heap is what it was with an empty LFS (within the string table's noise).
    await d.type("collectgarbage()");
    const freeLoaded = Number(await value(d, "node.heap()"));
    expect(Math.abs(freeLoaded - freeEmpty)).toBeLessThan(2048);
    // Running the config module takes only its data: a few KB, not its code.
    await d.type("collectgarbage(); m = node.LFS.get('cfg')()");
    const withModule = Number(await value(d, "node.heap()"));
    expect(freeLoaded - withModule).toBeGreaterThan(500);
    expect(freeLoaded - withModule).toBeLessThan(6 * 1024);
    expect(await value(d, "m.defaultConfig().interval_ms")).toBe("10000");
  });

  it("node.LFS.time is the loaded image's timestamp (luac.cross -f writes the build time), nil with no image", async () => {
    const compiler = new WasmLua({ version: "5.1" });
    const image = Buffer.from(writeLfsImage([{ name: "m", chunk: compiler.compile("return 42", "@m.lua") }], { timestamp: 1700000000 }));
    compiler.close();
    const d = make({ "init.lua": IDLE_INIT, "ts.img": image });
    d.device.start();
    await d.expectConsole(/ready\r\n> $/);
    expect(await value(d, "node.LFS.time")).toBe("nil");
    const from = d.console.length;
    d.device.write("node.LFS.reload('ts.img')\r");
    await d.expectConsole(/Restarting[\s\S]*ready\r\n> $/, 10_000, from);
    expect(await value(d, "node.LFS.time")).toBe("1700000000");
    expect(await value(d, "node.LFS.get('m')()")).toBe("42");
  });

  it("keeps the partition across a power cycle in another process (a new device on the same folder)", async () => {
    requireBuiltFirmware();
    const d = make({ "init.lua": IDLE_INIT, "lfs.img": IMAGE() });
    d.device.start();
    await d.expectConsole(/ready\r\n> $/);
    d.device.write("node.LFS.reload('lfs.img')\r");
    await d.expectConsole(/Restarting[\s\S]*ready\r\n> $/);
    d.device.stop();
    const again = make({}, {}, d.device.fs.dir);
    again.device.start();
    await again.expectConsole(/ready\r\n> $/);
    expect(await value(again, "table.concat(node.LFS.list(), ',')")).toBe("app,cfg");
    // The flash regions are not files: file.list() does not show them, file.format() keeps them.
    expect(await value(again, "file.list()['%flash']")).toBe("nil");
    await again.type("file.format()");
    expect(await value(again, "table.concat(node.LFS.list(), ',')")).toBe("app,cfg");
  });

  it("refuses what the device refuses, with its messages, and leaves the LFS as it was", async () => {
    requireBuiltFirmware();
    const flipped = Buffer.from(IMAGE());
    flipped[Math.floor(flipped.length / 2)] ^= 0x10;
    const d = make({ "init.lua": IDLE_INIT, "lfs.img": IMAGE(), "bad.img": flipped, "text.img": "not an image" }, { lfsBytes: 32 * 1024 });
    d.device.start();
    await d.expectConsole(/ready\r\n> $/);
    expect(await value(d, "node.LFS.reload('lfs.img')")).toBe("LFS Image too big for configured LFS region");
    expect(await value(d, "node.LFS.reload('missing.img')")).toBe("LFS image file not found");
    expect(await value(d, "node.LFS.reload('bad.img')")).toMatch(/corrupt|error|incorrect/i);
    expect(await value(d, "node.LFS.reload('text.img')")).toBe("read error on LFS image file");
    expect(d.device.stats.boots).toBe(1);
    expect(await value(d, "node.LFS.list()")).toBe("nil");
    // A good image, but too little free heap to inflate it (reload needs ~24 KB): the device says so.
    const big = make({ "init.lua": IDLE_INIT, "lfs.img": IMAGE() });
    big.device.start();
    await big.expectConsole(/ready\r\n> $/);
    await big.type('hog = {} for i = 1, 20 do hog[i] = string.rep("h", 1000) .. i end');
    expect(await value(big, "node.LFS.reload('lfs.img')")).toBe("Memory allocation error");
    expect(big.device.stats.boots).toBe(1);
  });

  it("a board without an LFS partition gets one from node.setpartitiontable; its files are erased", async () => {
    requireBuiltFirmware();
    const d = make({ "init.lua": IDLE_INIT, "keep.txt": "x" }, { lfsBytes: 0 });
    d.device.start();
    await d.expectConsole(/ready\r\n> $/);
    expect(await value(d, "node.getpartitiontable().lfs_size")).toBe("0");
    expect(await value(d, "node.LFS.reload('lfs.img')")).toBe("No LFS partition allocated");
    const spiffs = Number(await value(d, "node.getpartitiontable().spiffs_addr"));
    expect(await d.type("node.setpartitiontable{lfs_size = 0x20000, lfs_addr = 0x1001}")).toContain("Partition value out of range");
    expect(d.device.stats.boots).toBe(1);
    const from = d.console.length;
    d.device.write(`node.setpartitiontable{lfs_addr = ${spiffs}, lfs_size = 0x20000, spiffs_addr = ${spiffs + 0x20000}, spiffs_size = 0x100000}\r`);
    await d.expectConsole(/Formatting file system\. Please wait\.\.\.[\s\S]*NodeMCU[\s\S]*> $/, 10_000, from);
    expect(d.device.stats.boots).toBe(2);
    expect(existsSync(join(d.device.fs.dir, "keep.txt"))).toBe(false);
    expect(existsSync(join(d.device.fs.dir, "init.lua"))).toBe(false);
    expect(await value(d, "node.getpartitiontable().lfs_size")).toBe(String(0x20000));
    expect(await value(d, "node.getpartitiontable().lfs_addr")).toBe(String(spiffs));
    expect(await value(d, "select(3, file.fsinfo())")).toBe(String(0x100000));
    // Upload the image and load it, as ./flash.sh does after adding the partition.
    writeFileSync(join(d.device.fs.dir, "lfs.img"), IMAGE());
    d.device.reset();
    await d.expectConsole(/> $/, 10_000, d.console.length);
    const at = d.console.length;
    d.device.write("node.LFS.reload('lfs.img')\r");
    await d.expectConsole(/LFS region updated/, 10_000, at);
    await d.expectConsole(/NodeMCU[\s\S]*> $/, 10_000, at);
    expect(await value(d, "table.concat(node.LFS.list(), ',')")).toBe("app,cfg");
  });
});
