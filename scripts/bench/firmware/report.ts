/**
 * The figures as text: the sizes table, the Lua heap table (without LFS),
 * where the heap goes by module and by function, and the live objects by
 * where they are first reached from. (The goal, the LFS run and the verdict:
 * verdict.ts.)
 */
import { SZ, type FunctionCost, type ModuleCost } from "./costs";
import { indent, kb, num, table } from "./format";
import type { RunResult } from "./heap-run";
import { appStrings, type LiveWalk } from "./live-walk";
import { GROWTH_FROM_TICK, mockPath, OFFLINE_TICKS, root, SAMPLE_EVERY, TICKS, WALK_TICKS } from "./params";
import type { Sizes } from "./sizes";

/** Everything the bench measured. */
export interface Results {
  /** Bytes of app.lua as the build wrote it. */
  appBytes: number;
  sizes: Sizes;
  baselineBytes: number;
  loadedDebug: number;
  loadedStripped: number;
  /** NaN for a build without cfg.lc. */
  loadedCfg: number;
  /** Started and connected from app.lua source, over baseline. */
  fromSourceConnected: number;
  /** The run from app.lc. */
  run: RunResult;
  /** The same run from lfs.img. */
  lfsRun: RunResult;
  functions: FunctionCost[];
  modules: ModuleCost[];
  live: LiveWalk;
}

type Say = (line?: string) => void;

function sizes(r: Results, say: Say): void {
  const { files, lualibBytes, protos } = r.sizes;
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
}

function heap(r: Results, say: Say): void {
  const { run } = r;
  say(`Lua heap, wasm32 Lua 5.1, KB (1 KB = 1,024 B), after a full GC, as the delta over a baseline state`);
  say(`holding the NodeMCU mock (${mockPath.startsWith(root) ? mockPath.slice(root.length + 1) : mockPath}), the bench driver and the file contents (baseline ${kb(r.baselineBytes)} KB).`);
  const c = run.counters;
  const heapRows = [
    ["(a) app.lua loaded, not run, with debug info", kb(r.loadedDebug), "function prototypes: code, constants, line info, local/upvalue names"],
    ["(b) app.lc loaded, not run, stripped (luac -s)", kb(r.loadedStripped), "function prototypes: code and constants only"],
    ["    cfg.lc loaded, not run, stripped", Number.isNaN(r.loadedCfg) ? "-" : kb(r.loadedCfg), "the cold code, loaded from flash for each config change (on top of the steady state)"],
    ["(c) started, wifi up, MQTT connected (app.lc)", kb(run.startedConnected), `the whole running app; from app.lua source: ${kb(r.fromSourceConnected)} KB`],
    [`(d) after ${num(TICKS)} ticks`, kb(run.afterRun), "steady state: same, with buffered readings and config as they stand"],
    ["(e) maximum during the run", kb(run.maxLive), `live heap, full GC every ${SAMPLE_EVERY} ticks; highest at tick ${num(run.maxLiveTick)}`],
    ["(g) peak at boot (reachable)", kb(run.bootPeak), "while start() writes the boot counter: all of app.lc loaded, the config schema built"],
    ["(h) peak during a config change (reachable)", kb(run.changePeak), "the most over the run, while config.json is written: the config code in use on top of the steady state"],
    [`(f) growth, tick ${num(GROWTH_FROM_TICK)} -> ${num(TICKS)}`, (run.growth >= 0 ? "+" : "") + kb(run.growth), `${run.growth >= 0 ? "+" : ""}${num(run.growth)} B`],
  ];
  say(table(heapRows, ["l", "r", "l"]));
  say(`  live heap every ${num(TICKS / 10)} ticks, KB: ${run.checkpoints.map((x) => kb(x.bytes)).join(" ")}`);
  const strings = appStrings(r.functions, r.live);
  say(
    `  not included: the device's string-table buckets for the app's ~${num(strings.total)} strings (${num(strings.constants)} constants, up to ${num(strings.runtime)} made at run time), ` +
      `4 B each in a power-of-two array: +${kb(strings.total * 4)} to +${kb(strings.total * 8)} KB.`,
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
}

function code(r: Results, say: Say): void {
  const { functions, modules } = r;
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
  for (const f of largestFunctions(functions).slice(0, 15)) {
    fnRows.push([f.name, f.module, String(f.line), num(f.instructions), num(f.constants), num(f.bytes + f.stringBytes)]);
  }
  say(indent(table(fnRows, ["l", "l", "r", "r", "r", "r"]), 4));
}

function liveObjects(r: Results, say: Say): void {
  const { functions, live } = r;
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
}

/** The functions, largest first (stripped prototype + code + constants + strings first used there). */
export function largestFunctions(functions: FunctionCost[]): FunctionCost[] {
  return [...functions].sort((x, y) => y.bytes + y.stringBytes - (x.bytes + x.stringBytes));
}

/** The report up to the goal and the LFS run, one line each, each section followed by an empty line. */
export function report(r: Results): string[] {
  const out: string[] = [];
  const say: Say = (line = "") => void out.push(line);
  say(`espfleet firmware benchmark (firmware/dist, built now: app.lua ${num(r.appBytes)} B)`);
  say();
  for (const section of [sizes, heap, code, liveObjects]) {
    section(r, say);
    say();
  }
  return out;
}
