/**
 * A real Lua in WebAssembly (wasm32: 4-byte pointers and size_t, like the
 * ESP8266), from the `lua-wasm-bindings` package, behind a small API:
 *
 *   const lua = new WasmLua({ version: "5.1" });
 *   lua.addSource("app.lua", text);          // a "file" for dofile/loadfile/require
 *   lua.run('dofile("app.lua")', "=bench");  // results come back as strings
 *   lua.heapBytes();                         // collectgarbage("count") after a full collect, in bytes
 *   lua.close();
 *
 * The bindings cover a small part of the C API and pass strings through
 * UTF-8 (and stop at NUL), so everything crosses through a few Lua helpers
 * kept in the global `__wasm`: text goes in in chunks, binary data (bytecode)
 * goes both ways hex-encoded, and results are `tostring`ed inside Lua.
 * There is no file system: sources live in the Lua table `__wasm.sources`,
 * which `dofile`, `loadfile` and `require` read from.
 */
import { createRequire } from "node:module";

type Bindings = typeof import("lua-wasm-bindings/dist/lua.51.js");
type LuaState = ReturnType<Bindings["lauxlib"]["luaL_newstate"]>;

export type LuaVersion = "5.1" | "5.3";

export interface WasmLuaOptions {
  /** Lua version; default "5.1" (the NodeMCU default build). */
  version?: LuaVersion;
  /**
   * What Lua's `print` does: "discard" (default; keeps heap figures clean),
   * "capture" (lines kept in Lua, read with takeOutput()), "console" (stdout).
   */
  print?: "discard" | "capture" | "console";
}

/** An error raised by Lua code (load or run), with Lua's message and traceback. */
export class LuaError extends Error {
  override name = "LuaError";
}

const requireCjs = createRequire(import.meta.url);
const bindingsCache = new Map<LuaVersion, Bindings>();

function bindings(version: LuaVersion): Bindings {
  let b = bindingsCache.get(version);
  if (b === undefined) {
    // Loaded on demand: each version instantiates its own wasm module.
    const file = version === "5.1" ? "lua-wasm-bindings/dist/lua.51.js" : "lua-wasm-bindings/dist/lua.53.js";
    b = requireCjs(file) as Bindings;
    bindingsCache.set(version, b);
  }
  return b;
}

/** Characters per lua_pushstring: the bindings copy each argument onto the wasm stack (4 bytes per char). */
const PUSH_CHUNK = 65536;

/** Helpers every state gets; the only way data crosses the JS/Lua boundary. */
const BOOTSTRAP = String.raw`
local W = { sources = {}, vars = {}, parts = {}, out = {} }
__wasm = W
local load = loadstring or load
local char, byte, format, tonumber, tostring = string.char, string.byte, string.format, tonumber, tostring
local concat, select, type = table.concat, select, type
local unpack = unpack or table.unpack
local traceback = debug.traceback

function W.put(s) W.parts[#W.parts + 1] = s end
local function take() local s = concat(W.parts); W.parts = {}; return s end
function W.set(key) W.vars[key] = take() end
function W.sethex(key) W.vars[key] = W.fromhex(take()) end
function W.source(name) W.sources[name] = take() end
function W.sourcehex(name) W.sources[name] = W.fromhex(take()) end

function W.fromhex(h)
  return (h:gsub("%x%x", function(c) return char(tonumber(c, 16)) end))
end
function W.tohex(s)
  return (s:gsub(".", function(c) return format("%02x", byte(c)) end))
end

local function pack(...) return { n = select("#", ...), ... } end

-- Run W.vars.code as a chunk named 'name'; returns "ok", tostring(results)... or "error", message.
function W.exec(name, hex)
  local code = W.vars.code
  W.vars.code = nil
  local f, err = load(code, name)
  code = nil
  if not f then return "error", tostring(err) end
  local r = pack(xpcall(f, function(e) return traceback(tostring(e), 2) end))
  if not r[1] then return "error", tostring(r[2]) end
  local out = { "ok" }
  for i = 2, r.n do
    local v = r[i]
    if hex == "hex" and type(v) == "string" then v = W.tohex(v) else v = tostring(v) end
    out[i] = v
  end
  return unpack(out, 1, r.n)
end

function W.heap()
  collectgarbage("collect")
  collectgarbage("collect")
  return format("%.0f", collectgarbage("count") * 1024)
end

function W.take_output()
  local s = concat(W.out, "\n")
  W.out = {}
  return s
end

function W.loadfile(name)
  local src = W.sources[name]
  if src == nil then return nil, "cannot open " .. tostring(name) end
  return load(src, "@" .. name)
end
function loadfile(name) return W.loadfile(name) end
function dofile(name)
  local f, err = W.loadfile(name)
  if not f then error(err, 2) end
  return f()
end
W.dofile = dofile
-- require("a.b") finds "a/b.lua" or "a.b.lua" among the sources.
local searchers = package.loaders or package.searchers
table.insert(searchers, 2, function(modname)
  local path = modname:gsub("%.", "/") .. ".lua"
  local name = W.sources[path] and path or (W.sources[modname .. ".lua"] and modname .. ".lua") or nil
  if name == nil then return "\n\tno source '" .. path .. "' in __wasm.sources" end
  return assert(W.loadfile(name))
end)
`;

