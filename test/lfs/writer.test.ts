/**
 * writeLfsImage beyond equality with luac.cross (fixtures.test.ts):
 * reproducible output the device's inflater accepts, and LfsBuildError for
 * what NodeMCU would refuse: too many locals or upvalues, too big an image,
 * too many modules.
 */
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  dumpChunk,
  LfsBuildError,
  parseChunk,
  readLfsImage,
  stripChunk,
  writeLfsImage,
  type LfsModuleInput,
  type Proto,
} from "../../firmware/lfs";
import { WasmLua } from "../../common/wasm-lua";
import { compileFixture } from "./support";

let lua: WasmLua;
beforeAll(() => {
  lua = new WasmLua({ version: "5.1" });
});
afterAll(() => lua.close());

const project = (): LfsModuleInput[] => ["app.lua", "cfg.lua"].map((f) => ({ name: f.replace(".lua", ""), chunk: compileFixture(lua, f) }));

/** Flash image size as the device reads it: FlashHeader.flash_size, word 1 of the inflated file (inflated by node:zlib). */
const imageSize = (gz: Uint8Array): number => gunzipSync(gz).readUInt32LE(4);

/** Lua source: `n` locals declared in one function, defined at line 2, all in scope at its end. */
function manyLocals(n: number): string {
  const names = Array.from({ length: n }, (_, i) => `v${i}`);
  return `local x = 1\nlocal function f()\n  local ${names.join(", ")}\n  return ${names[0]}\nend\nreturn f()\n`;
}

describe("writeLfsImage output", () => {
  it("is reproducible: the same chunks give the same bytes, from separately compiled chunks too", () => {
    const a = writeLfsImage(project());
    const other = new WasmLua({ version: "5.1" });
    try {
      const b = writeLfsImage(["app.lua", "cfg.lua"].map((f) => ({ name: f.replace(".lua", ""), chunk: compileFixture(other, f) })));
      expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    } finally {
      other.close();
    }
  });

  it("has a fixed gzip header (no mtime, OS 3) and inflates with plain zlib to the image and its bitmap", () => {
    const gz = writeLfsImage(project());
    expect([...gz.subarray(0, 3)]).toEqual([0x1f, 0x8b, 8]);
    expect([...gz.subarray(4, 8)]).toEqual([0, 0, 0, 0]);
    expect(gz[9]).toBe(3);
    const raw = gunzipSync(gz);
    const size = raw.readUInt32LE(4);
    // the bitmap: one bit per 4-byte word of the image
    expect(raw.length).toBe(size + Math.ceil(size / 4 / 32) * 4);
    expect(raw.length).toBeGreaterThan(16384 * 2); // big enough that a 32 KB window would have been used
  });

  it("stores the timestamp node.LFS.time() returns: 0 unless given", () => {
    const mods = [{ name: "m", chunk: lua.compile("return 1", "@m.lua") }];
    expect(readLfsImage(writeLfsImage(mods)).timestamp).toBe(0);
    expect(readLfsImage(writeLfsImage(mods, { timestamp: 1700000000 })).timestamp).toBe(1700000000);
  });

  it("pads a tiny image past the 200 bytes under which the loader refuses a file", () => {
    const gz = writeLfsImage([{ name: "m", chunk: lua.compile("return 1", "=m") }]);
    expect(gz.length).toBeGreaterThan(200);
    const raw = gunzipSync(gz);
    expect(raw.readUInt32LE(0)).toBe(0xfafaa154);
    expect(readLfsImage(gz).modules.map((m) => m.name)).toEqual(["m"]);
  });

  it("accepts a stripped chunk whose functions stay within 50 registers", () => {
    const chunk = stripChunk(lua.compile("local a, b = 1, 2\nreturn a + b", "=s"));
    const image = readLfsImage(writeLfsImage([{ name: "s", chunk }]));
    expect(image.modules[0]?.main.source).toBeUndefined();
    expect(image.modules[0]?.main.lineInfo).toEqual([]);
  });
});

