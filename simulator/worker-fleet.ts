/**
 * `--workers N`: the fleet split over N worker processes (one per core), each
 * running a contiguous range of node numbers. Same surface as Fleet, so the
 * run command does not care which it has. Processes rather than threads: each
 * has its own heap and garbage collector, which matters at 10,000+ nodes.
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { addSnapshots, emptySnapshot, type FleetSnapshot } from "./fleet-counters";
import type { FleetOptions } from "./fleet";
import type { FromWorker, ToWorker, WorkerFleetOptions } from "./fleet-worker-protocol";
import { nodeId, splitRange } from "./node-ids";
import { NodeStorage } from "./node-storage";
import type { LogLevel } from "../firmware/core/platform";

const ENTRY = fileURLToPath(new URL("./fleet-worker-entry.js", import.meta.url));
/** A worker that has not stopped this long after being told is killed. */
const STOP_TIMEOUT_MS = 20_000;

interface Worker {
  child: ChildProcess;
  label: string;
  snapshot: FleetSnapshot;
  keptStored: number;
  exited: Promise<void>;
}

export class WorkerFleet {
  private readonly workers: Worker[] = [];
  keptStored = 0;

  constructor(
    private readonly options: Omit<FleetOptions, "log">,
    private readonly workerCount: number,
    private readonly logging: { level: LogLevel; verbose: boolean; print: (line: string) => void },
  ) {}

  async start(): Promise<void> {
    if (this.options.fresh === true) {
      await NodeStorage.wipe(this.options.stateDir);
    }
    const ranges = splitRange(this.options.first, this.options.count, this.workerCount);
    // Buffers do not survive the JSON channel: the TLS material (and the logins, plain objects) travel as text.
    const { ca, cert, key, ...broker } = this.options.broker;
    const tls = {
      ...(ca !== undefined ? { caBase64: ca.toString("base64") } : {}),
      ...(cert !== undefined ? { certBase64: cert.toString("base64") } : {}),
      ...(key !== undefined ? { keyBase64: key.toString("base64") } : {}),
    };
    const started: Promise<void>[] = [];
    for (const [i, range] of ranges.entries()) {
      const label = `worker ${i + 1} (${nodeId(range.first)}…${nodeId(range.first + range.count - 1)})`;
      const child = fork(ENTRY, [], { stdio: ["ignore", "inherit", "inherit", "ipc"], serialization: "json" });
      let exitedResolve: () => void = () => undefined;
      const worker: Worker = {
        child,
        label,
        snapshot: emptySnapshot(range.count),
        keptStored: 0,
        exited: new Promise<void>((resolve) => (exitedResolve = resolve)),
      };
      this.workers.push(worker);
      started.push(
        new Promise<void>((resolve, reject) => {
          child.on("message", (message: FromWorker) => {
            if (message.type === "snapshot" || message.type === "stopped") {
              worker.snapshot = message.snapshot;
            } else if (message.type === "line") {
              this.logging.print(message.line);
            } else if (message.type === "started") {
              worker.keptStored = message.keptStored;
              resolve();
            } else if (message.type === "failed") {
              reject(new Error(`${label} failed: ${message.message}`));
            }
          });
          child.on("exit", (code, signal) => {
            exitedResolve();
            if (code !== 0) {
              this.logging.print(`${label} exited (${signal ?? `code ${code}`})`);
            }
            reject(new Error(`${label} exited before starting its nodes`));
          });
        }),
      );
      const options: WorkerFleetOptions = {
        ...this.options,
        broker: { ...broker, ...tls },
        first: range.first,
        count: range.count,
        logLevel: this.logging.level,
        verbose: this.logging.verbose,
        // Only one process may wipe the shared state directory, before the others start.
        fresh: false,
      };
      child.send({ type: "start", options } satisfies ToWorker);
    }
    await Promise.all(started);
    this.keptStored = this.workers.reduce((n, w) => n + w.keptStored, 0);
  }

  snapshot(): FleetSnapshot {
    return addSnapshots(
      this.workers.map((w) => w.snapshot),
      this.options.count,
    );
  }

  async stop(): Promise<void> {
    for (const w of this.workers) {
      if (w.child.connected) {
        w.child.send({ type: "stop" } satisfies ToWorker);
      }
    }
    await Promise.all(
      this.workers.map(async (w) => {
        const timer = setTimeout(() => w.child.kill("SIGKILL"), STOP_TIMEOUT_MS);
        await w.exited;
        clearTimeout(timer);
      }),
    );
  }

  /** Process ids of the workers (the bench reads their CPU time and memory). */
  pids(): number[] {
    return this.workers.map((w) => w.child.pid ?? 0);
  }
}
