/**
 * Equality with NodeMCU's own tool. Each fixture image was written by
 * `luac.cross -f` (nodemcu-firmware 3.0.0-release_20240225, see
 * test/fixtures/lfs/README.md). For each: decode it as the device's loader
 * would; compile the same sources with a stock 32-bit Lua 5.1 (wasm); write
 * our image from that bytecode; decode it; and compare everything an LFS
 * image holds. Where luac.cross's image is canonical, the uncompressed bytes
 * must be the same too (inflated here by node:zlib, not by our reader).
 */
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildLfsImage, parseChunk, readLfsImage, type LfsImage } from "../../firmware/lfs";
import { latin1ToBytes } from "../../firmware/lfs/lua51-chunk";
import { unpackLineInfo } from "../../firmware/lfs/packed-lineinfo";
import { WasmLua } from "../../common/wasm-lua";
import { compileFixture, FIXTURES, flatten, moduleName, readFixture } from "./support";

let lua: WasmLua;
beforeAll(() => {
  lua = new WasmLua({ version: "5.1" });
});
afterAll(() => lua.close());

describe.each(FIXTURES)("$image (luac.cross -f $files)", (fixture) => {
  let reference: LfsImage;
  let referenceRaw: Buffer;
  let chunks: Uint8Array[];
  let ours: ReturnType<typeof buildLfsImage>;
  let decoded: LfsImage;

  beforeAll(() => {
    const file = readFixture(fixture.image);
    reference = readLfsImage(file);
    referenceRaw = gunzipSync(file);
    chunks = fixture.files.map((f) => compileFixture(lua, f));
    // luac.cross stores the time of its run; ours takes it as an option (default 0), so reuse luac.cross's here.
    ours = buildLfsImage(
      fixture.files.map((f, i) => ({ name: moduleName(f), chunk: chunks[i] as Uint8Array })),
      { timestamp: reference.timestamp },
    );
    decoded = readLfsImage(ours.gz);
  });

  it("decodes as the device would, listing one module per file, named as luac.cross names them", () => {
    expect(reference.modules.map((m) => m.name)).toEqual(fixture.files.map(moduleName));
    expect(decoded.modules.map((m) => m.name)).toEqual(fixture.files.map(moduleName));
    expect(reference.header.signature).toBe(0xfafaa154);
    expect(decoded.header.signature).toBe(reference.header.signature);
    expect(typeof reference.timestamp).toBe("number");
  });

  it("holds the functions stock Lua 5.1 compiles: luac.cross generates the same code, constants and lines", () => {
    reference.modules.forEach((m, i) => {
      const stock = flatten(parseChunk(chunks[i] as Uint8Array).main);
      expect(flatten(m.main)).toEqual(stock);
    });
  });

  it("writes the same functions as luac.cross: instructions, constants, line info, nups, params, vararg, maxstack", () => {
    expect(flatten(decoded.main)).toEqual(flatten(reference.main));
    decoded.modules.forEach((m, i) => {
      expect(flatten(m.main)).toEqual(flatten((reference.modules[i] as LfsImage["modules"][number]).main));
    });
  });

  it("keeps no local or upvalue names, as luac.cross (LUAI_OPTIMIZE_DEBUG 1)", () => {
    for (const image of [reference, decoded]) {
      const all = image.modules.flatMap((m) => flatten(m.main).map((f) => f.path));
      expect(all.length).toBeGreaterThan(0);
      const names = (p: LfsImage["main"]): number => p.localNames.length + p.upvalueNames.length + p.protos.reduce((n, c) => n + names(c), 0);
      expect(names(image.main)).toBe(0);
    }
  });

  if (fixture.identical) {
    it("has the same string table, in the same order", () => {
      expect(decoded.strings).toEqual(reference.strings);
      expect(decoded.header.stringTableSize).toBe(reference.header.stringTableSize);
    });

    it("is byte-identical to luac.cross's image when uncompressed", () => {
      expect(ours.raw.length).toBe(referenceRaw.length);
      expect(Buffer.from(ours.raw).equals(referenceRaw)).toBe(true);
      expect(ours.imageBytes).toBe(referenceRaw.readUInt32LE(4));
    });
  } else {
    it("differs from luac.cross only in one line-info string, which decodes to the same lines", () => {
      expect(new Set(decoded.strings).size).toBe(reference.strings.length);
      const onlyTheirs = reference.strings.filter((s) => !decoded.strings.includes(s));
      const onlyOurs = decoded.strings.filter((s) => !reference.strings.includes(s));
      expect(onlyTheirs).toHaveLength(1);
      expect(onlyOurs).toHaveLength(1);
      const main = (decoded.modules[0] as LfsImage["modules"][number]).main;
      const theirs = unpackLineInfo(latin1ToBytes(onlyTheirs[0] as string), main.code.length);
      const mine = unpackLineInfo(latin1ToBytes(onlyOurs[0] as string), main.code.length);
      expect(mine).toEqual(theirs);
      expect(mine).toEqual(main.lineInfo);
      // luac.cross split a line into two runs: its string is longer.
      expect((onlyTheirs[0] as string).length).toBeGreaterThan((onlyOurs[0] as string).length);
      expect(Buffer.from(ours.raw).equals(referenceRaw)).toBe(false);
    });
  }
});

describe("fixline-far.img: a luac.cross line-info bug our writer does not copy", () => {
  it("luac.cross's image has wrong lines after a far re-dated call; ours has stock Lua's", () => {
    const reference = readLfsImage(readFixture("fixline-far.img"));
    const stock = parseChunk(compileFixture(lua, "fixline-far.lua")).main;
    const ours = readLfsImage(buildLfsImage([{ name: "fixline-far", chunk: compileFixture(lua, "fixline-far.lua") }]).gz);
    const theirs = (reference.modules[0] as LfsImage["modules"][number]).main;
    const mine = (ours.modules[0] as LfsImage["modules"][number]).main;
    // Same code and constants: only the lines differ.
    expect({ ...flatten(theirs)[0], lineInfo: [] }).toEqual({ ...flatten(stock)[0], lineInfo: [] });
    expect(mine.lineInfo).toEqual(stock.lineInfo);
    expect(theirs.lineInfo).not.toEqual(stock.lineInfo);
    // The call of `local x = f(g() ... )` is on line 10 (where it starts); luac.cross puts it on 74, and what follows 64 lines late.
    const call = stock.code.findIndex((_, pc) => pc > 0 && stock.lineInfo[pc] === 10 && stock.lineInfo[pc + 1] !== 10);
    expect(stock.lineInfo[call]).toBe(10);
    expect(theirs.lineInfo[call]).toBe(74);
    expect(theirs.lineInfo.slice(call + 1)).toEqual(stock.lineInfo.slice(call + 1).map((l) => l + 64));
  });
});
