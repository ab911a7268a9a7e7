/**
 * npm run bench:fleet — the simulator against bare mqtt.js clients, side by
 * side in one run, against a mosquitto this script starts on loopback.
 *
 *   (a) baseline: one bare mqtt.js client per node, same session settings
 *       (clean, keepalive, will, one subscription), publishing a reading-sized
 *       payload at QoS 1 at the node rate, with no node logic;
 *   (b) simulator: the Fleet (unchanged core on the Node platform), same N.
 *
 * For each N it prints: connect time, messages/s, CPU µs per message, RSS
 * per node, V8 heap in use per node (after a full collection: what the
 * nodes hold, without the allocators' slack), and the config fan-out time
 * (one config_change to every node until every node's ack arrived:
 * p50/p99/max of 3 rounds).
 * Each side runs in its own process, so CPU and memory are its own.
 *
 * The measured processes run plain JavaScript, as `espfleet run` does (its
 * CLI is an esbuild bundle, scripts/build-cli.mjs): the child is bundled
 * with esbuild first, npm packages left to node_modules. `--tsx` runs its
 * TypeScript through tsx instead, as the tests do. (tsx compiles with
 * esbuild's keepNames, which gives each closure made in a named position a
 * `name` property of its own: V8 then keeps that function's properties in
 * a dictionary, ~0.25 KB per closure. The core makes four per MQTT session,
 * about 1 KB per node; issue 14.)
 *
 *   npm run bench:fleet                       N = 1,000 and 10,000
 *   npm run bench:fleet -- --nodes 1000,19000 other sizes (19,000 is the one-process target)
 *   npm run bench:fleet -- --window 20s       measuring window (default 10 s, or 20,000 readings if longer)
 *   npm run bench:fleet -- --interval 2s      another reading interval per node (default 1s)
 *   npm run bench:fleet -- --sides simulator  only one side (baseline, simulator; default both)
 *   npm run bench:fleet -- --paired           both sides at once, one shared window (default up to 2,000 nodes)
 *   npm run bench:fleet -- --apart            one side after the other (default above 2,000 nodes)
 *   npm run bench:fleet -- --tsx              the child's TypeScript through tsx, not bundled
 *   npm run bench:fleet -- --state-dir DIR    the simulated nodes' files in DIR (default: tmpfs, /dev/shm),
 *                                             e.g. a folder on a disk, to see what durable acks cost there
 *
 * Profiles: BENCH_PROF=1 writes CPU profiles of each measured process (its
 * window, then its fan-out rounds) to build/bench-profiles; BENCH_HEAP=1 a
 * heap snapshot after the window (small N: a snapshot is ~30 KB per node);
 * BENCH_DEBUG=1 prints the V8 heap spaces at each RSS reading and the
 * window's CPU split (user and system; main thread and V8's and libuv's
 * threads); BENCH_FSTIME=1 the time of each synchronous fs call on the node
 * files (no profiler). BENCH_SKIP_WRITES=1 makes the simulated nodes' file
 * writes after their start succeed without writing (their acks then claim
 * what is not stored): what durable acks cost in the fan-out.
 *
 * Open files: every node holds one socket in the measured process and one in
 * mosquitto. A process cannot raise its own limit past the hard limit, so the
 * script checks `ulimit -n` up front and says how to raise it when too low.
 */
