/**
 * npm run bench:firmware — how big the firmware is and how much Lua heap it
 * takes, on a real 32-bit Lua 5.1 (wasm32, like the ESP8266), driven through
 * the NodeMCU mock (test/lua/nodemcu_mock.lua).
 *
 * Prints the figures and writes them to build/bench-firmware.json:
 *   - bytes of each file in firmware/dist as source and as `luac5.1 -s`
 *     bytecode (desktop luac: 64-bit format, size only), the wasm32 `.lc`
 *     as the device would hold it, and the bytes of lualib inside app.lua;
 *   - Lua heap as the delta over a baseline state that already holds the mock
 *     and the sources: code loaded (with debug info / stripped), the app
 *     started and connected, after 100,000 sampling ticks with config changes
 *     and broker outages, the maximum during the run and the growth from
 *     tick 10,000 to 100,000;
 *   - where it goes: each module's code and load-time data, and the
 *     run-time data of the node object, field by field.
 *   - the same run from LFS: the modules of lfs.img loaded before the
 *     baseline (code in flash), so only the app's data counts: steady state,
 *     peaks (boot, config change, full buffer/reconnect) and growth.
 * Ends with a one-line verdict against the LFS targets (12 KB steady, 20 KB
 * at every peak, no growth) and exits 1 when they are missed.
 *
 * Heap figures are Lua's own accounting (collectgarbage("count")) after a
 * full collection; the ESP8266 allocator adds its per-block overhead on top.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { moduleChunks, readLfsImage } from "../firmware/lfs";
import { buildFirmware } from "./build-firmware";
import { allProtos, parseChunk, stripChunk } from "../firmware/lfs/lua51-chunk";
import { luaString, WasmLua } from "../common/wasm-lua";
import { nodemcuModuleSources } from "../device/lua-vm";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "firmware", "dist");
const mockPath = process.env.ESPFLEET_NODEMCU_MOCK ?? join(root, "test", "lua", "nodemcu_mock.lua");
const commonPath = join(root, "device", "lua", "nodemcu_common.lua");
const outFile = join(root, "build", "bench-firmware.json");

/** Goal without LFS (the .lc fallback): steady-state heap of the whole firmware, in KB. */
const GOAL_KB = 20;
/** Targets from LFS (issue 10): steady state and every peak (boot, config change, full buffer, reconnect), in KB. */
const LFS_STEADY_KB = 12;
const LFS_PEAK_KB = 20;
/** Growth from tick 10,000 to 100,000 still counted as "no growth" (interned strings, table slack). */
const GROWTH_TOLERANCE_BYTES = 512;

const TICKS = 100_000;
const GROWTH_FROM_TICK = 10_000;
/** A config_change every this many ticks, alternating interval_ms and sensitivity. */
const CONFIG_EVERY = 1_000;
/** The broker goes away for OFFLINE_TICKS every OFFLINE_EVERY ticks (the buffer fills and overflows). */
const OFFLINE_EVERY = 5_000;
const OFFLINE_TICKS = 200;
/** Live heap (after a full collection) is sampled this often for the maximum. */
const SAMPLE_EVERY = 10;
const NODE_ID = "bench-1";
/** Ticks run before the live objects are walked (past one outage and four config changes). */
const WALK_TICKS = 3_000;
const CONFIG_JSON = JSON.stringify({ node_id: NODE_ID, interval_ms: 1000, buffer_capacity: 50 });

/** Strings pinned in the baseline so the string table has a fixed size (see setupLua). */
const STRTAB_PAD = 4096;

const KB = 1024;
const kb = (bytes: number): string => (bytes / KB).toFixed(1);
const num = (n: number): string => n.toLocaleString("en-US");

// ---------------------------------------------------------------------------
// Sizes

interface FileSize {
  file: string;
  sourceBytes: number;
  /** `luac5.1 -s` on this machine (64-bit size_t): size only, the device cannot load it. */
  luacStrippedBytes: number | undefined;
  /** string.dump in wasm32 Lua 5.1: what `node.compile` on the device produces. */
  wasmLcBytes: number | undefined;
  /** The same, stripped as `luac -s`. */
  wasmLcStrippedBytes: number | undefined;
}

function luacStripped(path: string, scratch: string): number | undefined {
  const out = join(scratch, "out.luac");
  try {
    execFileSync("luac5.1", ["-s", "-o", out, path], { stdio: ["ignore", "ignore", "pipe"] });
    return statSync(out).size;
  } catch {
    return undefined;
  }
}

/** Bytes of the `["lualib_bundle"] = function(...) ... end,` section of a TSTL bundle. */
function lualibSectionBytes(app: string): number {
  const start = app.indexOf('["lualib_bundle"] = function(...)');
  if (start < 0) {
    return 0;
  }
  const end = app.indexOf("\n end,\n", start);
  return Buffer.byteLength(app.slice(start, end < 0 ? app.length : end + "\n end,".length));
}

/** The modules of a TSTL bundle, by name, each as the body of its `function(...)`. */
function bundleModules(app: string): { name: string; body: string }[] {
  const out: { name: string; body: string }[] = [];
  const re = /^\["([^"]+)"\] = function\(\.\.\.\) \n([\s\S]*?)\n end,$/gm;
  for (const m of app.matchAll(re)) {
    out.push({ name: m[1] as string, body: m[2] as string });
  }
  return out;
}

// ---------------------------------------------------------------------------
// Heap

/** The modules of an LFS image, decoded as the device's loader does, as standard chunks this Lua loads. */
function lfsModulesOf(imagePath: string): Map<string, Uint8Array> {
  if (!existsSync(imagePath)) {
    throw new Error(`${imagePath} is missing: npm run build:firmware writes it`);
  }
  return moduleChunks(readLfsImage(new Uint8Array(readFileSync(imagePath))));
}

