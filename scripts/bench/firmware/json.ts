/** The figures as build/bench-firmware.json, for tools and for comparing runs. */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { appStrings } from "./live-walk";
import { CONFIG_EVERY, GOAL_KB, GROWTH_TOLERANCE_BYTES, LFS_PEAK_KB, LFS_STEADY_KB, OFFLINE_EVERY, OFFLINE_TICKS, TICKS, WALK_TICKS } from "./params";
import { largestFunctions, type Results } from "./report";

/** Write the results to `outFile`; `seconds` is the whole bench's time. */
export function writeJson(outFile: string, r: Results, pass: boolean, seconds: number): void {
  const { files, lualibBytes, protos } = r.sizes;
  const { run, lfsRun, functions, modules, live } = r;
  const strings = appStrings(functions, live);
  const json = {
    generatedAt: new Date().toISOString(),
    lua: "5.1 (wasm32, lua-wasm-bindings)",
    units: { sizes: "bytes", heap: "bytes (Lua collectgarbage('count') * 1024 after a full GC, delta over baseline)" },
    sizes: { files, lualibBytes, functions: protos.length },
    heap: {
      baselineBytes: r.baselineBytes,
      loadedWithDebugInfo: r.loadedDebug,
      loadedStripped: r.loadedStripped,
      cfgLoadedStripped: r.loadedCfg,
      startedConnected: run.startedConnected,
      startedConnectedFromSource: r.fromSourceConnected,
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
      functions: largestFunctions(functions),
      liveAfterTicks: WALK_TICKS,
      liveMeasured: live.measured,
      liveGroups: live.groups,
      liveTables: live.tables,
      aliveFunctions: functions.filter((f) => live.aliveProtos.has(`${f.line}:${f.lastLine}`)).map((f) => f.name),
    },
    run: { ticks: TICKS, configEvery: CONFIG_EVERY, offlineEvery: OFFLINE_EVERY, offlineTicks: OFFLINE_TICKS, counters: run.counters, seconds: run.seconds },
    stringTable: { constantStrings: strings.constants, runtimeStrings: strings.runtime, bytesLow: strings.total * 4, bytesHigh: strings.total * 8 },
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
    seconds,
  };
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, JSON.stringify(json, null, 2) + "\n");
}