import { execFileSync, fork, type ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import mqtt from "mqtt";
import { newRequestId, sendConfigChange } from "../ops/config/change";
import { parseDuration, formatBytes } from "../common/units";
import { Mosquitto } from "../test/e2e/support/mosquitto";
import type { BenchChildSettings, FromBenchChild } from "./bench/fleet-bench-protocol";

const CHILD_SOURCE = fileURLToPath(new URL("./bench/fleet-bench-child.ts", import.meta.url));
const CHILD_BUNDLE = fileURLToPath(new URL("../build/bench/fleet-bench-child.mjs", import.meta.url));
const TSX = process.argv.includes("--tsx");
const intervalParsed = parseDuration(process.argv.includes("--interval") ? (process.argv[process.argv.indexOf("--interval") + 1] ?? "") : "1s");
const INTERVAL_MS = intervalParsed.ok ? intervalParsed.value : 1000;
const CONNECT_RATE = 2000;
const WARMUP_MS = 3000;
const FANOUT_ROUNDS = 3;
/** A reading of all four sensors, as the simulator publishes it (the baseline sends this). */
const PAYLOAD = JSON.stringify({
  temperature: 21.53,
  humidity: 48.27,
  adc: 512,
  vdd: 3.29,
  id: "node-0001",
  seq: 1234,
  boot: 1,
  up: 1234,
  ts: 1767225600,
});

function argument(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const sizes = (argument("--nodes") ?? "1000,10000").split(",").map(Number);
const windowArgument = argument("--window");
const windowParsed = parseDuration(windowArgument ?? "10s");
if (!windowParsed.ok || !intervalParsed.ok || sizes.some((n) => !Number.isInteger(n) || n < 1)) {
  process.stderr.write(
    "usage: npm run bench:fleet -- [--nodes 1000,10000] [--window 10s] [--interval 1s] [--paired | --apart] [--sides baseline,simulator] [--state-dir DIR] [--tsx]\n",
  );
  process.exit(2);
}
const WINDOW_MS = windowParsed.value;
/**
 * Without `--window`, a window holds at least this many readings (10 s, or
 * longer for small fleets: 20 s at 1,000 nodes): at 1,000 nodes a 10 s
 * window is 10,000 readings, and the CPU ratio of the same code spread
 * 1.18-1.31x over six paired runs, 1.21-1.28x over eight with 20 s
 * (2026-12-05).
 */
const MIN_WINDOW_READINGS = 20_000;

/** The measuring window for `nodes` nodes: `--window` as given, else 10 s or MIN_WINDOW_READINGS, whichever is longer. */
function windowMs(nodes: number): number {
  if (windowArgument !== undefined) {
    return WINDOW_MS;
  }
  return Math.max(WINDOW_MS, Math.ceil(MIN_WINDOW_READINGS / nodes) * INTERVAL_MS);
}
/**
 * `--paired`: both sides run at once and share one measuring window, so
 * whatever the machine does meanwhile (a shared VM drifts: bare clients
 * alone measured 46-81 µs a message at 1,000 nodes within 20 minutes,
 * 2026-12-05) weighs on both alike. `--apart`: one side after the other, each
 * with the machine to itself. Default: paired up to PAIRED_MAX_NODES, apart
 * above, where the two sides together (and mosquitto carrying both) would
 * fill 2 cores and slow each other.
 */
const PAIRING: "paired" | "apart" | "auto" = process.argv.includes("--paired") ? "paired" : process.argv.includes("--apart") ? "apart" : "auto";
if (process.argv.includes("--paired") && process.argv.includes("--apart")) {
  process.stderr.write("bench: --paired and --apart exclude each other; give one (default: paired up to 2,000 nodes, apart above)\n");
  process.exit(2);
}
const PAIRED_MAX_NODES = 2000;
const SIDES = (argument("--sides") ?? "baseline,simulator").split(",");
const stateArgument = argument("--state-dir");
const STATE_PARENT = stateArgument !== undefined ? resolve(stateArgument) : undefined;
if (STATE_PARENT !== undefined) {
  mkdirSync(STATE_PARENT, { recursive: true });
}

function openFileLimit(): number {
  try {
    return Number(execFileSync("bash", ["-c", "ulimit -n"], { encoding: "utf8" }).trim());
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

interface SideResult {
  connectMs: number;
  msgsPerSec: number;
  cpuUsPerMsg: number;
  rssPerNode: number;
  /** V8 heap in use per node after a full collection: what the nodes hold, without the allocators' slack. */
  heapPerNode: number;
  rssTotal: number;
  connected: number;
}

class Child {
  private readonly child: ChildProcess;
  private readonly waiters = new Map<string, (m: FromBenchChild) => void>();

  constructor(settings: BenchChildSettings) {
    this.child = fork(TSX ? CHILD_SOURCE : CHILD_BUNDLE, [JSON.stringify(settings)], {
      // Bundled: plain node (process.execArgv is tsx's loader, for this script only).
      // A young generation of one fixed size (16 MB semi-spaces, V8's largest default), filled before the
      // first RSS reading (fleet-bench-child.ts): it is not memory per node.
      execArgv: [...(TSX ? process.execArgv : []), "--expose-gc", "--max-old-space-size=8192", "--min-semi-space-size=16", "--max-semi-space-size=16"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    this.child.on("message", (m: FromBenchChild) => {
      this.waiters.get(m.type)?.(m);
      this.waiters.delete(m.type);
    });
  }

  next<T extends FromBenchChild["type"]>(type: T, timeoutMs: number): Promise<Extract<FromBenchChild, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`bench child: no "${type}" within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.set(type, (m) => {
        clearTimeout(timer);
        resolve(m as Extract<FromBenchChild, { type: T }>);
      });
    });
  }

  send(message: unknown): void {
    this.child.send(message as object);
  }
}

type Mode = "baseline" | "simulator";
/** Each side's topic prefix: its own, so that when both run at once a fan-out reaches one side only (same length: same bytes). */
const PREFIX: Record<Mode, string> = { baseline: "basis", simulator: "bench" };

/** Start one side's process and wait until all its nodes are connected. */
async function startSide(mode: Mode, nodes: number, port: number) {
  const child = new Child({ mode, nodes, port, prefix: PREFIX[mode], intervalMs: INTERVAL_MS, connectRate: CONNECT_RATE, payload: PAYLOAD, stateParent: STATE_PARENT });
  const connected = await child.next("connected", 120_000 + (nodes / CONNECT_RATE) * 3000);
  return { child, connected };
}

type Started = Awaited<ReturnType<typeof startSide>>;

/** Measure a window of one or more started sides at once: each side's CPU and memory, over the same seconds. */
async function measureWindows(sides: Started[], nodes: number) {
  const ms = windowMs(nodes);
  const windows = sides.map((s) => s.child.next("window", ms + 120_000));
  for (const s of sides) {
    s.child.send({ type: "measure", ms });
  }
  return Promise.all(windows);
}

async function stopSide(side: Started): Promise<void> {
  const stopped = side.child.next("stopped", 120_000);
  side.child.send({ type: "stop" });
  await stopped;
}

/** One side alone: started, measured, its fan-out rounds, stopped. */
async function runSide(mode: Mode, nodes: number, port: number, fanout: (prefix: string, n: number) => Promise<number[][]>) {
  const side = await startSide(mode, nodes, port);
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  const [window] = await measureWindows([side], nodes);
  const rounds = await fanout(PREFIX[mode], nodes);
  await stopSide(side);
  return { result: sideResult(nodes, side.connected, window), rounds };
}

/**
 * Both sides at once (`--paired`): bare first, then the simulator, each
 * connected before the next starts; one window for both; then each side's
 * fan-out rounds while the other goes on publishing its readings.
 */
async function runPaired(nodes: number, port: number, fanout: (prefix: string, n: number) => Promise<number[][]>) {
  const base = await startSide("baseline", nodes, port);
  const sim = await startSide("simulator", nodes, port);
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  const [baseWindow, simWindow] = await measureWindows([base, sim], nodes);
  const baseRounds = await fanout(PREFIX.baseline, nodes);
  const simRounds = await fanout(PREFIX.simulator, nodes);
  await Promise.all([stopSide(base), stopSide(sim)]);
  return {
    base: { result: sideResult(nodes, base.connected, baseWindow), rounds: baseRounds },
    sim: { result: sideResult(nodes, sim.connected, simWindow), rounds: simRounds },
  };
}

type Window = Extract<FromBenchChild, { type: "window" }>;

function sideResult(nodes: number, connected: Extract<FromBenchChild, { type: "connected" }>, window: Window): SideResult {
  return {
    connectMs: connected.connectMs,
    msgsPerSec: window.msgs / window.seconds,
    cpuUsPerMsg: window.cpuUs / Math.max(1, window.msgs),
    rssPerNode: (window.rss - window.rssBefore) / nodes,
    heapPerNode: (window.heap - window.heapBefore) / nodes,
    rssTotal: window.rss,
    connected: window.connected,
  };
}

/** One config_change to every node of the side with this topic prefix, timed until each ack: latencies per round. */
async function fanout(url: string, prefix: string, nodes: number): Promise<number[][]> {
  const operator = await mqtt.connectAsync(url, { clientId: `bench-operator-${process.pid}`, reconnectPeriod: 0 });
  const rounds: number[][] = [];
  for (let i = 0; i < FANOUT_ROUNDS; i++) {
    // Same interval and sensitivity as running: every node validates, stores and acks, nothing else changes.
    const outcome = await sendConfigChange(operator, prefix, { interval_ms: INTERVAL_MS, sensitivity: 0, req: newRequestId() }, { count: nodes }, 30_000);
    if (outcome.applied.length < nodes) {
      process.stdout.write(`  fan-out round ${i + 1}: only ${outcome.applied.length}/${nodes} acks within 30 s\n`);
    }
    rounds.push(outcome.applied.map((a) => a.latencyMs).sort((a, b) => a - b));
    await new Promise((r) => setTimeout(r, 1000));
  }
  await operator.endAsync();
  return rounds;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) {
    return Number.NaN;
  }
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const ms = (v: number): string => `${v.toFixed(0)} ms`;

function fanText(rounds: number[][] | undefined): string {
  return (rounds ?? []).map((r) => `${ms(percentile(r, 50))} / ${ms(percentile(r, 99))} / ${ms(r.at(-1) ?? Number.NaN)}`).join("; ");
}

/** The child as one ES module of plain JavaScript (npm packages stay in node_modules), as the CLI's build makes it. */
async function bundleChild(): Promise<void> {
  const { build } = await import("esbuild");
  await build({
    entryPoints: [CHILD_SOURCE],
    outfile: CHILD_BUNDLE,
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    packages: "external",
    sourcemap: "linked",
    logLevel: "warning",
  });
}

async function main(): Promise<void> {
  if (!TSX) {
    await bundleChild();
  }
  const limit = openFileLimit();
  const largest = Math.max(...sizes);
  process.stdout.write(`open-file limit (ulimit -n): ${limit}; the largest run needs about ${largest + 200} in the measured process and in mosquitto\n`);
  if (limit < largest + 200) {
    process.stderr.write(
      `bench: ${largest} nodes need more open files than ${limit}; raise the limit (ulimit -n ${largest + 1000}, up to the hard limit \`ulimit -Hn\`; beyond it as root in /etc/security/limits.conf) or pass smaller --nodes\n`,
    );
    process.exit(1);
  }
  const mosquitto = await Mosquitto.start({ extraConfig: ["max_connections -1", "set_tcp_nodelay true"] });
  process.stdout.write(
    `mosquitto on ${mosquitto.url}; ${INTERVAL_MS} ms interval, QoS 1, connect rate ${CONNECT_RATE}/s, ${windowArgument !== undefined ? `${WINDOW_MS / 1000} s` : `${WINDOW_MS / 1000} s (or ${MIN_WINDOW_READINGS} readings)`} window after ${WARMUP_MS / 1000} s warm-up; ` +
      `measured processes run ${TSX ? "the TypeScript through tsx" : "an esbuild bundle (as espfleet run)"}; node files in ${STATE_PARENT ?? "tmpfs (/dev/shm)"}\n\n`,
  );
  const header = `${"N".padStart(6)}  ${"side".padEnd(10)} ${"connect".padStart(9)} ${"msgs/s".padStart(9)} ${"CPU/msg".padStart(9)} ${"RSS/node".padStart(9)} ${"heap/node".padStart(9)} ${"RSS".padStart(9)}  config fan-out p50 / p99 / max`;
  const rows: string[] = [header];
  const print = (line: string): void => {
    rows.push(line);
    process.stdout.write(line + "\n");
  };
  process.stdout.write(header + "\n");
  try {
    for (const nodes of sizes) {
      const rounds = (prefix: string, n: number): Promise<number[][]> => fanout(mosquitto.url, prefix, n);
      const bothSides = SIDES.includes("baseline") && SIDES.includes("simulator");
      const paired = bothSides && (PAIRING === "paired" || (PAIRING === "auto" && nodes <= PAIRED_MAX_NODES));
      let base: Awaited<ReturnType<typeof runSide>> | undefined = undefined;
      let sim: Awaited<ReturnType<typeof runSide>> | undefined = undefined;
      if (paired) {
        ({ base, sim } = await runPaired(nodes, mosquitto.port, rounds));
      } else {
        base = SIDES.includes("baseline") ? await runSide("baseline", nodes, mosquitto.port, rounds) : undefined;
        sim = SIDES.includes("simulator") ? await runSide("simulator", nodes, mosquitto.port, rounds) : undefined;
      }
      if (base !== undefined) {
        print(row(nodes, paired ? "bare (p)" : "bare mqtt", base.result, fanText(base.rounds)));
      }
      if (sim !== undefined) {
        print(row(nodes, paired ? "sim (p)" : "simulator", sim.result, fanText(sim.rounds)));
      }
      if (base === undefined || sim === undefined) {
        continue;
      }
      const cpuRatio = sim.result.cpuUsPerMsg / base.result.cpuUsPerMsg;
      const memRatio = sim.result.rssPerNode / base.result.rssPerNode;
      const heapRatio = sim.result.heapPerNode / base.result.heapPerNode;
      print(`${"".padStart(6)}  ratio      CPU/msg ${cpuRatio.toFixed(2)}x, RSS/node ${memRatio.toFixed(2)}x (target: within 1.3x); heap/node ${heapRatio.toFixed(2)}x`);
    }
  } finally {
    await mosquitto.close();
  }
  process.stdout.write("\nsummary\n" + rows.join("\n") + "\n");
}

function row(nodes: number, side: string, r: SideResult, fan: string): string {
  const short = r.connected < nodes ? ` (only ${r.connected} connected)` : "";
  return (
    `${String(nodes).padStart(6)}  ${side.padEnd(10)} ${(r.connectMs / 1000).toFixed(1).padStart(7)} s ${r.msgsPerSec.toFixed(0).padStart(9)} ` +
    `${(r.cpuUsPerMsg.toFixed(1) + " µs").padStart(9)} ${formatBytes(r.rssPerNode).padStart(9)} ${formatBytes(r.heapPerNode).padStart(9)} ${formatBytes(r.rssTotal).padStart(9)}  ${fan}${short}`
  );
}

await main();