/** Lua run in every state before the baseline: the mock, a seeded file system, the tick driver. */
function setupLua(): string {
  return String.raw`
local M = assert(loadfile("nodemcu_mock.lua"))()
sim = M.install({ json = "pure" })
-- dofile/loadfile read the sources given to the state, whatever the mock defines.
dofile, loadfile = __wasm.dofile, __wasm.loadfile
print = function() end
-- Files are in flash (SPIFFS) on the device, not on the heap; the mock keeps
-- their contents in Lua strings. Every figure leaves those bytes out (a
-- string header and a name each), as the virtual device does (device/lua,
-- fs_bytes): collectgarbage("count") here, and so __wasm's heap(), report
-- the heap without them.
do
  local raw = collectgarbage
  local files = sim.files
  collectgarbage = function(opt, arg)
    if opt == "count" then
      local n = 0
      for name, data in pairs(files) do n = n + #name + #data + 34 end
      return raw("count") - n / 1024
    end
    return raw(opt, arg)
  end
end
sim.files["config.json"] = ${luaString(CONFIG_JSON)}
-- The app finds its cold code (cfg.lc) on the mock's flash, as on the device.
sim.files["cfg.lc"] = __wasm.sources["cfg.lc"]

-- LFS: the modules of lfs.img, loaded before the baseline is taken, as code
-- and constants in flash are on the device: only what running them makes
-- (closures, tables, strings built at run time) is counted.
if __wasm.sources["lfs:app"] then
  local loaded, names = {}, {}
  for key, chunk in pairs(__wasm.sources) do
    if key:sub(1, 4) == "lfs:" then
      loaded[key:sub(5)] = assert(loadstring(chunk, "=" .. key:sub(5)))
      names[#names + 1] = key:sub(5)
    end
  end
  table.sort(names)
  node.LFS = {
    get = function(name) return loaded[name] end,
    list = function() local t = {}; for i = 1, #names do t[i] = names[i] end; return t end,
  }
end

-- Reachable heap (a full GC first: the device's emergency GC frees garbage
-- before it fails an allocation) at the two moments the config code is in use
-- on top of the app: at boot, when start() writes the boot counter (the whole
-- app chunk is still loaded then, and the config schema built), and during
-- each config change, when the new config.json is written.
bench_peaks = { boot = 0, change = 0 }
do
  local open, collect = file.open, collectgarbage
  file.open = function(name, mode)
    if name == "boot.txt.new" or name == "config.json.new" then
      collect("collect")
      local kb = collect("count")
      local key = name == "boot.txt.new" and "boot" or "change"
      if kb > bench_peaks[key] then bench_peaks[key] = kb end
    end
    return open(name, mode)
  end
end

-- Counters of the run; every key exists before the baseline so the run adds none.
bench = { tick = 0, interval = 1000, data = 0, acks = 0, status = 0, events = 0, dropped_events = 0,
  changes = 0, outages = 0, max_live = 0, max_live_tick = 0, live = 0, stopped = false, max_tick_garbage = 0, max_peak = 0, samples = 0 }

local floor, find, collect = math.floor, string.find, collectgarbage
local DATA, ACK, EVENT, STATUS = "^sensor_data", "^config_ack/", "^event/", "^status/"

function bench_connected()
  local p = sim.broker.published
  for i = 1, #p do
    if find(p[i].topic, STATUS) and find(p[i].payload, '"online"', 1, true) then return true end
  end
  return false
end

-- The mock's own logs (when it keeps them), emptied in place so they do not grow.
local function clear(t) if type(t) == "table" then for i = #t, 1, -1 do t[i] = nil end end end

local function drain()
  clear(sim.dht_log); clear(sim.console); clear(sim.broker.connects); clear(sim.wifi and sim.wifi.events)
  local p = sim.broker.published
  for i = #p, 1, -1 do
    local m = p[i]
    local topic = m.topic
    if find(topic, DATA) then bench.data = bench.data + 1
    elseif find(topic, ACK) then bench.acks = bench.acks + 1
    elseif find(topic, STATUS) then bench.status = bench.status + 1
    elseif find(topic, EVENT) then
      bench.events = bench.events + 1
      if find(m.payload, "readings_dropped", 1, true) then bench.dropped_events = bench.dropped_events + 1 end
    end
    p[i] = nil
  end
end

-- One tick is one sampling interval of virtual time.
function bench_ticks(from, to)
  local d = sim.sensors.dht
  for t = from, to do
    if t % ${CONFIG_EVERY} == ${CONFIG_EVERY / 2} then
      local k = floor(t / ${CONFIG_EVERY})
      local body
      if k % 2 == 0 then
        bench.interval = (k / 2) % 2 == 0 and 500 or 1000
        body = '{"interval_ms":' .. bench.interval .. ',"req":"r' .. k .. '"}'
      else
        body = '{"sensitivity":' .. (((k - 1) / 2) % 2 == 0 and "0.5" or "0") .. ',"req":"r' .. k .. '"}'
      end
      sim.broker.deliver("config_change", body)
      bench.changes = bench.changes + 1
    end
    local phase = t % ${OFFLINE_EVERY}
    if phase == ${OFFLINE_EVERY / 2 - OFFLINE_EVERY / 10} then
      sim.broker.up = false
      sim.broker.drop()
      bench.outages = bench.outages + 1
    elseif phase == ${OFFLINE_EVERY / 2 - OFFLINE_EVERY / 10 + OFFLINE_TICKS} then
      sim.broker.up = true
    end
    d.temp = 20 + (t % 7) * 0.3
    d.humi = 40 + (t % 5) * 0.7
    sim.advance(bench.interval)
    if bench.stopped then
      -- The GC was stopped after the last sample: everything this tick made is still there.
      local peak = collect("count")
      collect("restart")
      bench.stopped = false
      if peak - bench.live > bench.max_tick_garbage then bench.max_tick_garbage = peak - bench.live end
      if peak > bench.max_peak then bench.max_peak = peak end
    end
    drain()
    if t % ${SAMPLE_EVERY} == 0 then
      collect("collect")
      local live = collect("count")
      bench.live = live
      bench.samples = bench.samples + 1
      if live > bench.max_live then bench.max_live, bench.max_live_tick = live, t end
      collect("stop")
      bench.stopped = true
    end
    bench.tick = t
  end
end

-- A string table that the app's strings do not resize. Lua 5.1 doubles its
-- bucket array (4 B each) when the strings outnumber the buckets and halves
-- it at a GC when they are fewer than a quarter: with ${STRTAB_PAD} pinned strings
-- on top of the mock's, the table settles at 16,384 buckets with room for
-- thousands more, so the deltas do not jump by a doubling that depends on how
-- many strings the mock happens to have. (The app's share of the device's
-- string table is estimated separately.)
bench_pad = {}
for i = 1, ${STRTAB_PAD} do bench_pad[i] = "pad" .. i end
do local grow = {}; for i = 1, 16384 do grow[i] = "grow" .. i end end
for _ = 1, 6 do collectgarbage("collect") end
`;
}