const PRINT_MODES = {
  discard: "print = function() end",
  capture: String.raw`
    local tostring, concat, select = tostring, table.concat, select
    print = function(...)
      local t = {}
      for i = 1, select("#", ...) do t[i] = tostring((select(i, ...))) end
      __wasm.out[#__wasm.out + 1] = concat(t, "\t")
    end`,
  console: "",
} as const;

export class WasmLua {
  readonly version: LuaVersion;
  private readonly b: Bindings;
  private L: LuaState | undefined;

  constructor(options: WasmLuaOptions = {}) {
    this.version = options.version ?? "5.1";
    this.b = bindings(this.version);
    const L = this.b.lauxlib.luaL_newstate();
    this.b.lualib.luaL_openlibs(L);
    this.L = L;
    this.dostring(BOOTSTRAP);
    this.dostring(PRINT_MODES[options.print ?? "discard"]);
  }

  private state(): LuaState {
    if (this.L === undefined) {
      throw new Error("WasmLua: state is closed");
    }
    return this.L;
  }

  /** Run constant helper code (ASCII, short) directly. */
  private dostring(code: string): void {
    const L = this.state();
    const status = this.b.lauxlib.luaL_dostring(L, code);
    if (status !== 0) {
      const message = this.b.lua.lua_tostring(L, -1);
      this.b.lua.lua_settop(L, 0);
      throw new LuaError(message);
    }
    this.b.lua.lua_settop(L, 0);
  }

  /** Call __wasm[fn](...args) with string arguments; all results as strings. */
  private call(fn: string, ...args: string[]): string[] {
    const L = this.state();
    const { lua } = this.b;
    const top = lua.lua_gettop(L);
    lua.lua_getglobal(L, "__wasm");
    lua.lua_getfield(L, -1, fn);
    for (const a of args) {
      lua.lua_pushstring(L, a);
    }
    const status = lua.lua_pcall(L, args.length, -1, 0);
    if (status !== 0) {
      const message = lua.lua_tostring(L, -1);
      lua.lua_settop(L, top);
      throw new LuaError(`__wasm.${fn}: ${message}`);
    }
    const results: string[] = [];
    for (let i = top + 2; i <= lua.lua_gettop(L); i++) {
      results.push(lua.lua_tostring(L, i));
    }
    lua.lua_settop(L, top);
    return results;
  }

  /**
   * Call the Lua function `__wasm[fn]` with string arguments; its results as
   * strings. The cheapest way into a state (nothing is compiled), for hosts
   * that install their own entry points in `__wasm` (the virtual device).
   * Arguments are C strings: no NUL, and at most ~64 K characters each.
   */
  callHelper(fn: string, ...args: string[]): string[] {
    return this.call(fn, ...args);
  }

  /** Send a long string in pieces to __wasm.parts (taken by the next set/source call). */
  private put(text: string): void {
    for (let i = 0; i < text.length; i += PUSH_CHUNK) {
      this.call("put", text.slice(i, i + PUSH_CHUNK));
    }
  }

