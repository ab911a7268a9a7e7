/**
 * Where the code's heap goes: the estimated cost of each function of app.lua
 * (its stripped prototype, code, constants and the strings first used
 * there) and the measured cost of each module of the bundle, loaded and run
 * as its own stripped chunk.
 */
import { luaString, WasmLua } from "../../../common/wasm-lua";
import { parseChunk, stripChunk } from "../../../firmware/lfs/lua51-chunk";
import { baselineState, type Sources } from "./heap-setup";
import { bundleModules } from "./sizes";

/*
 * Sizes of Lua 5.1 objects on a 32-bit target with double numbers (lobject.h
 * on wasm32, the same layout as the ESP8266 build): used to attribute the
 * measured totals to functions and tables. Estimates; the totals are measured.
 */
export const SZ = { proto: 76, instruction: 4, tvalue: 16, protoRef: 4, string: 17, closure: 20, closureUpval: 4, upval: 32, table: 32, node: 32 };

export interface FunctionCost {
  name: string;
  module: string;
  line: number;
  lastLine: number;
  instructions: number;
  constants: number;
  /** Proto + code + constants + nested-proto pointers, stripped (no debug info). */
  bytes: number;
  /** Strings first used as a constant by this function (17 B + length each). */
  stringBytes: number;
  stringCount: number;
}

/** Module of each line of a TSTL bundle, from its `["name"] = function(...)` markers. */
function moduleOfLine(app: string): (line: number) => string {
  const starts: { line: number; name: string }[] = [];
  app.split("\n").forEach((text, i) => {
    const m = /^\["([^"]+)"\] = function\(\.\.\.\)/.exec(text);
    if (m !== null) {
      starts.push({ line: i + 1, name: m[1] as string });
    }
  });
  return (line) => {
    let name = "(bundle wrapper)";
    for (const s of starts) {
      if (s.line <= line) {
        name = s.name;
      }
    }
    return line === 0 ? "(bundle wrapper)" : name;
  };
}

/** A readable name for the function defined at `line` of the bundle. */
function functionName(lines: string[], line: number, parent: string | undefined): string {
  if (line === 0) {
    return "main chunk (bundle wrapper, require)";
  }
  const text = (lines[line - 1] ?? "").trim();
  let m = /^\["([^"]+)"\] = function/.exec(text);
  if (m !== null) {
    return `module ${m[1]} (top level)`;
  }
  m = /^(?:local )?function ([\w.:]+)\s*\(/.exec(text);
  if (m !== null) {
    return (m[1] as string).replace(/^____exports\./, "").replace(".prototype.", ":");
  }
  m = /^(?:local )?([\w.]+)\s*=\s*function/.exec(text);
  if (m !== null) {
    return (m[1] as string).replace(/^____exports\./, "").replace(".prototype.", ":");
  }
  return `closure in ${parent ?? "?"}`;
}

export function functionCosts(app: string, chunk: Uint8Array): FunctionCost[] {
  const lines = app.split("\n");
  const moduleOf = moduleOfLine(app);
  const seenStrings = new Set<string>();
  const out: FunctionCost[] = [];
  const visit = (p: ReturnType<typeof parseChunk>["main"], parent: string | undefined): void => {
    const name = functionName(lines, p.lineDefined, parent);
    let stringBytes = 0;
    let stringCount = 0;
    for (const k of p.constants) {
      if (k !== null && typeof k === "object") {
        const key = Buffer.from(k.bytes).toString("latin1");
        if (!seenStrings.has(key)) {
          seenStrings.add(key);
          stringBytes += SZ.string + k.bytes.length;
          stringCount += 1;
        }
      }
    }
    out.push({
      name,
      module: moduleOf(p.lineDefined),
      line: p.lineDefined,
      lastLine: p.lastLineDefined,
      instructions: p.sizeCode,
      constants: p.constants.length,
      bytes: SZ.proto + p.sizeCode * SZ.instruction + p.constants.length * SZ.tvalue + p.protos.length * SZ.protoRef,
      stringBytes,
      stringCount,
    });
    for (const child of p.protos) {
      visit(child, name);
    }
  };
  visit(parseChunk(chunk).main, undefined);
  return out;
}

export interface ModuleCost {
  module: string;
  /** Measured: its chunk (stripped) loaded, not run. */
  loaded: number;
  /** Measured: after running it (the top-level function is garbage then): kept code + load-time data. */
  kept: number;
}

/** Load and run each module of the bundle as its own stripped chunk, in bundle (dependency) order. */
export function measureModules(sources: Sources, app: string): ModuleCost[] {
  const modules = bundleModules(app);
  const compiler = new WasmLua({ version: "5.1" });
  const extra: Record<string, Uint8Array> = {};
  for (const m of modules) {
    extra[`mod/${m.name}.lc`] = stripChunk(compiler.compile(m.body, `@${m.name}`));
  }
  compiler.close();
  const { lua } = baselineState({ ...sources, extra });
  lua.run(
    `local loaded = {}
     require = function(name) local v = loaded[name]; if v == nil then error("not loaded: " .. name) end; return v end
     function bench_mod_load(name) bench_chunk = assert(loadfile("mod/" .. name .. ".lc")) end
     function bench_mod_run(name) loaded[name] = bench_chunk(name); bench_chunk = nil end`,
    "=bench",
  );
  const out: ModuleCost[] = [];
  for (const m of modules) {
    const h0 = lua.heapBytes();
    lua.run(`bench_mod_load(${luaString(m.name)})`, "=bench");
    const h1 = lua.heapBytes();
    let kept = Number.NaN;
    if (m.name !== "nodemcu.main") {
      lua.run(`bench_mod_run(${luaString(m.name)})`, "=bench");
      kept = lua.heapBytes() - h0;
    }
    out.push({ module: m.name, loaded: h1 - h0, kept });
  }
  lua.close();
  return out;
}
