/**
 * The child processes of `npm run bench:collect`, from the parent's side:
 * simulated nodes spread over a few processes (collect-bench-nodes.ts), and
 * the embedded broker on a folder (embedded-broker-child.ts).
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { RunningCollector } from "../../test/ops/support/collector-harness";
import type { BrokerSettings, FromBroker, FromNodes, NodesSettings, NodesStats, ToNodes } from "./collect-bench-protocol";

const NODES_CHILD = fileURLToPath(new URL("./collect-bench-nodes.ts", import.meta.url));
const BROKER_CHILD = fileURLToPath(new URL("./embedded-broker-child.ts", import.meta.url));

function forkTs(file: string, settings: unknown): ChildProcess {
  return fork(file, [JSON.stringify(settings)], { execArgv: [...process.execArgv, "--max-old-space-size=4096"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
}

/** The next message of `type` from `child` (rejects if it exits first). */
function next<T extends { type: string }>(child: ChildProcess, type: T["type"]): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: T): void => {
      if (message.type === type) {
        child.off("message", onMessage);
        child.off("exit", onExit);
        resolve(message);
      }
    };
    const onExit = (code: number | null): void => reject(new Error(`a benchmark child process exited (${code}) before "${type}"`));
    child.on("message", onMessage);
    child.once("exit", onExit);
  });
}

const sum = (all: NodesStats[]): NodesStats => all.reduce((a, s) => ({ connected: a.connected + s.connected, published: a.published + s.published, acked: a.acked + s.acked }), { connected: 0, published: 0, acked: 0 });

export class SimulatedNodes {
  private constructor(private readonly children: ChildProcess[]) {}

  /** `count` nodes over `processes` processes, connected (resolves when every one is). */
  static async start(settings: Omit<NodesSettings, "first" | "count">, count: number, processes: number): Promise<SimulatedNodes> {
    const per = Math.ceil(count / processes);
    const children: ChildProcess[] = [];
    for (let first = 1; first <= count; first += per) {
      children.push(forkTs(NODES_CHILD, { ...settings, first, count: Math.min(per, count - first + 1) } satisfies NodesSettings));
    }
    await Promise.all(children.map((c) => next<FromNodes>(c, "connected")));
    return new SimulatedNodes(children);
  }

  publish(): void {
    this.children.forEach((c) => c.send({ type: "publish" } satisfies ToNodes));
  }

  /** The nodes' processes, for their CPU time (proc-cpu.ts). */
  get pids(): number[] {
    return this.children.flatMap((c) => (c.pid !== undefined ? [c.pid] : []));
  }

  async stats(): Promise<NodesStats> {
    const replies = this.children.map((c) => next<FromNodes & NodesStats>(c, "stats"));
    this.children.forEach((c) => c.send({ type: "stats" } satisfies ToNodes));
    return sum(await Promise.all(replies));
  }

  /** Stop publishing, wait for the last PUBACKs, disconnect: the totals. */
  async stop(): Promise<NodesStats> {
    const replies = this.children.map((c) => next<FromNodes & NodesStats>(c, "stopped"));
    this.children.forEach((c) => c.send({ type: "stop" } satisfies ToNodes));
    return sum(await Promise.all(replies));
  }
}

export interface BrokerChild {
  port: number;
  stop(): Promise<void>;
}

export async function startBrokerChild(settings: BrokerSettings): Promise<BrokerChild> {
  const child = forkTs(BROKER_CHILD, settings);
  const { port } = await next<FromBroker & { type: "listening" }>(child, "listening");
  return {
    port,
    async stop() {
      const stopped = next<FromBroker>(child, "stopped").catch(() => undefined);
      child.send({ type: "stop" });
      await stopped;
    },
  };
}

/**
 * Wait until the collector has committed everything the nodes' broker
 * acknowledged (`acked`), a minute at most, then stop it: what it did not
 * store by then is counted as lost by the caller.
 */
export async function stopWhenStored(collector: RunningCollector, acked: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (collector.collector.stats.totals.stored < acked && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  // The last PUBACKs go out after their commit.
  await new Promise((r) => setTimeout(r, 500));
  await collector.stop();
}