describe("NodeMCU's limits", () => {
  it("accepts 50 locals in scope at once, as NodeMCU's parser does", () => {
    expect(() => writeLfsImage([{ name: "m", chunk: lua.compile(manyLocals(50), "@m.lua") }])).not.toThrow();
  });

  it("rejects 51 locals (stock Lua compiles up to 200; LUAI_MAXVARS is 50 in NodeMCU)", () => {
    const chunk = lua.compile(manyLocals(51), "@m.lua");
    expect(() => writeLfsImage([{ name: "m", chunk }])).toThrow(LfsBuildError);
    expect(() => writeLfsImage([{ name: "m", chunk }])).toThrow("m: function at line 2 has 51 local variables in scope at once; NodeMCU allows 50");
  });

  it("names the main function as NodeMCU's parser does", () => {
    const names = Array.from({ length: 60 }, (_, i) => `g${i}`);
    const chunk = lua.compile(`local ${names.join(", ")}\nreturn g0`, "@top.lua");
    expect(() => writeLfsImage([{ name: "top", chunk }])).toThrow("top: main function has 60 local variables in scope at once; NodeMCU allows 50");
  });

  it("counts locals in scope at once, not locals in total", () => {
    const blocks = Array.from({ length: 4 }, (_, b) => `do local ${Array.from({ length: 40 }, (_, i) => `b${b}_${i}`).join(", ")} end`);
    const chunk = lua.compile(blocks.join("\n") + "\nreturn 1", "@blocks.lua");
    expect(parseChunk(chunk).main.locals.length).toBe(160);
    expect(() => writeLfsImage([{ name: "blocks", chunk }])).not.toThrow();
  });

  it("rejects a function with 61 upvalues (a generated chunk: no Lua 5.1 compiler makes one)", () => {
    // 60 upvalues from source (the most a compiler allows), then one more by hand.
    const outer = Array.from({ length: 30 }, (_, i) => `a${i}`);
    const inner = Array.from({ length: 30 }, (_, i) => `b${i}`);
    const source = [
      `local ${outer.join(", ")}`,
      "local function mid()",
      `  local ${inner.join(", ")}`,
      "  return function()", // line 4
      `    return ${[...outer, ...inner].join(" + ")}`,
      "  end",
      "end",
      "return mid",
    ].join("\n");
    const main = parseChunk(lua.compile(source, "@app.lua")).main;
    const mid = main.protos[0] as Proto;
    const closure = mid.protos[0] as Proto;
    expect([closure.lineDefined, closure.nups]).toEqual([4, 60]);
    closure.nups = 61;
    closure.upvalueNames.push("extra");
    const chunk = dumpChunk(main);
    expect(() => writeLfsImage([{ name: "app", chunk }])).toThrow(LfsBuildError);
    expect(() => writeLfsImage([{ name: "app", chunk }])).toThrow("app: function at line 4 has 61 upvalues; NodeMCU allows 60");
  });

  it("cannot check a stripped chunk that needs more than 50 registers, and says so", () => {
    const source = manyLocals(51);
    const chunk = stripChunk(lua.compile(source, "@m.lua"));
    expect(() => writeLfsImage([{ name: "m", chunk }])).toThrow(/m: function at line 2 uses \d+ registers and the chunk has no local-variable names; compile it unstripped/);
  });

  it("rejects an image larger than the LFS partition, with both sizes", () => {
    const size = imageSize(writeLfsImage(project()));
    expect(size).toBeGreaterThan(32768);
    const expected = `image is ${size.toLocaleString("en-US")} bytes; the LFS partition holds 32,768 (--lfs-size)`;
    expect(() => writeLfsImage(project(), { maxBytes: 32768 })).toThrow(LfsBuildError);
    expect(() => writeLfsImage(project(), { maxBytes: 32768 })).toThrow(expected);
    expect(() => writeLfsImage(project(), { maxBytes: size })).not.toThrow();
    expect(() => writeLfsImage(project(), { maxBytes: size - 4 })).toThrow(LfsBuildError);
  });

  it("rejects more than 50 modules (luac.cross's lookup function lists them with one SETLIST)", () => {
    const chunk = lua.compile("return 1", "=m");
    const mods = (n: number): LfsModuleInput[] => Array.from({ length: n }, (_, i) => ({ name: `m${i}`, chunk }));
    expect(readLfsImage(writeLfsImage(mods(50))).modules).toHaveLength(50);
    expect(() => writeLfsImage(mods(51))).toThrow(/51 modules; luac.cross puts at most 50/);
  });

  it("rejects a name given twice, no modules, and what is not a Lua 5.1 float chunk", () => {
    const chunk = lua.compile("return 1", "=m");
    expect(() => writeLfsImage([])).toThrow(LfsBuildError);
    expect(() => writeLfsImage([{ name: "m", chunk }, { name: "m", chunk }])).toThrow(/given twice/);
    expect(() => writeLfsImage([{ name: "src", chunk: new TextEncoder().encode("return 1") }])).toThrow(/src: not a standard Lua 5.1 chunk/);
    const lua53 = new WasmLua({ version: "5.3" });
    try {
      expect(() => writeLfsImage([{ name: "five3", chunk: lua53.compile("return 1", "=x") }])).toThrow(/five3: not a standard Lua 5.1 chunk.*5\.1/);
    } finally {
      lua53.close();
    }
    const integral = new Uint8Array(chunk);
    integral[11] = 1; // the header's integral flag: an integer build's bytecode
    expect(() => writeLfsImage([{ name: "int", chunk: integral }])).toThrow(/int: chunk has 4-byte instructions and 8-byte integer numbers/);
  });
});
