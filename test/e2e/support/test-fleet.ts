/** A small fleet for an end-to-end test: its own state directory and topic prefix. */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NodeConfig } from "../../../firmware/core/config";
import { Fleet } from "../../../simulator/fleet";
import type { BrokerUnderTest } from "./brokers";
import { until } from "./observer";

export interface TestFleetOptions {
  nodes: number;
  initial: Partial<NodeConfig>;
  fixed?: Partial<NodeConfig>;
  prefix: string;
  stateDir?: string;
  seed?: number;
}

export function newStateDir(): string {
  return mkdtempSync(join(tmpdir(), "espfleet-state-"));
}

let prefixCounter = 0;
/** A topic prefix no other test on the same broker uses. */
export function uniquePrefix(name: string): string {
  prefixCounter++;
  return `t${process.pid}-${name}-${prefixCounter}`;
}

export async function startTestFleet(broker: BrokerUnderTest, options: TestFleetOptions): Promise<{ fleet: Fleet; logs: string[] }> {
  const logs: string[] = [];
  const fleet = new Fleet({
    broker: broker.target,
    first: 1,
    count: options.nodes,
    stateDir: options.stateDir ?? newStateDir(),
    seed: options.seed ?? 42,
    initial: { sensors: ["temperature", "humidity"], ...options.initial },
    fixed: { topic_prefix: options.prefix, reconnect_min_ms: 100, reconnect_max_ms: 1000, ...options.fixed },
    connectRate: 2000,
    // Every line, info included: a test that says something never shows in the logs must see all of them.
    log: (id, level, text) => {
      logs.push(`${id} ${level}: ${text}`);
    },
  });
  await fleet.start();
  await until(() => fleet.counters.connected === options.nodes, 10_000, `${options.nodes} nodes connected to ${broker.name}`);
  return { fleet, logs };
}
