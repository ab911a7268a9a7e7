/**
 * What `npm run bench:firmware` measures and against what: its paths, the
 * shape of the heap run, the goal and the LFS targets.
 */
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
export const dist = join(root, "firmware", "dist");
export const mockPath = process.env.ESPFLEET_NODEMCU_MOCK ?? join(root, "test", "lua", "nodemcu_mock.lua");
export const commonPath = join(root, "device", "lua", "nodemcu_common.lua");
export const outFile = join(root, "build", "bench-firmware.json");

/** Goal without LFS (the .lc fallback): steady-state heap of the whole firmware, in KB. */
export const GOAL_KB = 20;
/** Targets from LFS (issue 10): steady state and every peak (boot, config change, full buffer, reconnect), in KB. */
export const LFS_STEADY_KB = 12;
export const LFS_PEAK_KB = 20;
/** Growth from tick 10,000 to 100,000 still counted as "no growth" (interned strings, table slack). */
export const GROWTH_TOLERANCE_BYTES = 512;

export const TICKS = 100_000;
export const GROWTH_FROM_TICK = 10_000;
/** A config_change every this many ticks, alternating interval_ms and sensitivity. */
export const CONFIG_EVERY = 1_000;
/** The broker goes away for OFFLINE_TICKS every OFFLINE_EVERY ticks (the buffer fills and overflows). */
export const OFFLINE_EVERY = 5_000;
export const OFFLINE_TICKS = 200;
/** Live heap (after a full collection) is sampled this often for the maximum. */
export const SAMPLE_EVERY = 10;
export const NODE_ID = "bench-1";
/** Ticks run before the live objects are walked (past one outage and four config changes). */
export const WALK_TICKS = 3_000;
export const CONFIG_JSON = JSON.stringify({ node_id: NODE_ID, interval_ms: 1000, buffer_capacity: 50 });
