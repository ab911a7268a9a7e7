/**
 * The figures against what they should be: the run without LFS against the
 * 20 KB goal (no target), the run from LFS against its targets (steady
 * state, every peak, no growth), and the one-line verdict that decides the
 * bench's exit status.
 */
import { kb, KB, num, table } from "./format";
import type { RunResult } from "./heap-run";
import { GOAL_KB, GROWTH_FROM_TICK, GROWTH_TOLERANCE_BYTES, LFS_PEAK_KB, LFS_STEADY_KB, TICKS } from "./params";

export interface Verdict {
  /** The LFS targets are met. */
  pass: boolean;
  /** The goal line, the LFS table and the VERDICT line. */
  lines: string[];
}

export function verdict(run: RunResult, lfsRun: RunResult): Verdict {
  const out: string[] = [];
  const say = (line = ""): number => out.push(line);
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
  return { pass, lines: out };
}
