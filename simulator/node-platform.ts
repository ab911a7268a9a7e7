/**
 * The Platform (firmware/core/platform.ts) for one simulated node on Node.js:
 * mqtt.js for the session, Node timers, a directory for files, a sensor model
 * for reads, a seeded PRNG for jitter. The core runs on it unchanged.
 *
 * Per-node memory matters (19,000 nodes in one process): what all nodes
 * share lives in one FleetContext, and no per-node closures are made here.
 */
import { createHmac } from "node:crypto";
import * as cfg from "../firmware/core/cold";
import type { CfgModule, LogLevel, MqttEvents, MqttSession, Platform, SensorRead, Timer } from "../firmware/core/platform";
import type { FleetCounters } from "./fleet-counters";
import { topicMatches } from "./config-change";
import { MqttLink, type LinkTls } from "./mqtt-link";
import type { NodeFiles } from "./node-storage";
import { NodeTimer } from "./node-timer";
import type { Prng } from "./prng";

/**
 * Where a node's sensor reads come from: the simulator's SensorModel, or
 * real hardware (host-bridge/johnny-five reads an Arduino over Firmata).
 */
export interface SensorSource {
  read(name: string): SensorRead;
}

/** What every node of one fleet process shares. */
export interface FleetContext {
  counters: FleetCounters;
  /** Filter of the nodes' readings topic (`<prefix>/sensor_data`, or `<prefix>/sensor_data/+` for `sensor_data/{id}`), to count readings apart from other publishes. */
  dataTopic: string;
  /** `<prefix>/config_ack/`: publishes under it are config acknowledgements. */
  ackTopicPrefix: string;
  tls: LinkTls | undefined;
  log: (nodeId: string, level: LogLevel, text: string) => void;
}

export class NodePlatform implements Platform {
  private readonly link: MqttLink;
  private readonly bootedAt = performance.now();

  constructor(
    private readonly nodeId: string,
    private readonly files: NodeFiles,
    private readonly sensors: SensorSource,
    /** The node's own PRNG stream, for reconnect jitter. */
    private readonly prng: Prng,
    private readonly fleet: FleetContext,
  ) {
    this.link = new MqttLink(fleet.tls, fleet.counters);
  }

  /** Is the MQTT session up (for the fleet's summary)? */
  online(): boolean {
    return this.link.connected();
  }

  /** Resolves once the node's MQTT client has closed its socket (after the core's stop()). */
  closed(): Promise<void> {
    return this.link.closed();
  }

  createTimer(): Timer {
    return new NodeTimer();
  }

  /** The simulator has no WiFi step: the link is "up" once, from the event loop, and never goes down. */
  wifiConnect(_ssid: string, _password: string, up: (this: void) => void, _down: (this: void, reason: string) => void): void {
    setImmediate(up);
  }

  mqttConnect(session: MqttSession, events: MqttEvents): void {
    this.link.connect(session, events);
  }

  mqttPublish(topic: string, payload: string, qos: number, retain: boolean, done: (this: void) => void): boolean {
    const fleet = this.fleet;
    const sent = this.link.publish(topic, payload, qos, retain, topicMatches(fleet.dataTopic, topic), done);
    if (sent && topic.startsWith(fleet.ackTopicPrefix)) {
      // The ack's body says applied or rejected; a substring test is enough for a counter.
      if (payload.includes('"result":"applied"')) {
        fleet.counters.configApplied++;
      } else {
        fleet.counters.configRejected++;
      }
    }
    return sent;
  }

  mqttSubscribe(topic: string, qos: number): boolean {
    return this.link.subscribe(topic, qos);
  }

  mqttClose(): void {
    this.link.close();
  }

  readSensor(name: string): SensorRead {
    return this.sensors.read(name);
  }

  readFile(name: string): string | undefined {
    return this.files.read(name);
  }

  writeFile(name: string, contents: string): boolean {
    return this.files.write(name, contents);
  }

  encodeJson(value: object): string {
    return JSON.stringify(value);
  }

  decodeJson(text: string): unknown {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return undefined;
    }
  }

  random(): number {
    return this.prng.next();
  }

  uptimeSec(): number {
    return Math.floor((performance.now() - this.bootedAt) / 1000);
  }

  /** The PC's clock is synced, so readings carry `ts` as on a device after SNTP. */
  unixTimeSec(): number {
    return Math.floor(Date.now() / 1000);
  }

  hmacSha256Hex(key: string, message: string): string {
    return createHmac("sha256", key).update(message).digest("hex");
  }

  defaultNodeId(): string {
    return this.nodeId;
  }

  log(level: LogLevel, text: string): void {
    this.fleet.log(this.nodeId, level, text);
  }

  /** The core's boot and config_change code: the imported module (only NodeMCU loads it from storage). */
  loadModule(): CfgModule {
    return cfg;
  }
}