interface Sources {
  appLua: string;
  appLc: Uint8Array;
  /** The cold code as shipped; undefined for a build without it. */
  cfgLc: Uint8Array | undefined;
  mock: string;
  extra: Record<string, string | Uint8Array>;
  /** The modules of lfs.img as standard chunks (the app then runs from LFS); undefined: run from the files. */
  lfs?: Map<string, Uint8Array>;
}

/** A fresh wasm32 Lua 5.1 with the sources and the mock loaded; returns it and its heap. */
function baselineState(sources: Sources): { lua: WasmLua; base: number } {
  const lua = new WasmLua({ version: "5.1", print: "discard" });
  lua.addSource("app.lua", sources.appLua);
  lua.addSource("app.lc", sources.appLc);
  if (sources.cfgLc !== undefined) {
    lua.addSource("cfg.lc", sources.cfgLc);
  }
  lua.addSource("nodemcu_mock.lua", sources.mock);
  // The mock loads the NodeMCU modules it shares with the virtual device (device/lua) from these sources.
  lua.addSource("nodemcu_common.lua", readFileSync(commonPath, "utf8"));
  for (const [name, text] of nodemcuModuleSources()) {
    lua.addSource(name, text);
  }
  for (const [name, contents] of Object.entries(sources.extra)) {
    lua.addSource(name, contents);
  }
  for (const [name, chunk] of sources.lfs ?? []) {
    lua.addSource("lfs:" + name, chunk);
  }
  lua.run(setupLua(), "=bench-setup");
  return { lua, base: lua.heapBytes() };
}

function loadedOnly(sources: Sources, file: string): number {
  const { lua, base } = baselineState(sources);
  lua.run(`bench_f = assert(loadfile(${luaString(file)}))`, "=bench");
  const delta = lua.heapBytes() - base;
  lua.close();
  return delta;
}

/** Start the app from `file` ("LFS": node.LFS.get("app"), as init.lua does), bring wifi and MQTT up; the state is left running. */
function startApp(sources: Sources, file: string): { lua: WasmLua; base: number; connected: number } {
  const { lua, base } = baselineState(sources);
  lua.run(file === "LFS" ? `assert(node.LFS.get("app"), "no app in LFS")()` : `dofile(${luaString(file)})`, "=bench");
  const [ok] = lua.run(
    `sim.wifi_up()
     for _ = 1, 100 do
       sim.advance(100)
       if bench_connected() then return true end
     end
     return false`,
    "=bench",
  );
  if (ok !== "true") {
    lua.close();
    throw new Error(`bench: the app (${file}) did not connect to the mock broker within 10 s of virtual time`);
  }
  lua.run(`local p = sim.broker.published; for i = #p, 1, -1 do p[i] = nil end`, "=bench");
  return { lua, base, connected: lua.heapBytes() - base };
}

interface RunResult {
  startedConnected: number;
  afterRun: number;
  maxLive: number;
  maxLiveTick: number;
  /** Most garbage one tick made (GC stopped during the tick), bytes. */
  maxTickGarbage: number;
  /** Highest live-before-tick + that tick's garbage, over baseline. */
  maxPeak: number;
  /** Reachable at boot with the bundled config code still held, over baseline. */
  bootPeak: number;
  /** Most reachable while a config change was handled (cfg.lc loaded, its schema built), over baseline. */
  changePeak: number;
  atGrowthStart: number;
  growth: number;
  checkpoints: { tick: number; bytes: number }[];
  counters: Record<string, number>;
  seconds: number;
}

function runTicks(sources: Sources, file: string): RunResult {
  const t0 = performance.now();
  const { lua, base, connected } = startApp(sources, file);
  const checkpoints: { tick: number; bytes: number }[] = [];
  const step = TICKS / 10;
  for (let from = 1; from <= TICKS; from += step) {
    const to = from + step - 1;
    lua.run(`bench_ticks(${from}, ${to}); bench.stopped = false; collectgarbage("restart")`, "=bench");
    checkpoints.push({ tick: to, bytes: lua.heapBytes() - base });
  }
  const names = ["data", "acks", "status", "events", "dropped_events", "changes", "outages", "samples", "max_live", "max_live_tick", "max_tick_garbage", "max_peak"];
  const values = lua.run(`return ${names.map((n) => `bench.${n}`).join(", ")}`, "=bench").map(Number);
  const [bootPeak, changePeak] = lua.run("return bench_peaks.boot, bench_peaks.change", "=bench").map(Number);
  const counters: Record<string, number> = {};
  names.forEach((n, i) => (counters[n] = values[i] as number));
  lua.close();
  const at = (tick: number): number => {
    const c = checkpoints.find((x) => x.tick === tick);
    if (c === undefined) {
      throw new Error(`no checkpoint at tick ${tick}`);
    }
    return c.bytes;
  };
  const afterRun = at(TICKS);
  return {
    startedConnected: connected,
    afterRun,
    maxLive: Math.max((counters.max_live as number) * KB - base, connected, ...checkpoints.map((c) => c.bytes)),
    maxLiveTick: counters.max_live_tick as number,
    maxTickGarbage: (counters.max_tick_garbage as number) * KB,
    maxPeak: (counters.max_peak as number) * KB - base,
    bootPeak: (bootPeak as number) * KB - base,
    changePeak: (changePeak as number) * KB - base,
    atGrowthStart: at(GROWTH_FROM_TICK),
    growth: afterRun - at(GROWTH_FROM_TICK),
    checkpoints,
    counters,
    seconds: (performance.now() - t0) / 1000,
  };
}

