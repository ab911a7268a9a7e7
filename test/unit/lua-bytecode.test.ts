import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allProtos, nodemcuChunk, parseChunk, readHeader, stripChunk } from "../../firmware/lfs/lua51-chunk";
import { WasmLua } from "../../common/wasm-lua";

/** Exercises every constant type, nested closures, upvalues, varargs and strings with odd bytes. */
const PROGRAM = String.raw`
local prefix = "p\0q\255"
local function counter(start)
  local n = start
  return function(step, ...)
    n = n + (step or 1) + select("#", ...)
    return n
  end
end
local c = counter(10)
c(); c(2, "x", "y")
local t = { [true] = "yes", [false] = "no", [1.5] = "float", big = 2^40 }
local ok = (t[true] == "yes") and (t[1.5] == "float")
return table.concat({ tostring(c(0)), tostring(ok), tostring(t.big), #prefix, prefix:byte(4) }, ",")
`;

const hasLuac = spawnSync("luac5.1", ["-v"], { stdio: "ignore" }).status === 0;

describe("stripChunk (Lua 5.1, wasm32 chunks)", () => {
  let lua: WasmLua;
  let full: Uint8Array;
  let stripped: Uint8Array;

  beforeAll(() => {
    lua = new WasmLua({ version: "5.1" });
    full = lua.compile(PROGRAM, "@program.lua");
    stripped = stripChunk(full);
  });
  afterAll(() => lua.close());

  it("reads the 32-bit sizes from the header", () => {
    expect(readHeader(full)).toEqual({
      littleEndian: true,
      sizeInt: 4,
      sizeSizeT: 4,
      sizeInstruction: 4,
      sizeNumber: 8,
      integral: false,
    });
  });

  it("gives a smaller chunk that loads and runs with the same result", () => {
    lua.addSource("full.lc", full);
    lua.addSource("stripped.lc", stripped);
    const expected = lua.run(PROGRAM, "@program.lua");
    expect(expected).toEqual(["15,true,1099511627776,4,255"]);
    expect(lua.run('return dofile("full.lc")')).toEqual(expected);
    expect(lua.run('return dofile("stripped.lc")')).toEqual(expected);
    expect(stripped.length).toBeLessThan(full.length);
  });

  it("keeps code and constants, drops source, line info, local and upvalue names", () => {
    const before = allProtos(parseChunk(full).main);
    const after = allProtos(parseChunk(stripped).main);
    expect(after.length).toBe(before.length);
    expect(before[0]?.source).toBe("@program.lua");
    expect(before.some((p) => p.sizeLineInfo > 0 && p.localNames.length > 0)).toBe(true);
    expect(before.some((p) => p.upvalueNames.length > 0)).toBe(true);
    after.forEach((p, i) => {
      const b = before[i];
      expect(p.source).toBeUndefined();
      expect(p.sizeLineInfo).toBe(0);
      expect(p.localNames).toEqual([]);
      expect(p.upvalueNames).toEqual([]);
      expect(p.sizeCode).toBe(b?.sizeCode);
      expect(p.constants).toEqual(b?.constants);
      expect([p.lineDefined, p.nups, p.numParams, p.isVararg, p.maxStackSize]).toEqual([b?.lineDefined, b?.nups, b?.numParams, b?.isVararg, b?.maxStackSize]);
    });
    const strings = after.flatMap((p) => p.constants).filter((k): k is { bytes: Uint8Array } => k !== null && typeof k === "object");
    expect(strings.some((k) => Buffer.from(k.bytes).equals(Buffer.from([0x70, 0x00, 0x71, 0xff])))).toBe(true);
  });

  it("is idempotent", () => {
    expect(Buffer.from(stripChunk(stripped)).equals(Buffer.from(stripped))).toBe(true);
  });

  it("leaves errors without a position, as on a device running .lc files", () => {
    const code = lua.compile('local function f() error("boom") end\nf()', "@boom.lua");
    lua.addSource("boom.lc", code);
    lua.addSource("boom-s.lc", stripChunk(code));
    expect(() => lua.run('dofile("boom.lc")')).toThrow(/boom\.lua:1: boom/);
    expect(() => lua.run('dofile("boom-s.lc")')).toThrow(/boom/);
    expect(() => lua.run('dofile("boom-s.lc")')).not.toThrow(/boom\.lua:1:/);
  });

  it("shrinks the firmware-sized chunk a lot", () => {
    // A chunk of many small functions, like a TypeScriptToLua bundle.
    const source = Array.from({ length: 60 }, (_, i) => `local function f${i}(a, b) local s = a + b * ${i}; return s end`).join("\n") + "\nreturn f59(1, 2)";
    const chunk = lua.compile(source, "@many.lua");
    const small = stripChunk(chunk);
    lua.addSource("many.lc", small);
    expect(lua.run('return dofile("many.lc")')).toEqual(["119"]);
    expect(small.length).toBeLessThan(chunk.length * 0.7);
  });

  it("rejects what is not a Lua 5.1 chunk, and truncated chunks", () => {
    expect(() => stripChunk(new TextEncoder().encode("return 1"))).toThrow(/not a Lua binary chunk/);
    const lua53 = new WasmLua({ version: "5.3" });
    try {
      const dump53 = lua53.compile("return 1", "=x");
      expect(() => stripChunk(dump53)).toThrow(/not a Lua 5\.1 chunk/);
    } finally {
      lua53.close();
    }
    expect(() => stripChunk(full.subarray(0, full.length - 3))).toThrow(/truncated|bad count/);
    const extra = new Uint8Array(full.length + 1);
    extra.set(full);
    expect(() => stripChunk(extra)).toThrow(/trailing/);
  });

  it.skipIf(!hasLuac)("matches `luac5.1 -s` byte for byte on the desktop's 64-bit format", () => {
    const dir = mkdtempSync(join(tmpdir(), "lua-bytecode-"));
    try {
      writeFileSync(join(dir, "p.lua"), PROGRAM);
      execFileSync("luac5.1", ["-o", join(dir, "full.luac"), join(dir, "p.lua")]);
      execFileSync("luac5.1", ["-s", "-o", join(dir, "stripped.luac"), join(dir, "p.lua")]);
      const desktop = new Uint8Array(readFileSync(join(dir, "full.luac")));
      expect(readHeader(desktop).sizeSizeT).toBe(8);
      const ours = stripChunk(desktop);
      const theirs = readFileSync(join(dir, "stripped.luac"));
      expect(Buffer.from(ours).equals(theirs)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("nodemcuChunk (NodeMCU's Lua 5.1 layout)", () => {
  let lua: WasmLua;
  let full: Uint8Array;
  let firmwareLike: Uint8Array;

  beforeAll(() => {
    lua = new WasmLua({ version: "5.1" });
    full = lua.compile(PROGRAM, "@program.lua");
    // Odd-length string constants and nested functions put most offsets off a multiple of 4.
    const source = Array.from({ length: 12 }, (_, i) => `local function f${i}(a) local s = "${"x".repeat(i)}" .. a; return function() return s end end`).join("\n") + "\nreturn f11('!')()";
    firmwareLike = lua.compile(source, "@fw.lua");
  });
  afterAll(() => lua.close());

  it("holds the same functions as the stripped chunk, read with NodeMCU's padding", () => {
    for (const chunk of [full, firmwareLike]) {
      const nodemcu = nodemcuChunk(chunk);
      const expected = allProtos(parseChunk(stripChunk(chunk)).main);
      const actual = allProtos(parseChunk(nodemcu, "nodemcu").main);
      expect(actual).toEqual(expected);
    }
  });

  it("pads: the stock layout of the same bytes is not what NodeMCU reads", () => {
    const nodemcu = nodemcuChunk(firmwareLike);
    expect(nodemcu.length).toBeGreaterThan(stripChunk(firmwareLike).length);
    expect(nodemcu.length % 4).toBe(0);
    expect(() => parseChunk(nodemcu)).toThrow();
  });

  it("converts back to the stock stripped chunk byte for byte, which runs", () => {
    const nodemcu = nodemcuChunk(firmwareLike);
    const back = stripChunk(nodemcu, "nodemcu");
    expect(Buffer.from(back).equals(Buffer.from(stripChunk(firmwareLike)))).toBe(true);
    lua.addSource("fw.lc", back);
    expect(lua.run('return dofile("fw.lc")')).toEqual(["xxxxxxxxxxx!"]);
  });
});
