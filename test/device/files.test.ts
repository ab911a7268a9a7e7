/**
 * The flash file system is a host folder: what the device writes lands
 * there byte for byte (so tools and tests can check uploads), and what is
 * put there is what the device sees at its next boot. Also the upload path
 * existing tools use: base64 (encoder) chunks, then a hash to verify.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseChunk } from "../../firmware/lfs/lua51-chunk";
import { ConsoleDevice, removeDir, tempDir } from "./support/harness";

describe("the device's file system folder", () => {
  let dir: string;
  let d: ConsoleDevice;

  beforeAll(async () => {
    dir = tempDir("files");
    writeFileSync(join(dir, "hello.lua"), 'print("hello from flash")');
    d = new ConsoleDevice({ fsDir: dir });
    d.device.start();
    await d.expectConsole(/lua: cannot open init\.lua\r\n> $/);
  });

  afterAll(() => {
    d.device.stop();
    removeDir(dir);
  });

  it("sees the files put in the folder; dofile runs them", async () => {
    expect(await d.type("=file.exists('hello.lua'), file.exists('nope')")).toContain("true\tfalse\r\n");
    expect(await d.type("dofile('hello.lua')")).toContain("hello from flash\r\n");
    expect(await d.type("dofile('nope.lua')")).toMatch(/Lua error: stdin:1: cannot open nope\.lua/);
  });

  it("writes reach the folder byte for byte; rename and remove too", async () => {
    await d.type('f = file.open("data.bin", "w"); f:write("A" .. string.char(0, 1, 2, 200, 255) .. "Z"); f:close()');
    expect([...readFileSync(join(dir, "data.bin"))]).toEqual([65, 0, 1, 2, 200, 255, 90]);
    await d.type('f = file.open("data.bin", "a"); f:write("!"); f:close()');
    expect(readFileSync(join(dir, "data.bin")).subarray(-2).toString("latin1")).toBe("Z!");
    expect(await d.type('=file.rename("data.bin", "hello.lua")')).toContain("false\r\n"); // SPIFFS: the target exists
    expect(await d.type('=file.rename("data.bin", "moved.bin")')).toContain("true\r\n");
    expect(existsSync(join(dir, "data.bin"))).toBe(false);
    expect(readFileSync(join(dir, "moved.bin")).length).toBe(8);
    await d.type('file.remove("moved.bin")');
    expect(existsSync(join(dir, "moved.bin"))).toBe(false);
    expect(await d.type("=file.list()['hello.lua']")).toContain("25\r\n");
    const info = (await d.type("=file.fsinfo()")).split("\r\n")[1]?.split("\t").map(Number) ?? [];
    expect(info[0]! + info[1]!).toBe(info[2]);
  });

  it("takes an upload as base64 chunks and verifies it with crypto.fhash", async () => {
    const content = Buffer.from(Array.from({ length: 700 }, (_, i) => (i * 7) % 256));
    await d.type('file.open("blob.bin", "w+")');
    for (let i = 0; i < content.length; i += 150) {
      await d.type(`file.write(encoder.fromBase64("${content.subarray(i, i + 150).toString("base64")}"))`);
    }
    await d.type("file.close()");
    expect(readFileSync(join(dir, "blob.bin")).equals(content)).toBe(true);
    const sha1 = createHash("sha1").update(content).digest("hex");
    expect(await d.type('=encoder.toHex(crypto.fhash("sha1", "blob.bin"))')).toContain(`${sha1}\r\n`);
    const sha256 = createHash("sha256").update("abc").digest("hex");
    expect(await d.type('=encoder.toHex(crypto.hash("sha256", "abc"))')).toContain(`${sha256}\r\n`);
  });

  it("node.compile writes a .lc in NodeMCU's layout, which dofile runs", async () => {
    writeFileSync(join(dir, "mod.lua"), "local n = 0\nfor i = 1, 10 do n = n + i end\nprint('sum ' .. n)\nreturn n");
    d.device.reset();
    await d.expectConsole(/lua: cannot open init\.lua\r\n> $/, 5000, d.console.length);
    await d.type('node.compile("mod.lua")');
    const lc = readFileSync(join(dir, "mod.lc"));
    expect(() => parseChunk(new Uint8Array(lc), "nodemcu")).not.toThrow();
    expect(await d.type("=dofile('mod.lc')")).toContain("sum 55\r\n55\r\n");
    // A stock (unpadded) chunk is not NodeMCU's format: refused, as on the device.
    expect(await d.type("=loadstring(string.dump(function() return 1 end))")).toMatch(/nil\t.*bad binary format/);
  });
});