// ---------------------------------------------------------------------------
// Where the heap goes

/*
 * Sizes of Lua 5.1 objects on a 32-bit target with double numbers (lobject.h
 * on wasm32, the same layout as the ESP8266 build): used to attribute the
 * measured totals to functions and tables. Estimates; the totals are measured.
 */
const SZ = { proto: 76, instruction: 4, tvalue: 16, protoRef: 4, string: 17, closure: 20, closureUpval: 4, upval: 32, table: 32, node: 32 };

interface FunctionCost {
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

function functionCosts(app: string, chunk: Uint8Array): FunctionCost[] {
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

interface ModuleCost {
  module: string;
  /** Measured: its chunk (stripped) loaded, not run. */
  loaded: number;
  /** Measured: after running it (the top-level function is garbage then): kept code + load-time data. */
  kept: number;
}

/** Load and run each module of the bundle as its own stripped chunk, in bundle (dependency) order. */
function measureModules(sources: Sources, app: string): ModuleCost[] {
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

/**
 * Walks the live objects of the running app and attributes them: first the
 * data under each field of the node object (tables and strings, not
 * crossing into functions), then everything else reachable from _G and the
 * registry (functions with their prototypes and upvalues, module tables,
 * the callbacks the mock's timers and client hold). Objects present before
 * the app started are skipped. Runs on the app loaded from source: stripped
 * code has no upvalue names, and debug.getupvalue cannot see upvalues
 * without them. Prototype sizes are those of the stripped code.
 */
const WALKER = String.raw`
local SZ = ${JSON.stringify(SZ).replace(/"(\w+)":/g, "$1=")}
local next, type, rawget, getinfo, getupvalue, getmetatable = next, type, rawget, debug.getinfo, debug.getupvalue, debug.getmetatable
local seen, upseen, protoseen = {}, {}, {}
-- Objects (and upvalues) that existed before the app: traversed, never counted.
local old, oldup, marking = {}, {}, false
local acct, dataonly = nil, false
-- Functions and metatables met by a data-only walk, for the next full walk.
local pending = {}
local function ceilpow2(n) local p = 1; while p < n do p = p * 2 end; return p end
local function tablesize(t)
  local narr = 0
  while rawget(t, narr + 1) ~= nil do narr = narr + 1 end
  local total = 0
  for _ in next, t do total = total + 1 end
  local nhash = total - narr
  return SZ.table + (narr > 0 and ceilpow2(narr) or 0) * SZ.tvalue + (nhash > 0 and ceilpow2(nhash) or 0) * SZ.node
end
local function add(kind, bytes) if acct then acct[kind] = acct[kind] + bytes end end
-- Returns the bytes first reached through v: all of them, and those not reached through a function.
local function walk(v, path)
  local tv = type(v)
  if tv == "string" then
    if seen[v] then return 0, 0 end
    seen[v] = true
    if marking then old[v] = true; return 0, 0 end
    if old[v] then return 0, 0 end
    add("strings", SZ.string + #v)
    add("nstrings", 1)
    return SZ.string + #v, SZ.string + #v
  end
  if (tv ~= "table" and tv ~= "function") or seen[v] then return 0, 0 end
  if tv == "function" and dataonly then pending[#pending + 1] = { v, path }; return 0, 0 end
  seen[v] = true
  if marking then old[v] = true end
  local counted = not old[v]
  if tv == "table" then
    local own = counted and tablesize(v) or 0
    add("tables", own)
    local all, data = own, own
    for k, x in next, v do
      local a1, d1 = walk(k, path)
      local a2, d2 = walk(x, type(k) == "string" and path .. "." .. k or path .. "[]")
      all, data = all + a1 + a2, data + d1 + d2
    end
    local mt = getmetatable(v)
    if mt and dataonly then pending[#pending + 1] = { mt, path .. "<mt>" } end
    if mt and not dataonly then
      local a, d = walk(mt, path .. "<mt>")
      all, data = all + a, data + d
    end
    if acct and counted and data >= 256 then acct.items[#acct.items + 1] = path .. "\t" .. data end
    return all, data
  end
  local info = getinfo(v, "Su")
  -- C functions hold nothing of the app's; this walker's own tables are not the app's.
  if info.what == "C" or info.source == "=bench-walker" then return 0, 0 end
  local all = counted and SZ.closure + SZ.closureUpval * info.nups or 0
  add("closures", all)
  local key = info.linedefined .. ":" .. info.lastlinedefined
  if counted and info.source == "@app.lua" and not protoseen[key] then
    protoseen[key] = true
    local p = bench_protos[key] or 0
    add("code", p)
    if acct then acct.protos[#acct.protos + 1] = key end
    all = all + p
  end
  for i = 1, info.nups do
    local name, value = getupvalue(v, i)
    local id = tostring(name) .. "=" .. tostring(value)
    if marking then oldup[id] = true end
    if not upseen[id] then
      upseen[id] = true
      if not oldup[id] then
        add("upvalues", SZ.upval)
        all = all + SZ.upval
      end
      all = all + walk(value, tostring(name))
    end
  end
  -- (Environments are all _G, walked as a root of its own.)
  return all, 0
end
function bench_walk_baseline()
  marking = true
  walk(_G, "_G"); walk(debug.getregistry(), "registry")
  marking = false
  seen, upseen = {}, {}
end
function bench_walk(root, path, onlydata)
  acct = { tables = 0, strings = 0, nstrings = 0, closures = 0, upvalues = 0, code = 0, items = {}, protos = {} }
  dataonly = onlydata
  local total = 0
  if not onlydata then
    for i = 1, #pending do total = total + walk(pending[i][1], pending[i][2]) end
    pending = {}
  end
  total = total + walk(root, path)
  local a = acct
  acct, dataonly = nil, false
  return total, a.tables, a.strings, a.closures, a.upvalues, a.code, table.concat(a.items, "\n"), table.concat(a.protos, " "), a.nstrings
end
`;

interface WalkGroup {
  root: string;
  total: number;
  tables: number;
  strings: number;
  closures: number;
  upvalues: number;
  code: number;
  /** Strings first reached here (data, not constants of the code). */
  stringCount: number;
}

interface LiveWalk {
  groups: WalkGroup[];
  /** Tables by the bytes of data under them (tables and strings, not through functions). */
  tables: { path: string; bytes: number }[];
  /** "line:lastline" of the functions alive. */
  aliveProtos: Set<string>;
  measured: number;
}

/** Run the app from source for `ticks`, then attribute its live objects (estimates). */
function walkLiveObjects(sources: Sources, functions: FunctionCost[], ticks: number): LiveWalk {
  const { lua } = baselineState(sources);
  // Prototype sizes by "linedefined:lastlinedefined" in app.lua: stripped, strings included.
  const protoTable = functions.map((f) => `["${f.line}:${f.lastLine}"]=${f.bytes + f.stringBytes}`).join(",");
  lua.run(`bench_protos = {${protoTable}}\n${WALKER}`, "=bench-walker");
  lua.run(`bench_walk_baseline()`, "=bench");
  const base = lua.heapBytes();
  lua.run(`dofile("app.lua"); sim.wifi_up(); sim.advance(2000); bench_ticks(1, ${ticks}); bench.stopped = false; collectgarbage("restart")`, "=bench");
  const measured = lua.heapBytes() - base;
  const roots: [string, string, boolean][] = [];
  const fields = lua.run(`local t = {}; for k in pairs(espfleet_node) do t[#t + 1] = k end; table.sort(t); return table.concat(t, " ")`)[0] ?? "";
  for (const f of fields.split(" ").filter((x) => x !== "")) {
    roots.push([`node.${f} (data)`, `espfleet_node[${luaString(f)}]`, true]);
  }
  roots.push(["node object's own table", "espfleet_node", true]);
  roots.push(["sim (data the mock keeps for the app: timers, client, files)", "sim", true]);
  roots.push(["the node's code: class methods, callbacks, module tables they use", "getmetatable(espfleet_node)", false]);
  roots.push(["everything else reachable from _G", "_G", false]);
  roots.push(["everything else, from the registry", "debug.getregistry()", false]);
  const groups: WalkGroup[] = [];
  const tables: { path: string; bytes: number }[] = [];
  const aliveProtos = new Set<string>();
  for (const [label, expr, dataOnly] of roots) {
    const path = label.split(" ")[0] as string;
    const [total, t, str, closures, upvalues, code, items, protos, nstrings] = lua.run(`return bench_walk(${expr}, ${luaString(path)}, ${dataOnly})`, "=bench");
    groups.push({ root: label, total: Number(total), tables: Number(t), strings: Number(str), closures: Number(closures), upvalues: Number(upvalues), code: Number(code), stringCount: Number(nstrings) });
    for (const line of (items ?? "").split("\n").filter((x) => x !== "")) {
      const [p, bytes] = line.split("\t");
      tables.push({ path: p ?? "", bytes: Number(bytes) });
    }
    for (const key of (protos ?? "").split(" ").filter((x) => x !== "")) {
      aliveProtos.add(key);
    }
  }
  lua.close();
  tables.sort((x, y) => y.bytes - x.bytes);
  return { groups, tables, aliveProtos, measured };
}

// ---------------------------------------------------------------------------
// Output

function table(rows: string[][], align: ("l" | "r")[]): string {
  const widths = align.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows
    .map((r) => r.map((cell, i) => (align[i] === "r" ? cell.padStart(widths[i] as number) : cell.padEnd(widths[i] as number))).join("  ").trimEnd())
    .join("\n");
}

function indent(text: string, n: number): string {
  return text
    .split("\n")
    .map((l) => " ".repeat(n) + l)
    .join("\n");
}

function main(): void {
  const t0 = performance.now();
  const built = buildFirmware();
  const appLua = readFileSync(join(dist, "app.lua"), "utf8");
  if (!existsSync(mockPath)) {
    process.stderr.write(`bench:firmware: the NodeMCU mock ${mockPath} does not exist\n`);
    process.exit(1);
  }
  const mock = readFileSync(mockPath, "utf8");

  // Compile in wasm32 Lua 5.1, the device's format; strip as luac -s.
  const compiler = new WasmLua({ version: "5.1" });
  const scratch = mkdtempSync(join(tmpdir(), "bench-firmware-"));
  const files: FileSize[] = [];
  const shipped: Record<string, Uint8Array> = {};
  let appLcFull: Uint8Array | undefined;
  for (const name of readdirSync(dist).sort()) {
    const path = join(dist, name);
    const sourceBytes = statSync(path).size;
    if (name.endsWith(".lc")) {
      // What the device runs (NodeMCU's layout), back in the stock layout for this Lua: the same code byte for byte.
      const stock = stripChunk(new Uint8Array(readFileSync(path)), "nodemcu");
      const expected = stripChunk(compiler.compile(readFileSync(path.replace(/\.lc$/, ".lua"), "utf8"), "@" + name.replace(/\.lc$/, ".lua")));
      if (!Buffer.from(stock).equals(Buffer.from(expected))) {
        throw new Error(`firmware/dist/${name} is not the compiled ${name.replace(/\.lc$/, ".lua")}`);
      }
      shipped[name] = stock;
      files.push({ file: `${name} (shipped, NodeMCU layout)`, sourceBytes, luacStrippedBytes: undefined, wasmLcBytes: undefined, wasmLcStrippedBytes: undefined });
      continue;
    }
    if (!name.endsWith(".lua")) {
      files.push({ file: name, sourceBytes, luacStrippedBytes: undefined, wasmLcBytes: undefined, wasmLcStrippedBytes: undefined });
      continue;
    }
    const full = compiler.compile(readFileSync(path, "utf8"), "@" + name);
    const stripped = stripChunk(full);
    if (name === "app.lua") {
      appLcFull = full;
    }
    files.push({ file: name, sourceBytes, luacStrippedBytes: luacStripped(path, scratch), wasmLcBytes: full.length, wasmLcStrippedBytes: stripped.length });
  }
  compiler.close();
  rmSync(scratch, { recursive: true, force: true });
  if (appLcFull === undefined) {
    throw new Error("firmware/dist/app.lua missing after the build");
  }
  // (A build that ships no .lc files: the bench compiles app.lua as the device would.)
  const appLc = shipped["app.lc"] ?? stripChunk(appLcFull);
  const cfgLc = shipped["cfg.lc"];
  const lualibBytes = lualibSectionBytes(appLua);
  const protos = allProtos(parseChunk(appLcFull).main);

  const sources: Sources = { appLua, appLc, cfgLc, mock, extra: {} };
  const loadedDebug = loadedOnly(sources, "app.lua");
  const loadedStripped = loadedOnly(sources, "app.lc");
  const loadedCfg = sources.cfgLc !== undefined ? loadedOnly(sources, "cfg.lc") : Number.NaN;
  const fromSource = startApp(sources, "app.lua");
  fromSource.lua.close();
  const { base: baselineBytes, lua: probe } = baselineState(sources);
  probe.close();
  const run = runTicks(sources, "app.lc");
  const lfsRun = runTicks({ ...sources, lfs: lfsModulesOf(join(dist, "lfs.img")) }, "LFS");
  const functions = functionCosts(appLua, appLcFull);
  const modules = measureModules(sources, appLua);
  const live = walkLiveObjects(sources, functions, WALK_TICKS);

  // ---- print
  const out: string[] = [];
  const say = (line = ""): number => out.push(line);
  say(`espfleet firmware benchmark (firmware/dist, built now: app.lua ${num(built.appBytes)} B)`);
  say();
  say("Sizes, bytes");
  const sizeRows = [["file", "source", "luac5.1 -s (64-bit)", "wasm32 .lc", "wasm32 .lc -s"]];
  for (const f of files) {
    const b = (n: number | undefined): string => (n === undefined ? "-" : num(n));
    sizeRows.push([f.file, b(f.sourceBytes), b(f.luacStrippedBytes), b(f.wasmLcBytes), b(f.wasmLcStrippedBytes)]);
  }
  sizeRows.push(['lualib in app.lua (["lualib_bundle"] section)', num(lualibBytes), "", "", ""]);
  say(table(sizeRows, ["l", "r", "r", "r", "r"]));
  say(`  ${protos.length} functions in app.lua, ${num(protos.reduce((n, p) => n + p.sizeCode, 0))} instructions, ${num(protos.reduce((n, p) => n + p.constants.length, 0))} constants.`);
  say("  luac5.1 -s is the desktop compiler's 64-bit format (size only); the wasm32 .lc is the device's format (4-byte int/size_t).");
  say();
  say(`Lua heap, wasm32 Lua 5.1, KB (1 KB = 1,024 B), after a full GC, as the delta over a baseline state`);
  say(`holding the NodeMCU mock (${mockPath.startsWith(root) ? mockPath.slice(root.length + 1) : mockPath}), the bench driver and the file contents (baseline ${kb(baselineBytes)} KB).`);
  const c = run.counters;
  const heapRows = [
    ["(a) app.lua loaded, not run, with debug info", kb(loadedDebug), "function prototypes: code, constants, line info, local/upvalue names"],
    ["(b) app.lc loaded, not run, stripped (luac -s)", kb(loadedStripped), "function prototypes: code and constants only"],
    ["    cfg.lc loaded, not run, stripped", Number.isNaN(loadedCfg) ? "-" : kb(loadedCfg), "the cold code, loaded from flash for each config change (on top of the steady state)"],
    ["(c) started, wifi up, MQTT connected (app.lc)", kb(run.startedConnected), `the whole running app; from app.lua source: ${kb(fromSource.connected)} KB`],
    [`(d) after ${num(TICKS)} ticks`, kb(run.afterRun), "steady state: same, with buffered readings and config as they stand"],
    ["(e) maximum during the run", kb(run.maxLive), `live heap, full GC every ${SAMPLE_EVERY} ticks; highest at tick ${num(run.maxLiveTick)}`],
    ["(g) peak at boot (reachable)", kb(run.bootPeak), "while start() writes the boot counter: all of app.lc loaded, the config schema built"],
    ["(h) peak during a config change (reachable)", kb(run.changePeak), "the most over the run, while config.json is written: the config code in use on top of the steady state"],
    [`(f) growth, tick ${num(GROWTH_FROM_TICK)} -> ${num(TICKS)}`, (run.growth >= 0 ? "+" : "") + kb(run.growth), `${run.growth >= 0 ? "+" : ""}${num(run.growth)} B`],
  ];
  say(table(heapRows, ["l", "r", "l"]));
  say(`  live heap every ${num(TICKS / 10)} ticks, KB: ${run.checkpoints.map((x) => kb(x.bytes)).join(" ")}`);
  const constStrings = functions.reduce((n, f) => n + f.stringCount, 0);
  const dataStrings = live.groups.reduce((n, g) => n + g.stringCount, 0);
  const appStrings = constStrings + dataStrings;
  say(
    `  not included: the device's string-table buckets for the app's ~${num(appStrings)} strings (${num(constStrings)} constants, up to ${num(dataStrings)} made at run time), ` +
      `4 B each in a power-of-two array: +${kb(appStrings * 4)} to +${kb(appStrings * 8)} KB.`,
  );
  say(
    `  garbage: the most one tick made was ${kb(run.maxTickGarbage)} KB (GC stopped for every ${SAMPLE_EVERY}th tick; live + that: ${kb(run.maxPeak)} KB); ` +
      "much of it is the mock's (pure-Lua JSON, event records) where the device's sjson is C.",
  );
  say(
    `  the run: ${num(TICKS)} ticks (one sampling interval each, 500 or 1000 ms) in ${run.seconds.toFixed(1)} s; ` +
      `${num(c.changes as number)} config changes (${num(c.acks as number)} acked), ${num(c.outages as number)} broker outages of ${OFFLINE_TICKS} ticks, ` +
      `${num(c.data as number)} readings published, ${num(c.dropped_events as number)} readings_dropped events.`,
  );
  say();
  say("Where it goes (wasm32 Lua 5.1; \"measured\" = heap deltas, the rest estimated from object sizes of lobject.h)");
  const estByModule = new Map<string, { bytes: number; count: number }>();
  for (const f of functions) {
    const e = estByModule.get(f.module) ?? { bytes: 0, count: 0 };
    e.bytes += f.bytes + f.stringBytes;
    e.count += 1;
    estByModule.set(f.module, e);
  }
  const modRows = [["module", "loaded, KB", "kept after run, KB", "code est., KB", "functions"]];
  for (const m of modules) {
    const e = estByModule.get(m.module);
    modRows.push([m.module, kb(m.loaded), Number.isNaN(m.kept) ? "(starts the app)" : kb(m.kept), e === undefined ? "-" : kb(e.bytes), e === undefined ? "-" : String(e.count)]);
  }
  const sumLoaded = modules.reduce((n, m) => n + m.loaded, 0);
  modRows.push(["all modules", kb(sumLoaded), "", kb(functions.reduce((n, f) => n + f.bytes + f.stringBytes, 0)), String(functions.length)]);
  say("  Code per module, each loaded as its own stripped chunk (measured): \"loaded\" = its function prototypes;");
  say("  \"kept\" = after running it, when its top-level function is garbage: the functions it defines + its tables.");
  say(indent(table(modRows, ["l", "r", "r", "r", "r"]), 4));
  say();
  const sum = (f: (x: FunctionCost) => number): number => functions.reduce((n, x) => n + f(x), 0);
  say(
    `  The code, stripped (est.): ${functions.length} prototypes x ${SZ.proto} B = ${kb(functions.length * SZ.proto)} KB, ` +
      `${num(sum((f) => f.instructions))} instructions x 4 B = ${kb(sum((f) => f.instructions) * SZ.instruction)} KB, ` +
      `${num(sum((f) => f.constants))} constant slots x 16 B = ${kb(sum((f) => f.constants) * SZ.tvalue)} KB ` +
      `(each function has its own: a name used in 10 functions takes 10 slots), ` +
      `${num(sum((f) => f.stringCount))} distinct strings = ${kb(sum((f) => f.stringBytes))} KB.`,
  );
  say("  Largest functions (stripped prototype + code + constants + strings first used there, est.):");
  const fnRows = [["function", "module", "line", "instr.", "const.", "bytes"]];
  for (const f of [...functions].sort((x, y) => y.bytes + y.stringBytes - (x.bytes + x.stringBytes)).slice(0, 15)) {
    fnRows.push([f.name, f.module, String(f.line), num(f.instructions), num(f.constants), num(f.bytes + f.stringBytes)]);
  }
  say(indent(table(fnRows, ["l", "l", "r", "r", "r", "r"]), 4));
  say();
  const walked = live.groups.reduce((n, g) => n + g.total, 0);
  say(`  Live objects after ${num(WALK_TICKS)} ticks, app.lua run from source: measured ${kb(live.measured)} KB with debug info;`);
  say(`  the walk, counting code as stripped, accounts for ${kb(walked)} KB (bytes):`);
  const gRows = [["first reached from", "total", "tables", "strings", "closures+upvalues", "code (stripped)"]];
  for (const g of live.groups.filter((x) => x.total > 0).sort((x, y) => y.total - x.total)) {
    gRows.push([g.root, num(g.total), num(g.tables), num(g.strings), num(g.closures + g.upvalues), num(g.code)]);
  }
  say(indent(table(gRows, ["l", "r", "r", "r", "r", "r"]), 4));
  const aliveByModule = new Map<string, number>();
  for (const f of functions) {
    if (live.aliveProtos.has(`${f.line}:${f.lastLine}`)) {
      aliveByModule.set(f.module, (aliveByModule.get(f.module) ?? 0) + f.bytes + f.stringBytes);
    }
  }
  say(`    code alive, by module (KB): ${[...aliveByModule.entries()].map(([m, b]) => `${m} ${kb(b)}`).join(", ")}`);
  say();
  say("  Largest tables by the data under them (tables and strings, not through functions; nested entries overlap):");
  say(indent(table([["path", "bytes"], ...live.tables.slice(0, 12).map((i) => [i.path, num(i.bytes)])], ["l", "r"]), 4));
  say();
  const steady = Math.max(run.afterRun, run.maxLive);
  const grows = run.growth > GROWTH_TOLERANCE_BYTES;
  const fits = steady <= GOAL_KB * KB;
  say(
    `without LFS (.lc files): steady-state heap ${kb(run.afterRun)} KB (max ${kb(run.maxLive)} KB) ` +
      `${fits ? "within" : `is ${kb(steady - GOAL_KB * KB)} KB over`} the ${GOAL_KB} KB goal; ` +
      `${grows ? "it grows" : "no growth"} (${run.growth >= 0 ? "+" : ""}${num(run.growth)} B from tick ${num(GROWTH_FROM_TICK)} to ${num(TICKS)}); no target.`,
  );
  say();
  say("Lua heap from LFS (lfs.img: code and constants in flash, only data on the heap), KB, same run:");
  const lfsPeaks: [string, number][] = [
    ["boot (start() writes the boot counter, config schema built)", lfsRun.bootPeak],
    ["config change (config.json written, cfg module in use)", lfsRun.changePeak],
    [`full buffer and reconnect (most live heap over the run, tick ${num(lfsRun.maxLiveTick)})`, lfsRun.maxLive],
  ];
  say(
    table(
      [
        ["started, wifi up, MQTT connected", kb(lfsRun.startedConnected)],
        [`steady state, after ${num(TICKS)} ticks`, kb(lfsRun.afterRun)],
        ...lfsPeaks.map(([what, bytes]): string[] => [`peak: ${what}`, kb(bytes)]),
        ["live + the most garbage one tick made (GC stopped)", kb(lfsRun.maxPeak)],
        [`growth, tick ${num(GROWTH_FROM_TICK)} -> ${num(TICKS)}`, `${lfsRun.growth >= 0 ? "+" : ""}${num(lfsRun.growth)} B`],
      ],
      ["l", "r"],
    ),
  );
  const lfsWorstPeak = Math.max(...lfsPeaks.map(([, bytes]) => bytes));
  const lfsGrows = lfsRun.growth > GROWTH_TOLERANCE_BYTES;
  const pass = lfsRun.afterRun <= LFS_STEADY_KB * KB && lfsWorstPeak <= LFS_PEAK_KB * KB && !lfsGrows;
  say(
    `VERDICT: ${pass ? "PASS" : "FAIL"}: from LFS ${kb(lfsRun.afterRun)} KB steady (target <= ${LFS_STEADY_KB}), ` +
      `${kb(lfsWorstPeak)} KB at the highest peak (target <= ${LFS_PEAK_KB}), ` +
      `${lfsGrows ? "grows" : "no growth"} (${lfsRun.growth >= 0 ? "+" : ""}${num(lfsRun.growth)} B, tolerance ${GROWTH_TOLERANCE_BYTES} B for string-table slack).`,
  );
  process.stdout.write(out.join("\n") + "\n");
  process.exitCode = pass ? 0 : 1;

  const json = {
    generatedAt: new Date().toISOString(),
    lua: "5.1 (wasm32, lua-wasm-bindings)",
    units: { sizes: "bytes", heap: "bytes (Lua collectgarbage('count') * 1024 after a full GC, delta over baseline)" },
    sizes: { files, lualibBytes, functions: protos.length },
    heap: {
      baselineBytes,
      loadedWithDebugInfo: loadedDebug,
      loadedStripped,
      cfgLoadedStripped: loadedCfg,
      startedConnected: run.startedConnected,
      startedConnectedFromSource: fromSource.connected,
      afterRun: run.afterRun,
      maxDuringRun: run.maxLive,
      maxDuringRunTick: run.maxLiveTick,
      peakLivePlusOneTickGarbage: run.maxPeak,
      bootPeakReachable: run.bootPeak,
      configChangePeakReachable: run.changePeak,
      maxGarbageOneTick: run.maxTickGarbage,
      atTick10000: run.atGrowthStart,
      growth10000to100000: run.growth,
      checkpoints: run.checkpoints,
    },
    breakdown: {
      modules,
      functions: [...functions].sort((x, y) => y.bytes + y.stringBytes - (x.bytes + x.stringBytes)),
      liveAfterTicks: WALK_TICKS,
      liveMeasured: live.measured,
      liveGroups: live.groups,
      liveTables: live.tables,
      aliveFunctions: functions.filter((f) => live.aliveProtos.has(`${f.line}:${f.lastLine}`)).map((f) => f.name),
    },
    run: { ticks: TICKS, configEvery: CONFIG_EVERY, offlineEvery: OFFLINE_EVERY, offlineTicks: OFFLINE_TICKS, counters: run.counters, seconds: run.seconds },
    stringTable: { constantStrings: constStrings, runtimeStrings: dataStrings, bytesLow: appStrings * 4, bytesHigh: appStrings * 8 },
    lfs: {
      startedConnected: lfsRun.startedConnected,
      afterRun: lfsRun.afterRun,
      maxDuringRun: lfsRun.maxLive,
      maxDuringRunTick: lfsRun.maxLiveTick,
      bootPeakReachable: lfsRun.bootPeak,
      configChangePeakReachable: lfsRun.changePeak,
      peakLivePlusOneTickGarbage: lfsRun.maxPeak,
      growth10000to100000: lfsRun.growth,
      checkpoints: lfsRun.checkpoints,
    },
    goal: { lcSteadyKb: GOAL_KB, lfsSteadyKb: LFS_STEADY_KB, lfsPeakKb: LFS_PEAK_KB, growthToleranceBytes: GROWTH_TOLERANCE_BYTES, pass },
    seconds: (performance.now() - t0) / 1000,
  };
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, JSON.stringify(json, null, 2) + "\n");
}

main();
