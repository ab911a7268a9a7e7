/**
 * A fleet of simulated nodes in this process: node n runs the unchanged core
 * (`new SensorNode(platform).start()`) on its own NodePlatform, with its own
 * MQTT client, last will, timers, files and sensor model. Starts are paced
 * (`connectRate` per second) so thousands of nodes do not hit the broker in
 * the same millisecond, and their sampling timers end up spread out too.
 */
import { join } from "node:path";
import { SensorNode } from "../firmware/core/node";
import { DEFAULT_TOPIC_DATA, operatorTopics } from "../broker/topics";
import type { LogLevel } from "../firmware/core/platform";
import { type BrokerTarget, loginFor } from "../broker/target";
import { maskSecrets } from "../common/secrets";
import { bufferState } from "./core-probe";
import { FleetCounters, type FleetSnapshot } from "./fleet-counters";
import { nodeId } from "./node-ids";
import { seedNodeFiles, type FleetNodeSettings } from "./node-config-seed";
import type { LinkTls } from "./mqtt-link";
import { type FleetContext, NodePlatform } from "./node-platform";
import { NodeStorage, type NodeFiles } from "./node-storage";
import { Prng } from "./prng";
import { type FaultRates, type IntervalSource, NO_FAULTS, SensorModel } from "./sensor-model";

export interface FleetOptions {
  broker: BrokerTarget;
  /** Number of the first node (node-0001 is 1) and how many to run here. */
  first: number;
  count: number;
  /** Directory holding one sub-directory of files per node. */
  stateDir: string;
  /** Forget stored node files before starting. */
  fresh?: boolean;
  seed: number;
  /** Time of day (ms after midnight) at which the sensor models start; default from the seed. */
  dayStartMs?: number;
  faults?: FaultRates;
  /** Rates of the nodes named in `--faults kind=p@node-id` (each replaces `faults` for its node). */
  nodeFaults?: Record<string, FaultRates>;
  /** Run-time config for nodes without a stored one (interval_ms, sensitivity, …). */
  initial?: FleetNodeSettings["initial"];
  /** Settings forced on every start (topic_prefix, topic_data, reconnect_min_ms, …); without topic_data the nodes keep a stored one, else the default. */
  fixed?: FleetNodeSettings["fixed"];
  /** Node starts per second. */
  connectRate: number;
  log?: (nodeId: string, level: LogLevel, text: string) => void;
}

/**
 * One simulated node and the parts a test may poke. Also tells the sensor
 * model the node's live sampling interval (a config_change moves it).
 */
export class SimNode implements IntervalSource {
  core!: SensorNode;
  platform!: NodePlatform;
  sensors!: SensorModel;

  constructor(
    readonly id: string,
    readonly number: number,
    readonly files: NodeFiles,
    /** Interval until the core has loaded its config. */
    private readonly initialIntervalMs: number,
  ) {}

  intervalMs(): number {
    return this.core !== undefined ? this.core.settings().interval_ms : this.initialIntervalMs;
  }
}

/** Start pacing runs in slices of this many milliseconds. */
const PACE_TICK_MS = 10;

export class Fleet {
  readonly counters = new FleetCounters();
  readonly nodes: SimNode[] = [];
  readonly storage: NodeStorage;
  private readonly settings: FleetNodeSettings;
  private readonly context: FleetContext;
  private readonly dayStartMs: number;
  private pacer: NodeJS.Timeout | undefined = undefined;
  private stopped = false;
  /** Nodes that kept a stored run-time setting the options asked to change. */
  keptStored = 0;

  constructor(readonly options: FleetOptions) {
    this.storage = new NodeStorage(options.stateDir, (text) => this.log("fleet", "error", text));
    this.settings = { broker: options.broker, initial: options.initial ?? {}, fixed: options.fixed ?? {} };
    const fixed = this.settings.fixed;
    this.context = fleetContext(options.broker, fixed.topic_prefix ?? "", fixed.topic_data ?? DEFAULT_TOPIC_DATA, this.counters, (id, level, text) => this.log(id, level, text));
    // The whole fleet shares one simulated day, starting at a time of day drawn from the seed.
    this.dayStartMs = options.dayStartMs ?? Math.floor(new Prng(options.seed, 0x5eed).next() * 86_400_000);
  }

