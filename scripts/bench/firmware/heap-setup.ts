/**
 * The Lua state every heap figure starts from: a wasm32 Lua 5.1 holding the
 * NodeMCU mock, the sources, a seeded file system, the bench's tick driver
 * and (for a run from LFS) the modules of lfs.img; its heap is the baseline
 * that the figures are deltas over.
 */
import { existsSync, readFileSync } from "node:fs";
import { moduleChunks, readLfsImage } from "../../../firmware/lfs";
import { luaString, WasmLua } from "../../../common/wasm-lua";
import { nodemcuModuleSources } from "../../../device/lua-vm";
import { commonPath, CONFIG_EVERY, CONFIG_JSON, OFFLINE_EVERY, OFFLINE_TICKS, SAMPLE_EVERY } from "./params";

/** Strings pinned in the baseline so the string table has a fixed size (see setupLua). */
const STRTAB_PAD = 4096;

/** The modules of an LFS image, decoded as the device's loader does, as standard chunks this Lua loads. */
export function lfsModulesOf(imagePath: string): Map<string, Uint8Array> {
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

export interface Sources {
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
export function baselineState(sources: Sources): { lua: WasmLua; base: number } {
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
