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
 *
 * The pieces, in scripts/bench/firmware/: params.ts (paths, the run, the
 * targets), sizes.ts (file sizes, bundle sections), heap-setup.ts (the
 * baseline Lua state and the tick driver), heap-run.ts (load, start, ticks),
 * costs.ts (per-function and per-module costs), live-walk.ts (the live-object
 * walk), report.ts and verdict.ts (the text, with format.ts), json.ts (the
 * JSON).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { buildFirmware } from "./build-firmware";
import { functionCosts, measureModules } from "./bench/firmware/costs";
import { baselineState, lfsModulesOf, type Sources } from "./bench/firmware/heap-setup";
import { loadedOnly, runTicks, startApp } from "./bench/firmware/heap-run";
import { writeJson } from "./bench/firmware/json";
import { walkLiveObjects } from "./bench/firmware/live-walk";
import { dist, mockPath, outFile, WALK_TICKS } from "./bench/firmware/params";
import { report } from "./bench/firmware/report";
import { measureSizes } from "./bench/firmware/sizes";
import { verdict } from "./bench/firmware/verdict";

function main(): void {
  const t0 = performance.now();
  const built = buildFirmware();
  const appLua = readFileSync(join(dist, "app.lua"), "utf8");
  if (!existsSync(mockPath)) {
    process.stderr.write(`bench:firmware: the NodeMCU mock ${mockPath} does not exist\n`);
    process.exit(1);
  }
  const mock = readFileSync(mockPath, "utf8");
  const sizes = measureSizes(dist, appLua);

  const sources: Sources = { appLua, appLc: sizes.appLc, cfgLc: sizes.cfgLc, mock, extra: {} };
  const loadedDebug = loadedOnly(sources, "app.lua");
  const loadedStripped = loadedOnly(sources, "app.lc");
  const loadedCfg = sources.cfgLc !== undefined ? loadedOnly(sources, "cfg.lc") : Number.NaN;
  const fromSource = startApp(sources, "app.lua");
  fromSource.lua.close();
  const { base: baselineBytes, lua: probe } = baselineState(sources);
  probe.close();
  const run = runTicks(sources, "app.lc");
  const lfsRun = runTicks({ ...sources, lfs: lfsModulesOf(join(dist, "lfs.img")) }, "LFS");
  const functions = functionCosts(appLua, sizes.appLcFull);
  const modules = measureModules(sources, appLua);
  const live = walkLiveObjects(sources, functions, WALK_TICKS);

  const results = { appBytes: built.appBytes, sizes, baselineBytes, loadedDebug, loadedStripped, loadedCfg, fromSourceConnected: fromSource.connected, run, lfsRun, functions, modules, live };
  const judged = verdict(run, lfsRun);
  process.stdout.write([...report(results), ...judged.lines].join("\n") + "\n");
  process.exitCode = judged.pass ? 0 : 1;
  writeJson(outFile, results, judged.pass, (performance.now() - t0) / 1000);
}

main();