  /**
   * Store a string in the Lua table `__wasm.vars[key]`. Text is stored as
   * UTF-8; a Uint8Array is stored byte for byte.
   */
  setVar(key: string, value: string | Uint8Array): void {
    if (typeof value === "string" && value.includes("\0")) {
      // The bindings pass C strings: a NUL would end them.
      value = new Uint8Array(Buffer.from(value, "utf8"));
    }
    if (typeof value === "string") {
      this.put(value);
      this.call("set", key);
    } else {
      this.put(Buffer.from(value).toString("hex"));
      this.call("sethex", key);
    }
  }

  /**
   * Make `name` loadable by dofile(name), loadfile(name) and require()
   * ("a.b" looks for "a/b.lua"). Source text or a binary chunk (bytecode).
   * The contents stay on the Lua heap: add sources before taking a baseline.
   */
  addSource(name: string, contents: string | Uint8Array): void {
    if (typeof contents === "string" && contents.includes("\0")) {
      contents = new Uint8Array(Buffer.from(contents, "utf8"));
    }
    if (typeof contents === "string") {
      this.put(contents);
      this.call("source", name);
    } else {
      this.put(Buffer.from(contents).toString("hex"));
      this.call("sourcehex", name);
    }
  }

  /**
   * Load `code` as a chunk named `chunkName` (Lua convention: "@file.lua" or
   * "=name") and run it. Returns its results, each converted by tostring.
   * Throws LuaError with the message and traceback on failure.
   */
  run(code: string, chunkName = "=run"): string[] {
    this.setVar("code", code);
    const [status, ...results] = this.call("exec", chunkName, "");
    if (status !== "ok") {
      throw new LuaError(trimTraceback(results[0]));
    }
    return results;
  }

  /** Like run(), but string results cross as bytes (e.g. `return string.dump(f)`). */
  runBinary(code: string, chunkName = "=run"): Uint8Array[] {
    this.setVar("code", code);
    const [status, ...results] = this.call("exec", chunkName, "hex");
    if (status !== "ok") {
      throw new LuaError(trimTraceback(results[0]));
    }
    return results.map((hex) => new Uint8Array(Buffer.from(hex, "hex")));
  }

  /** Compile `source` in this state and return `string.dump` of it (with debug info). */
  compile(source: string, chunkName: string): Uint8Array {
    this.setVar("compile_src", source);
    const [dump] = this.runBinary(
      `local src = __wasm.vars.compile_src; __wasm.vars.compile_src = nil
       return string.dump(assert((loadstring or load)(src, ${luaString(chunkName)})))`,
      "=compile",
    );
    if (dump === undefined) {
      throw new LuaError("string.dump returned nothing");
    }
    return dump;
  }

  /** Bytes in use by this state: collectgarbage("count") * 1024 after two full collections. */
  heapBytes(): number {
    const [bytes] = this.call("heap");
    return Number(bytes);
  }

  /** Lines printed since the last call (print mode "capture"). */
  takeOutput(): string[] {
    const [text] = this.call("take_output");
    return text === undefined || text === "" ? [] : text.split("\n");
  }

  close(): void {
    if (this.L !== undefined) {
      this.b.lua.lua_close(this.L);
      this.L = undefined;
    }
  }
}

/** The traceback without the frames of this wrapper (from xpcall down). */
function trimTraceback(message: string | undefined): string {
  return (message ?? "unknown Lua error").replace(/\n\t\[C\]: in function 'xpcall'[\s\S]*$/, "");
}

/** A Lua string literal for text (as UTF-8) or bytes; ASCII-safe: other bytes become escapes. */
export function luaString(s: string | Uint8Array): string {
  let out = '"';
  for (const byte of typeof s === "string" ? Buffer.from(s, "utf8") : s) {
    if (byte === 0x22 || byte === 0x5c) {
      out += "\\" + String.fromCharCode(byte);
    } else if (byte >= 0x20 && byte < 0x7f) {
      out += String.fromCharCode(byte);
    } else {
      out += "\\" + String(byte).padStart(3, "0");
    }
  }
  return out + '"';
}