  /** Start every node, paced; resolves once the last one has started (not necessarily connected). */
  async start(): Promise<void> {
    if (this.options.fresh === true) {
      await NodeStorage.wipeNodes(this.options.stateDir, Array.from({ length: this.options.count }, (_, i) => nodeId(this.options.first + i)));
    }
    const { first, count } = this.options;
    let next = first;
    let budget = 0;
    const perTick = (this.options.connectRate * PACE_TICK_MS) / 1000;
    await new Promise<void>((resolve) => {
      const tick = (): void => {
        if (this.stopped) {
          resolve();
          return;
        }
        budget += perTick;
        while (budget >= 1 && next < first + count) {
          this.startNode(next++);
          budget--;
        }
        if (next >= first + count) {
          clearInterval(this.pacer);
          this.pacer = undefined;
          resolve();
        }
      };
      this.pacer = setInterval(tick, PACE_TICK_MS);
      tick();
    });
  }

  node(id: string): SimNode | undefined {
    return this.nodes.find((n) => n.id === id);
  }

  snapshot(): FleetSnapshot {
    const c = this.counters;
    let buffered = 0;
    let dropped = 0;
    for (const node of this.nodes) {
      const state = bufferState(node.core);
      buffered += state.buffered;
      dropped += state.dropped;
    }
    return {
      started: this.nodes.length,
      total: this.options.count,
      connected: c.connected,
      connectAttempts: c.connectAttempts,
      connects: c.connects,
      connectFailures: c.connectFailures,
      disconnects: c.disconnects,
      published: c.published,
      acked: c.acked,
      configApplied: c.configApplied,
      configRejected: c.configRejected,
      buffered,
      dropped,
      storageErrors: this.storage.writeErrors,
      faulted: c.faulted,
      workerRestarts: 0,
    };
  }

  /**
   * Clean shutdown: each node says "offline" (retained) and disconnects, then
   * the files are flushed. Resolves when every client has closed.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.pacer !== undefined) {
      clearInterval(this.pacer);
      this.pacer = undefined;
    }
    for (const node of this.nodes) {
      // A faulted node has said so already (retained "faulted") and closed its session.
      if (node.platform.faulted() === undefined) {
        try {
          node.core.stop();
        } catch (error) {
          node.platform.fault("stop", error);
        }
      }
    }
    await Promise.all(this.nodes.map((n) => n.platform.closed()));
    await this.storage.flush();
  }

  private startNode(number: number): void {
    const id = nodeId(number);
    const files = this.storage.forNode(id);
    const seeded = seedNodeFiles(id, files, this.settings);
    if (seeded.kept.length > 0) {
      this.keptStored++;
    }
    const seed = this.options.seed;
    const node = new SimNode(id, number, files, seeded.config.interval_ms);
    node.sensors = new SensorModel(seed, number, this.dayStartMs, this.faultsFor(id), node);
    node.platform = new NodePlatform(id, files, node.sensors, new Prng(seed, number * 2), this.context);
    node.core = new SensorNode(node.platform);
    this.nodes.push(node);
    try {
      node.core.start();
    } catch (error) {
      // A boot that throws faults this node only; the pacer goes on with the next.
      node.platform.fault("boot", error);
    }
  }

  private faultsFor(id: string): FaultRates {
    const perNode = this.options.nodeFaults;
    if (perNode !== undefined && Object.prototype.hasOwnProperty.call(perNode, id)) {
      return perNode[id];
    }
    return this.options.faults ?? NO_FAULTS;
  }

  /** Node log lines never show a password: the node's own and the shared one are masked. */
  private log(id: string, level: LogLevel, text: string): void {
    const log = this.options.log;
    if (log !== undefined) {
      const broker = this.options.broker;
      log(id, level, maskSecrets(text, [loginFor(broker, id).password, broker.password]));
    }
  }
}

/** What every node of a fleet (or a lone bridge node) shares: its topics (topic_prefix, topic_data), counters, TLS material, log. */
export function fleetContext(broker: BrokerTarget, prefix: string, topicData: string, counters: FleetCounters, log: FleetContext["log"]): FleetContext {
  const topics = operatorTopics(prefix, topicData);
  return { counters, dataTopic: topics.data, ackTopicPrefix: topics.acks.slice(0, -1), tls: linkTls(broker), log };
}

/** The TLS material every node of the fleet shares: the CA to trust, a client certificate. */
function linkTls(broker: BrokerTarget): LinkTls | undefined {
  if (broker.ca === undefined && broker.cert === undefined) {
    return undefined;
  }
  const tls: LinkTls = {};
  if (broker.ca !== undefined) {
    tls.ca = broker.ca;
  }
  if (broker.cert !== undefined && broker.key !== undefined) {
    tls.cert = broker.cert;
    tls.key = broker.key;
  }
  return tls;
}

/** Default state directory: `.espfleet/nodes` under the current directory. */
export function defaultStateDir(): string {
  return join(process.cwd(), ".espfleet", "nodes");
}
