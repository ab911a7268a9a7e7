/**
 * One side of `npm run bench:fleet`, in its own process so its CPU time and
 * memory are its own: either (a) bare mqtt.js clients, one per node,
 * publishing a fixed reading-sized payload at the node rate with no node
 * logic, or (b) the simulator's Fleet with the same N, rate, QoS and will.
 * Driven by the parent over IPC: it connects, reports, measures a window
 * when asked, and stops when told.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type PerformanceEntry, PerformanceObserver } from "node:perf_hooks";
import { getHeapSpaceStatistics, writeHeapSnapshot } from "node:v8";
import mqtt, { type MqttClient } from "mqtt";
import fsModule from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { Fleet } from "../../simulator/fleet";
import { nodeId } from "../../simulator/node-ids";
import { SIMULATED_SENSORS } from "../../simulator/sensor-model";
import { defaultConfig, runtimeView } from "../../firmware/core/config";
import type { BenchChildSettings, FromBenchChild, ToBenchChild } from "./fleet-bench-protocol";
import { threadCpuSecondsOf } from "./proc-cpu";

const settings = JSON.parse(process.argv[2]) as BenchChildSettings;
/** The simulated nodes' sensors: all the simulator has (a reading of all four, as the bare side's payload). */
const SENSORS = [...SIMULATED_SENSORS];
/**
 * BENCH_FSTIME=1: the node files' synchronous fs calls timed, count and µs
 * per call, printed before the window and at the stop (the fan-out rounds).
 * Without the profiler, whose sampling inflates system calls several times
 * over (issue 14: `open` looked like 37 µs in a profile, 6 µs timed).
 * Node's own fs functions are wrapped, so the ES module bindings the
 * simulator imported see the wrappers (syncBuiltinESMExports).
 */
const fsTimes = new Map<string, { n: number; ms: number }>();
if (process.env.BENCH_FSTIME !== undefined) {
  const calls = fsModule as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of ["openSync", "writeFileSync", "writeSync", "fsyncSync", "closeSync", "renameSync"]) {
    const original = calls[name];
    calls[name] = function timed(this: unknown, ...args: unknown[]): unknown {
      const started = performance.now();
      try {
        return original.apply(this, args);
      } finally {
        const entry = fsTimes.get(name) ?? { n: 0, ms: 0 };
        entry.n++;
        entry.ms += performance.now() - started;
        fsTimes.set(name, entry);
      }
    };
  }
  syncBuiltinESMExports();
}

/** BENCH_FSTIME: what was timed since the last call, as one line. */
function reportFsTimes(phase: string): void {
  if (process.env.BENCH_FSTIME === undefined) {
    return;
  }
  const text = [...fsTimes.entries()].map(([name, t]) => `${name} ${t.n}× ${((t.ms * 1000) / Math.max(1, t.n)).toFixed(1)} µs`).join(", ");
  fsTimes.clear();
  process.stderr.write(`[${settings.mode}] fs calls ${phase}: ${text}\n`);
}
const send = (message: FromBenchChild): void => void process.send?.(message);
const gc = (globalThis as { gc?: () => void }).gc;

/** RSS and V8 heap in use, after a full collection. */
function memoryAfterGc(): { rss: number; heap: number } {
  gc?.();
  gc?.();
  const memory = process.memoryUsage();
  if (process.env.BENCH_DEBUG !== undefined) {
    const spaces = getHeapSpaceStatistics()
      .map((x) => `${x.space_name.replace("_space", "")} ${(x.space_used_size / 1e6).toFixed(1)}/${(x.space_size / 1e6).toFixed(1)} MB`)
      .join(", ");
    process.stderr.write(
      `[${settings.mode}] rss ${(memory.rss / 1e6).toFixed(1)} MB, heap used ${(memory.heapUsed / 1e6).toFixed(1)} MB, external ${(memory.external / 1e6).toFixed(1)} MB, ` +
        `array buffers ${(memory.arrayBuffers / 1e6).toFixed(1)} MB; ${spaces}${side !== undefined ? "; " + side.describe() : ""}\n`,
    );
  }
  return { rss: memory.rss, heap: memory.heapUsed };
}

