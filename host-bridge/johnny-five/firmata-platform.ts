/**
 * An Arduino as a fleet member: the unchanged sensor-node core
 * (firmware/core) on the simulator's NodePlatform (mqtt.js session, Node
 * timers, per-node files, write-behind storage), with sensor reads from the
 * board through johnny-five instead of a sensor model. The node publishes
 * readings on `<prefix>/sensor_data` (its `topic_data`), obeys `config_change` (interval,
 * sensitivity, sensors, …), acknowledges, persists, exactly like a simulated
 * node or an ESP8266.
 *
 * Only the sensor source differs; everything else is reused, so a fix in
 * the simulator's platform reaches the bridge too.
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { NodeConfig } from "../../firmware/core/config";
import { SensorNode } from "../../firmware/core/node";
import type { LogLevel } from "../../firmware/core/platform";
import type { BrokerTarget } from "../../broker/target";
import { CliError } from "../../common/errors";
import { fleetContext } from "../../simulator/fleet";
import { FleetCounters } from "../../simulator/fleet-counters";
import { checkFleetSettings, seedNodeFiles } from "../../simulator/node-config-seed";
import { NodePlatform, type SensorSource } from "../../simulator/node-platform";
import { NodeStorage } from "../../simulator/node-storage";
import { Prng, randomSeed } from "../../simulator/prng";

/** node_id's bound in the config schema (firmware/core/config.ts). */
const MAX_NODE_ID_CHARS = 32;

export interface BridgeNodeOptions {
  nodeId: string;
  broker: BrokerTarget;
  /** topic_prefix; "" for none. */
  prefix: string;
  /** The node keeps `<stateDir>/<nodeId>/config.json` and `boot.txt`. */
  stateDir: string;
  /** Forget the node's stored files first. */
  fresh?: boolean;
  sensors: SensorSource;
  /** Run-time settings for a node with nothing stored yet (interval_ms, sensors, …). */
  initial: Partial<NodeConfig>;
  /** Settings forced on every start beyond the broker and the prefix (e.g. reconnect_min_ms in tests). */
  fixed?: Partial<NodeConfig>;
  log: (level: LogLevel, text: string) => void;
}

/** Which option sets which key, for messages. */
const OPTION_FOR_KEY: Record<string, string> = { interval_ms: "--interval", sensors: "--sensor", topic_prefix: "--prefix" };

export class BridgeNode {
  readonly counters = new FleetCounters();
  readonly storage: NodeStorage;
  readonly platform: NodePlatform;
  readonly core: SensorNode;
  /** Run-time keys whose stored value (from an earlier config_change) won over the options. */
  readonly keptStored: string[];
  private stopping: Promise<void> | undefined = undefined;

  private constructor(readonly options: BridgeNodeOptions) {
    const { nodeId, broker, prefix, log } = options;
    this.storage = new NodeStorage(options.stateDir, (text) => log("error", text));
    const files = this.storage.forNode(nodeId);
    const seeded = seedNodeFiles(nodeId, files, { broker, initial: options.initial, fixed: { ...options.fixed, topic_prefix: prefix } });
    this.keptStored = seeded.kept;
    const context = fleetContext(broker, prefix, seeded.config.topic_data, this.counters, (_id, level, line) => log(level, line));
    this.platform = new NodePlatform(nodeId, files, options.sensors, new Prng(randomSeed()), context);
    this.core = new SensorNode(this.platform);
  }

  /** Refuse settings the node would refuse, naming the option; before anything is opened. */
  static check(options: Omit<BridgeNodeOptions, "sensors" | "log">): void {
    if (!/^[A-Za-z0-9._-]+$/.test(options.nodeId) || options.nodeId.startsWith(".") || options.nodeId.length > MAX_NODE_ID_CHARS) {
      throw new CliError(`--id "${options.nodeId}": a node id has 1-${MAX_NODE_ID_CHARS} letters, digits, ".", "_" or "-" (not first ".")`, 2);
    }
    checkFleetSettings(
      { broker: options.broker, initial: options.initial, fixed: { ...options.fixed, topic_prefix: options.prefix } },
      (key) => OPTION_FOR_KEY[key] ?? key,
    );
  }

  /** Check the settings, seed the node's config file, start the core (it connects and samples by itself). */
  static async start(options: BridgeNodeOptions): Promise<BridgeNode> {
    BridgeNode.check(options);
    if (options.fresh === true) {
      await rm(join(options.stateDir, options.nodeId), { recursive: true, force: true });
    }
    const node = new BridgeNode(options);
    node.core.start();
    return node;
  }

  /** Is the MQTT session up? */
  online(): boolean {
    return this.platform.online();
  }

  /** Retained "offline", disconnect, and the files on disk. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.core.stop();
      await this.platform.closed();
      await this.storage.flush();
    })();
    return this.stopping;
  }
}
