/**
 * The Lua heap run: code loaded and not run, the app started and connected,
 * then TICKS sampling intervals with config changes and broker outages
 * (driven by bench_ticks, see heap-setup.ts), sampling the live heap, the
 * peaks and the growth on the way.
 */
import { luaString, type WasmLua } from "../../../common/wasm-lua";
import { baselineState, type Sources } from "./heap-setup";
import { KB } from "./format";
import { GROWTH_FROM_TICK, TICKS } from "./params";

/** Heap of `file` loaded (not run) over the baseline. */
export function loadedOnly(sources: Sources, file: string): number {
  const { lua, base } = baselineState(sources);
  lua.run(`bench_f = assert(loadfile(${luaString(file)}))`, "=bench");
  const delta = lua.heapBytes() - base;
  lua.close();
  return delta;
}

/** Start the app from `file` ("LFS": node.LFS.get("app"), as init.lua does), bring wifi and MQTT up; the state is left running. */
export function startApp(sources: Sources, file: string): { lua: WasmLua; base: number; connected: number } {
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

export interface RunResult {
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

/** Start the app from `file` and run TICKS ticks, the heap sampled at every tenth of the run. */
export function runTicks(sources: Sources, file: string): RunResult {
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