interface Side {
  /** Readings acknowledged by the broker so far. */
  acked(): number;
  connected(): number;
  /** Node files still to be written (the simulator's start-up writes). */
  pendingWrites(): number;
  /** BENCH_DEBUG: what the side holds (readings buffered by the nodes, connect failures). */
  describe(): string;
  /** BENCH_SKIP_WRITES: from now on, node file writes succeed without touching a file (the simulator's; bare clients write none). */
  skipWrites(): void;
  stop(): Promise<void>;
}

/**
 * The run-time config an `applied` ack carries, as the simulated side's nodes
 * have it (their initial settings below, defaults for the rest): the bare
 * clients send it as a constant, so both sides' acks cost mosquitto and the
 * operator the same to forward and parse.
 */
const ACK_CONFIG = JSON.stringify(runtimeView({ ...defaultConfig(), interval_ms: settings.intervalMs, sensors: SENSORS, sensitivity: 0 }));

/** (a) Bare clients: the same session settings as a node, a fixed payload, no logic. */
function startBaseline(): Side {
  const clients: MqttClient[] = [];
  const timers: NodeJS.Timeout[] = [];
  let acked = 0;
  let connected = 0;
  let started = 0;
  const payload = settings.payload;
  const prefix = settings.prefix;
  const pace = setInterval(() => {
    const batch = Math.max(1, Math.round(settings.connectRate / 100));
    for (let i = 0; i < batch && started < settings.nodes; i++) {
      const id = nodeId(++started);
      const client = mqtt.connect({
        host: "127.0.0.1",
        port: settings.port,
        clientId: `bare-${id}`,
        protocolVersion: 4,
        clean: true,
        keepalive: 60,
        // A refused or timed-out connect is tried again, as a node would (its backoff starts at 1 s).
        reconnectPeriod: 1000,
        resubscribe: false,
        queueQoSZero: false,
        will: { topic: `${prefix}/status/${id}`, payload: Buffer.from(`{"id":"${id}","state":"offline"}`), qos: 1, retain: true },
      });
      client.on("error", () => undefined);
      // The least a node can do with a config_change: echo the req in a constant ack, of the same
      // bytes as the simulated node's (the contract's ack carries the node's run-time config).
      const ackHead = `{"id":"${id}","result":"applied","config":${ACK_CONFIG},"req":`;
      client.on("message", (_topic: string, message: Buffer) => {
        const req = (JSON.parse(message.toString()) as { req?: string }).req;
        client.publish(`${prefix}/config_ack/${id}`, ackHead + JSON.stringify(req) + "}", { qos: 1 });
      });
      let up = false;
      let publishing = false;
      client.on("close", () => {
        if (up) {
          up = false;
          connected--;
        }
      });
      client.on("connect", () => {
        up = true;
        connected++;
        client.subscribe(`${prefix}/config_change`, { qos: 1 });
        if (publishing) {
          return;
        }
        publishing = true;
        timers.push(
          setInterval(() => {
            if (client.connected) {
              // The readings topic of the simulated side (default topic_data: one shared topic).
              client.publish(`${prefix}/sensor_data`, payload, { qos: 1 }, (error) => {
                if (error === undefined || error === null) {
                  acked++;
                }
              });
            }
          }, settings.intervalMs),
        );
      });
      clients.push(client);
    }
    if (started >= settings.nodes) {
      clearInterval(pace);
    }
  }, 10);
  return {
    acked: () => acked,
    connected: () => connected,
    pendingWrites: () => 0,
    describe: () => `${connected} connected`,
    skipWrites: () => undefined,
    async stop() {
      clearInterval(pace);
      timers.forEach(clearInterval);
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    },
  };
}

