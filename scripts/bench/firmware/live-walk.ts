/**
 * The live-object walk: what the running app keeps on the heap, first
 * reached from each field of the node object, its code, the mock's data and
 * the rest of _G and the registry; and the largest tables by the data under
 * them.
 */
import { luaString } from "../../../common/wasm-lua";
import { SZ, type FunctionCost } from "./costs";
import { baselineState, type Sources } from "./heap-setup";

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

export interface WalkGroup {
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

export interface LiveWalk {
  groups: WalkGroup[];
  /** Tables by the bytes of data under them (tables and strings, not through functions). */
  tables: { path: string; bytes: number }[];
  /** "line:lastline" of the functions alive. */
  aliveProtos: Set<string>;
  measured: number;
}

/** Run the app from source for `ticks`, then attribute its live objects (estimates). */
export function walkLiveObjects(sources: Sources, functions: FunctionCost[], ticks: number): LiveWalk {
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

/**
 * The app's strings, for its share of the device's string table: the
 * constants of its code and, at most, the strings the walk found made at
 * run time.
 */
export function appStrings(functions: FunctionCost[], live: LiveWalk): { constants: number; runtime: number; total: number } {
  const constants = functions.reduce((n, f) => n + f.stringCount, 0);
  const runtime = live.groups.reduce((n, g) => n + g.stringCount, 0);
  return { constants, runtime, total: constants + runtime };
}
