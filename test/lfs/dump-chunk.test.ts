/**
 * dumpChunk: a parsed chunk written back is the same chunk, and an LFS
 * module (decoded from luac.cross's images and from ours) becomes a standard
 * 32-bit Lua 5.1 chunk that a stock Lua loads and runs with the same results
 * as the source: how the virtual device runs what is in its LFS partition.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { dumpChunk, parseChunk, readLfsImage, stripChunk, writeLfsImage, type ChunkHeader } from "../../firmware/lfs";
import { LuaError, WasmLua } from "../../common/wasm-lua";
import { CHUNKS_DIR, compileFixture, FIXTURES, flatten, moduleName, readFixture, readSource, RUNNABLE } from "./support";
import { readdirSync } from "node:fs";

let lua: WasmLua;
beforeEach(() => {
  lua = new WasmLua({ version: "5.1" });
});
afterEach(() => lua.close());

/** Load `chunk` as a file and run it; its results as strings. */
function runChunk(chunk: Uint8Array): string[] {
  lua.addSource("module.lc", chunk);
  return lua.run('return dofile("module.lc")');
}

describe("dumpChunk", () => {
  it.each(readdirSync(CHUNKS_DIR).filter((f) => f.endsWith(".lua")))("writes back %s byte for byte after parseChunk", (file) => {
    const chunk = compileFixture(lua, file);
    expect(Buffer.from(dumpChunk(parseChunk(chunk).main)).equals(Buffer.from(chunk))).toBe(true);
    const stripped = stripChunk(chunk);
    expect(Buffer.from(dumpChunk(parseChunk(stripped).main)).equals(Buffer.from(stripped))).toBe(true);
  });

  it("writes other sizes and byte orders (a 64-bit big-endian header), read back to the same functions", () => {
    const chunk = compileFixture(lua, "closures.lua");
    const wide: ChunkHeader = { littleEndian: false, sizeInt: 4, sizeSizeT: 8, sizeInstruction: 4, sizeNumber: 8, integral: false };
    const other = dumpChunk(parseChunk(chunk).main, wide);
    expect(other.length).toBeGreaterThan(chunk.length);
    expect(parseChunk(other).header).toEqual(wide);
    expect(parseChunk(other).main).toEqual(parseChunk(chunk).main);
  });
});

describe.each(FIXTURES.filter((f) => f.files.some((file) => RUNNABLE.includes(file))))("modules of $image, through dumpChunk", (fixture) => {
  it("run on a stock 32-bit Lua 5.1 as their sources do (luac.cross's image)", () => {
    const image = readLfsImage(readFixture(fixture.image));
    fixture.files.forEach((file, i) => {
      const module = image.modules[i];
      expect(module?.name).toBe(moduleName(file));
      const expected = lua.run(readSource(file), "@" + file);
      expect(expected.length).toBe(1);
      expect(runChunk(dumpChunk(module?.main as NonNullable<typeof module>["main"]))).toEqual(expected);
    });
  });

  it("run the same from our image", () => {
    const image = readLfsImage(writeLfsImage(fixture.files.map((f) => ({ name: moduleName(f), chunk: compileFixture(lua, f) }))));
    fixture.files.forEach((file, i) => {
      const expected = lua.run(readSource(file), "@" + file);
      expect(runChunk(dumpChunk((image.modules[i] as (typeof image.modules)[number]).main))).toEqual(expected);
    });
  });
});

describe("LFS modules on a stock Lua", () => {
  it("load the project's app and cfg (they need NodeMCU's modules to run): same functions as compiled", () => {
    const image = readLfsImage(readFixture("project.img"));
    for (const m of image.modules) {
      const chunk = dumpChunk(m.main);
      lua.addSource(`${m.name}.lc`, chunk);
      expect(lua.run(`return type(loadfile("${m.name}.lc"))`)).toEqual(["function"]);
      expect(flatten(parseChunk(chunk).main)).toEqual(flatten(parseChunk(compileFixture(lua, `${m.name}.lua`)).main));
    }
  });

  it("keep source names and line numbers for error messages", () => {
    const source = 'local function f()\n  error("boom")\nend\nf()\n';
    const image = readLfsImage(writeLfsImage([{ name: "boom", chunk: lua.compile(source, "@boom.lua") }]));
    const chunk = dumpChunk((image.modules[0] as (typeof image.modules)[number]).main);
    expect(() => runChunk(chunk)).toThrow(LuaError);
    expect(() => runChunk(chunk)).toThrow(/boom\.lua:2: boom/);
  });
});