/** (b) The simulator: the unchanged core on the Node platform. */
function startSimulator(): Side {
  // Node files on tmpfs when there is one: the bench measures the simulator, not the disk
  // (a node's first start writes two small files; on a busy disk those cost up to 1 ms each).
  // `--state-dir` puts them on a disk instead, to measure what durable acks cost there (the group commit).
  const stateDir = mkdtempSync(join(settings.stateParent ?? (existsSync("/dev/shm") ? "/dev/shm" : tmpdir()), "espfleet-bench-"));
  // Removed however the child ends (a failed or interrupted bench too): 19,000 node folders in RAM otherwise stay.
  process.on("exit", () => rmSync(stateDir, { recursive: true, force: true }));
  const fleet = new Fleet({
    broker: { url: `mqtt://127.0.0.1:${settings.port}`, host: "127.0.0.1", port: settings.port, secure: false, username: "", password: "", ca: undefined, embedded: false },
    first: 1,
    count: settings.nodes,
    stateDir,
    seed: 1,
    initial: { interval_ms: settings.intervalMs, sensors: SENSORS, sensitivity: 0 },
    fixed: { topic_prefix: settings.prefix },
    connectRate: settings.connectRate,
    log: (id, level, text) => {
      if (level === "error") {
        process.stderr.write(`${id} ${level}: ${text}\n`);
      }
    },
  });
  void fleet.start();
  return {
    acked: () => fleet.counters.acked,
    connected: () => fleet.counters.connected,
    pendingWrites: () => fleet.storage.pendingWrites(),
    skipWrites() {
      // The instance's own methods, over the class's: what every node's files call (node-storage.ts NodeDirectory).
      const storage = fleet.storage;
      storage.write = () => true;
      storage.writeGrouped = (_path, _contents, waiter) => {
        setImmediate(() => waiter.committed(true));
        return true;
      };
    },
    describe() {
      const s = fleet.snapshot();
      return `${s.connected} connected, ${s.buffered} readings buffered, ${s.dropped} dropped, ${s.connectFailures} connect failures, ${s.disconnects} disconnects`;
    },
    async stop() {
      await fleet.stop();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/**
 * BENCH_PROF=1: CPU profiles of this process in ./build/bench-profiles: of
 * starting and connecting every node, of the measuring window (readings
 * only), and from its end to the stop (the config fan-out rounds).
 */
const PROFILES = process.env.BENCH_PROF !== undefined ? join("build", "bench-profiles") : undefined;
const profiler = PROFILES !== undefined ? new Session() : undefined;
profiler?.connect();
profiler?.post("Profiler.enable");
// Every 100 µs (the default is 1 ms): enough samples of a mostly idle window.
profiler?.post("Profiler.setSamplingInterval", { interval: 100 });

function startProfile(): void {
  profiler?.post("Profiler.start");
}

/** Write what was sampled since startProfile() as `<mode>-<nodes>-<phase>.cpuprofile`. */
function saveProfile(phase: string, then: () => void): void {
  if (profiler === undefined || PROFILES === undefined) {
    then();
    return;
  }
  profiler.post("Profiler.stop", (error, result) => {
    if (error === null) {
      mkdirSync(PROFILES, { recursive: true });
      writeFileSync(join(PROFILES, `${settings.mode}-${settings.nodes}-${phase}.cpuprofile`), JSON.stringify(result.profile));
    }
    then();
  });
}

let side: Side | undefined = undefined;
/**
 * The young generation at its full size before the first reading: it is a
 * fixed cost of the process (`--min-semi-space-size` in bench-fleet.ts),
 * not of its nodes; left to grow during the run, its ~30 MB counted as
 * memory per node (3 KB at 10,000, 30 KB at 1,000), on both sides alike,
 * and more or less of it already counted before, depending on how much
 * the process had allocated while loading (tsx compiling, or a bundle).
 */
function fillYoungGeneration(): void {
  let keep: unknown[] = [];
  for (let i = 0; i < 400_000; i++) {
    keep = [keep.length, i, "x" + i];
  }
  void keep;
}
fillYoungGeneration();
const before = memoryAfterGc();
startProfile();
const startedAt = performance.now();
const running = settings.mode === "baseline" ? startBaseline() : startSimulator();
side = running;
const waitConnected = setInterval(() => {
  if (running.connected() >= settings.nodes) {
    clearInterval(waitConnected);
    const connectMs = performance.now() - startedAt;
    saveProfile("connect", () => send({ type: "connected", connectMs }));
  }
}, 20);

// The bench went away (it failed or was interrupted): do not linger with thousands of sockets.
process.on("disconnect", () => process.exit(1));

process.on("message", (message: ToBenchChild) => {
  if (message.type === "measure") {
    if (process.env.BENCH_SKIP_WRITES !== undefined) {
      // After the start-up writes (every node booted from its files): the fan-out's writes are what is skipped.
      running.skipWrites();
    }
    // The window starts once the start-up file writes are done (a one-time cost, not per message),
    // or after 30 s of waiting for them.
    const askedAt = performance.now();
    const waitIdle = setInterval(() => {
      if (running.pendingWrites() > 0 && performance.now() - askedAt < 30_000) {
        return;
      }
      clearInterval(waitIdle);
      measure(message.ms);
    }, 50);
  } else if (message.type === "stop") {
    reportFsTimes("from the window's end (fan-out rounds)");
    saveProfile("fanout", () => undefined);
    void running.stop().then(() => {
      send({ type: "stopped" });
      process.exit(0);
    });
  }
});

/** BENCH_DEBUG: garbage-collection pauses of the main thread during the window, by kind (ms). */
function observeGc(): () => string {
  const pauses = new Map<string, { n: number; ms: number }>();
  const kinds: Record<number, string> = { 1: "scavenge", 2: "mark-compact", 4: "incremental", 8: "weak", 16: "minor-mc" };
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = kinds[(entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? 0] ?? "other";
      const p = pauses.get(kind) ?? { n: 0, ms: 0 };
      p.n++;
      p.ms += entry.duration;
      pauses.set(kind, p);
    }
  });
  observer.observe({ entryTypes: ["gc"] });
  return () => {
    observer.disconnect();
    return [...pauses.entries()].map(([kind, p]) => `${kind} ${p.n}× ${p.ms.toFixed(0)} ms`).join(", ");
  };
}

/**
 * BENCH_DEBUG: CPU time (µs) of this process's main thread and of all its
 * other threads (V8's compiler and GC helpers, libuv's pool), from
 * /proc/self/task (Linux; undefined elsewhere). process.cpuUsage() counts
 * both, and a compile or concurrent marking that lands in the window costs
 * per message what a longer window would spread out.
 */
function threadCpuUs(): { main: number; others: number } | undefined {
  let main = 0;
  let others = 0;
  try {
    for (const task of readdirSync("/proc/self/task")) {
      const seconds = threadCpuSecondsOf(task);
      if (seconds === undefined) {
        return undefined;
      }
      if (Number(task) === process.pid) {
        main += seconds * 1e6;
      } else {
        others += seconds * 1e6;
      }
    }
  } catch {
    return undefined;
  }
  return { main, others };
}

function measure(ms: number): void {
  reportFsTimes("until the window (start-up)");
  startProfile();
  const gcPauses = process.env.BENCH_DEBUG !== undefined ? observeGc() : undefined;
  const threads0 = gcPauses !== undefined ? threadCpuUs() : undefined;
  const cpu0 = process.cpuUsage();
  const acked0 = running.acked();
  const t0 = performance.now();
  setTimeout(() => {
    const cpu = process.cpuUsage(cpu0);
    const msgs = running.acked() - acked0;
    const seconds = (performance.now() - t0) / 1000;
    if (gcPauses !== undefined) {
      const threads = threadCpuUs();
      const split =
        threads !== undefined && threads0 !== undefined
          ? `; main thread ${((threads.main - threads0.main) / Math.max(1, msgs)).toFixed(1)} µs, other threads ${((threads.others - threads0.others) / Math.max(1, msgs)).toFixed(1)} µs each`
          : "";
      process.stderr.write(
        `[${settings.mode}] window: ${msgs} readings acked, CPU user ${(cpu.user / Math.max(1, msgs)).toFixed(1)} µs + system ${(cpu.system / Math.max(1, msgs)).toFixed(1)} µs each${split}, GC pauses: ${gcPauses()}\n`,
      );
    }
    saveProfile("window", () => {
      const after = memoryAfterGc();
      if (process.env.BENCH_HEAP !== undefined) {
        // BENCH_HEAP=1: a heap snapshot of each measured process after its window, in ./build/bench-profiles (small N only).
        mkdirSync(join("build", "bench-profiles"), { recursive: true });
        writeHeapSnapshot(join("build", "bench-profiles", `${settings.mode}-${settings.nodes}.heapsnapshot`));
      }
      send({
        type: "window",
        msgs,
        seconds,
        cpuUs: cpu.user + cpu.system,
        rssBefore: before.rss,
        rss: after.rss,
        heapBefore: before.heap,
        heap: after.heap,
        connected: running.connected(),
      });
      startProfile();
    });
  }, ms);
}
