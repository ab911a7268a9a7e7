import { afterEach, describe, expect, it } from "vitest";
import { LuaError, luaString, WasmLua } from "../../common/wasm-lua";

describe("WasmLua", () => {
  const states: WasmLua[] = [];
  const make = (...args: ConstructorParameters<typeof WasmLua>): WasmLua => {
    const lua = new WasmLua(...args);
    states.push(lua);
    return lua;
  };
  afterEach(() => {
    while (states.length > 0) {
      states.pop()?.close();
    }
  });

  it("runs Lua 5.1 on a 32-bit target by default, and 5.3 on request", () => {
    const lua = make();
    expect(lua.run("return _VERSION, 1 + 1, nil, true", "=t")).toEqual(["Lua 5.1", "2", "nil", "true"]);
    // A 32-bit size_t in the dump header, like the ESP8266.
    expect(lua.run('return string.byte(string.dump(function() end), 9)')).toEqual(["4"]);
    expect(make({ version: "5.3" }).run("return _VERSION, 7 // 2, math.type(1)")).toEqual(["Lua 5.3", "3", "integer"]);
  });

  it("throws LuaError with the chunk name, line and a traceback", () => {
    const lua = make();
    let caught: unknown;
    try {
      lua.run("local x = 1\nerror('boom')", "@bad.lua");
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(LuaError);
    expect(String((caught as Error).message)).toMatch(/^bad\.lua:2: boom\nstack traceback:/);
    expect(() => lua.run("return +", "=syntax")).toThrow(/syntax/);
    // the state is still usable afterwards
    expect(lua.run("return 'fine'")).toEqual(["fine"]);
  });

  it("serves named sources to dofile, loadfile and require, without a file system", () => {
    const lua = make();
    lua.addSource("lib/util.lua", "local M = {}; function M.twice(x) return 2 * x end; return M");
    lua.addSource("main.lua", "local u = require('lib.util'); return u.twice(...)");
    expect(lua.run("return loadfile('main.lua')(21)")).toEqual(["42"]);
    expect(() => lua.run("return dofile('main.lua')")).toThrow(/arithmetic on .*nil/);
    expect(() => lua.run("dofile('missing.lua')")).toThrow(/cannot open missing\.lua/);
    expect(lua.run("local f, err = loadfile('missing.lua'); return f, err")).toEqual(["nil", "cannot open missing.lua"]);
  });

  it("passes text as UTF-8 and binary data byte for byte, both ways", () => {
    const lua = make();
    lua.setVar("text", "é€");
    expect(lua.run("return #__wasm.vars.text")).toEqual(["5"]);
    const all = new Uint8Array(256).map((_, i) => i);
    lua.setVar("bin", all);
    expect(lua.run("local s = __wasm.vars.bin; return #s, s:byte(1), s:byte(256)")).toEqual(["256", "0", "255"]);
    const [back] = lua.runBinary("return __wasm.vars.bin");
    expect(Buffer.from(back ?? []).equals(Buffer.from(all))).toBe(true);
  });

  it("moves long strings in pieces", () => {
    const lua = make();
    const long = "abcdefghij".repeat(30000);
    lua.addSource("long.txt", long);
    expect(lua.run("return #__wasm.sources['long.txt']")).toEqual([String(long.length)]);
    const code = `local t = {}\n${"t[#t + 1] = 1\n".repeat(20000)}return #t`;
    expect(lua.run(code)).toEqual(["20000"]);
  });

  it("round-trips bytecode: compile, load the bytes back, run", () => {
    const lua = make();
    const bytecode = lua.compile("return 'compiled ' .. select('#', ...)", "=c");
    expect(Array.from(bytecode.subarray(0, 5))).toEqual([0x1b, 0x4c, 0x75, 0x61, 0x51]);
    lua.addSource("c.lc", bytecode);
    expect(lua.run("return loadfile('c.lc')(1, 2, 3)")).toEqual(["compiled 3"]);
  });

  it("reports the heap in bytes after a full collection", () => {
    const lua = make();
    const before = lua.heapBytes();
    lua.run("keep = {}; for i = 1, 1000 do keep[i] = { i } end");
    const held = lua.heapBytes();
    expect(held - before).toBeGreaterThan(1000 * 32);
    lua.run("keep = nil");
    expect(lua.heapBytes()).toBeLessThanOrEqual(before + 64);
    expect(Number.isInteger(held)).toBe(true);
  });

  it("discards print by default and captures it on request", () => {
    expect(make().run("print('x'); return 1")).toEqual(["1"]);
    const lua = make({ print: "capture" });
    lua.run("print('a', 1, nil); print('b')");
    expect(lua.takeOutput()).toEqual(["a\t1\tnil", "b"]);
    expect(lua.takeOutput()).toEqual([]);
  });

  it("quotes any string as a Lua literal", () => {
    const lua = make();
    for (const s of ['a"b\\c', "line\nbreak", "é\0x", ""]) {
      lua.setVar("expected", s);
      expect(lua.run(`return ${luaString(s)} == __wasm.vars.expected`)).toEqual(["true"]);
    }
  });
});
