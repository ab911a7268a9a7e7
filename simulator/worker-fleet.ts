/**
 * `--workers N`: the fleet split over N worker processes (one per core), each
 * running a contiguous range of node numbers. Same surface as Fleet, so the
 * run command does not care which it has. Processes rather than threads: each
 * has its own heap and garbage collector, which matters at 10,000+ nodes.
 *
 * A worker that dies (killed, out of memory, a crash outside any one node's
 * code) is started again with the same nodes, which boot again from their
 * files (issue 15): the broker publishes their wills meanwhile, and the
 * summary counts the restart. A worker that keeps dying (RESTART_LIMIT
 * deaths within RESTART_WINDOW_MS) is left down with a message saying so;
 * its nodes count as faulted and the other workers run on.
 */
import { fork, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { addSnapshots, emptySnapshot, type FleetSnapshot } from "./fleet-counters";
import type { FleetOptions } from "./fleet";
import type { FromWorker, ToWorker, WorkerFleetOptions } from "./fleet-worker-protocol";
import { nodeId, splitRange } from "./node-ids";
import { NodeStorage } from "./node-storage";
import type { LogLevel } from "../firmware/core/platform";
import { countOf } from "../common/units";

/** The worker from the sources: TypeScript through tsx (ESPFLEET_TSX=1, vitest). */
const SOURCE_ENTRY = fileURLToPath(new URL("./fleet-worker-entry.js", import.meta.url));
/**
 * Defined by the bundle's banner (scripts/build-cli.mjs) as the URL of the
 * bundle file this code runs from; undeclared when it runs from the sources.
 */
declare const __espfleetBundleUrl: string | undefined;

/**
 * The file a worker process starts: under the bundled CLI the built worker
 * next to it (plain JavaScript: no tsx to load, no TypeScript to compile in
 * each worker), else the sources through tsx. Looked up at every start: a
 * worker restarted days later, after a newer build removed this one's
 * folder, falls back to the sources rather than failing.
 */
export function workerEntry(): string {
  if (typeof __espfleetBundleUrl === "string") {
    const built = fileURLToPath(new URL("./fleet-worker.js", __espfleetBundleUrl));
    if (existsSync(built)) {
      return built;
    }
  }
  return SOURCE_ENTRY;
}
/** A worker that has not stopped this long after being told is killed. */
const STOP_TIMEOUT_MS = 20_000;
/** A worker that dies this many times within RESTART_WINDOW_MS is left down. */
export const RESTART_LIMIT = 5;
export const RESTART_WINDOW_MS = 10 * 60_000;
/** Pause before a restart, so a worker that dies at once does not spin. */
const RESTART_DELAY_MS = 1000;

/** Counters that add up over a worker's lives; the rest (connected, buffered, …) are the live worker's. */
const CUMULATIVE: readonly (keyof FleetSnapshot)[] = [
  "connectAttempts",
  "connects",
  "connectFailures",
  "disconnects",
  "published",
  "acked",
  "configApplied",
  "configRejected",
  "dropped",
  "storageErrors",
];

interface Worker {
  label: string;
  first: number;
  count: number;
  child: ChildProcess | undefined;
  /** Snapshot of the running process. */
  snapshot: FleetSnapshot;
  /** Cumulative counters of earlier processes of this worker. */
  past: FleetSnapshot;
  keptStored: number;
  /** Exits of the current process (resolves at once when there is none). */
  exited: Promise<void>;
  /** Times of the deaths that led to a restart, for the limit. */
  deaths: number[];
  /** Given up: its nodes stay down. */
  down: boolean;
  /** The worker said its fleet could not start (a setup error, not a crash): not restarted. */
  failure: string | undefined;
  restartTimer: NodeJS.Timeout | undefined;
  /** Settles the first start of this worker. */
  startedOnce: { resolve: () => void; reject: (error: Error) => void; settled: boolean };
}

export class WorkerFleet {
  private readonly workers: Worker[] = [];
  private stopping = false;
  private restarts = 0;
  private tls: Pick<WorkerFleetOptions["broker"], "caBase64" | "certBase64" | "keyBase64"> = {};
  keptStored = 0;

  constructor(
    private readonly options: Omit<FleetOptions, "log">,
    private readonly workerCount: number,
    private readonly logging: { level: LogLevel; verbose: boolean; print: (line: string) => void },
  ) {}

  async start(): Promise<void> {
    if (this.options.fresh === true) {
      await NodeStorage.wipeNodes(this.options.stateDir, Array.from({ length: this.options.count }, (_, i) => nodeId(this.options.first + i)));
    }
    const ranges = splitRange(this.options.first, this.options.count, this.workerCount);
    // Buffers do not survive the JSON channel: the TLS material (and the logins, plain objects) travel as text.
    const { ca, cert, key } = this.options.broker;
    this.tls = {
      ...(ca !== undefined ? { caBase64: ca.toString("base64") } : {}),
      ...(cert !== undefined ? { certBase64: cert.toString("base64") } : {}),
      ...(key !== undefined ? { keyBase64: key.toString("base64") } : {}),
    };
    const started: Promise<void>[] = [];
    for (const [i, range] of ranges.entries()) {
      const worker: Worker = {
        label: `worker ${i + 1} (${nodeId(range.first)}…${nodeId(range.first + range.count - 1)})`,
        first: range.first,
        count: range.count,
        child: undefined,
        snapshot: emptySnapshot(range.count),
        past: emptySnapshot(range.count),
        keptStored: 0,
        exited: Promise.resolve(),
        deaths: [],
        down: false,
        failure: undefined,
        restartTimer: undefined,
        startedOnce: { resolve: () => undefined, reject: () => undefined, settled: false },
      };
      started.push(
        new Promise<void>((resolve, reject) => {
          worker.startedOnce = { resolve, reject, settled: false };
        }),
      );
      this.workers.push(worker);
      this.spawn(worker);
    }
    await Promise.all(started);
    this.keptStored = this.workers.reduce((n, w) => n + w.keptStored, 0);
  }

  snapshot(): FleetSnapshot {
    const parts = this.workers.map((w) => {
      const s = { ...w.snapshot };
      for (const key of CUMULATIVE) {
        s[key] += w.past[key];
      }
      if (w.down) {
        s.faulted = w.count;
      }
      return s;
    });
    return { ...addSnapshots(parts, this.options.count), workerRestarts: this.restarts };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const w of this.workers) {
      clearTimeout(w.restartTimer);
      if (w.child?.connected === true) {
        w.child.send({ type: "stop" } satisfies ToWorker);
      }
    }
    await Promise.all(
      this.workers.map(async (w) => {
        const child = w.child;
        const timer = setTimeout(() => child?.kill("SIGKILL"), STOP_TIMEOUT_MS);
        await w.exited;
        clearTimeout(timer);
      }),
    );
  }

  /** Process ids of the running workers (the bench reads their CPU time and memory; tests kill one). */
  pids(): number[] {
    return this.workers.map((w) => w.child?.pid ?? 0);
  }

  private spawn(w: Worker): void {
    const child = fork(workerEntry(), [], { stdio: ["ignore", "inherit", "inherit", "ipc"], serialization: "json" });
    const restarted = w.startedOnce.settled;
    w.child = child;
    w.snapshot = emptySnapshot(w.count);
    w.exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    // A send to a process that just died reports here; the exit handler deals with the death.
    child.on("error", () => undefined);
    child.on("message", (message: FromWorker) => {
      if (w.child !== child) {
        return;
      }
      if (message.type === "snapshot" || message.type === "stopped") {
        w.snapshot = message.snapshot;
      } else if (message.type === "line") {
        this.logging.print(message.line);
      } else if (message.type === "started") {
        if (restarted) {
          this.logging.print(`${w.label} is back: its ${countOf(w.count, "node")} started again`);
        } else {
          w.keptStored = message.keptStored;
        }
        this.settleStart(w);
      } else if (message.type === "failed") {
        w.failure = message.message;
      }
    });
    child.on("exit", (code, signal) => this.exited(w, child, code, signal));
    const { ca: _ca, cert: _cert, key: _key, ...broker } = this.options.broker;
    const options: WorkerFleetOptions = {
      ...this.options,
      broker: { ...broker, ...this.tls },
      first: w.first,
      count: w.count,
      logLevel: this.logging.level,
      verbose: this.logging.verbose,
      // Only one process may wipe the shared state directory, before the others start.
      fresh: false,
    };
    child.send({ type: "start", options } satisfies ToWorker);
  }

  private exited(w: Worker, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (w.child !== child) {
      return;
    }
    w.child = undefined;
    for (const key of CUMULATIVE) {
      w.past[key] += w.snapshot[key];
    }
    w.snapshot = emptySnapshot(w.count);
    if (this.stopping) {
      return;
    }
    const how = signal !== null ? signal : `exit code ${code}`;
    if (w.failure !== undefined) {
      w.down = true;
      this.giveUp(w, `${w.label} could not start its nodes: ${w.failure}`);
      return;
    }
    const now = performance.now();
    w.deaths = w.deaths.filter((t) => now - t < RESTART_WINDOW_MS);
    if (w.deaths.length >= RESTART_LIMIT) {
      w.down = true;
      this.giveUp(
        w,
        `${w.label} died (${how}) for the ${RESTART_LIMIT + 1}th time within ${RESTART_WINDOW_MS / 60_000} min; ` +
          `it is not restarted again: its ${countOf(w.count, "node")} stay${w.count === 1 ? "s" : ""} down (counted as faulted), the other workers run on`,
      );
      return;
    }
    w.deaths.push(now);
    this.restarts++;
    this.logging.print(
      `${w.label} died (${how}); restarting it with the same nodes in ${RESTART_DELAY_MS / 1000} s ` +
        `(restart ${w.deaths.length} of at most ${RESTART_LIMIT} within ${RESTART_WINDOW_MS / 60_000} min)`,
    );
    w.restartTimer = setTimeout(() => {
      w.restartTimer = undefined;
      if (!this.stopping) {
        this.spawn(w);
      }
    }, RESTART_DELAY_MS);
  }

  private giveUp(w: Worker, text: string): void {
    if (!w.startedOnce.settled) {
      w.startedOnce.settled = true;
      w.startedOnce.reject(new Error(text));
      return;
    }
    this.logging.print(text);
  }

  private settleStart(w: Worker): void {
    if (!w.startedOnce.settled) {
      w.startedOnce.settled = true;
      w.startedOnce.resolve();
    }
  }
}
