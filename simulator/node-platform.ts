/**
 * The Platform (firmware/core/platform.ts) for one simulated node on Node.js:
 * mqtt.js for the session, Node timers, a directory for files, a sensor model
 * for reads, a seeded PRNG for jitter. The core runs on it unchanged.
 *
 * Per-node memory matters (19,000 nodes in one process): what all nodes
 * share lives in one FleetContext, and no per-node closures are made here.
 *
 * A node's fault stays with the node (issue 15): every callback into the
 * core (timers, the network coming up, MQTT events, publish acks) runs
 * through invoke(), which turns an exception into fault(): that node is
 * marked faulted (logged once, counted), says so on its retained status if
 * its session is up, and stops; the other nodes, and an embedded broker in
 * the same process, run on. Without this, one throw would end the process.
 */
import { createHmac } from "node:crypto";
import type { CfgModule, LogLevel, MqttEvents, MqttSession, Platform, SensorRead, Timer } from "../firmware/core/platform";
import { fastCfg } from "./fast-cfg";
import type { FleetCounters } from "./fleet-counters";
import { topicMatches } from "../broker/topics";
import { MqttLink, type LinkTls } from "./mqtt-link";
import type { NodeFiles } from "./node-storage";
import { type CallbackRunner, NodeTimer } from "./node-timer";
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
  /** Told once when a node faults (after it is counted and logged). */
  onFault?: (nodeId: string, reason: string) => void;
}

/** The completion callback nobody waits for. */
function noop(): void {
  // nothing to do
}

/** "timer sample", … for fault messages: one string per timer name, not one per node. */
const timerNames = new Map<string, string>();
function timerWhere(name: string): string {
  let where = timerNames.get(name);
  if (where === undefined) {
    where = "timer " + name;
    if (timerNames.size < 100) {
      timerNames.set(name, where);
    }
  }
  return where;
}

/** setImmediate's callback: the platform and the function as arguments, no closure per node. */
function runLater(platform: NodePlatform, where: string, fn: (this: void) => void): void {
  platform.invoke(where, fn);
}

export class NodePlatform implements Platform, CallbackRunner {
  private readonly link: MqttLink;
  private readonly bootedAt = performance.now();
  /** Why the node faulted; undefined while it is healthy. */
  private faultReason: string | undefined = undefined;
  /** The node's timers (three), to stop them at a fault; an array of its exact length (a pushed one has room for 17). */
  private timers: NodeTimer[] = [];
  /** The will of the last session asked for (topic, payload): the faulted status is built from it. */
  private willTopic: string | undefined = undefined;
  private willPayload = "";

  constructor(
    private readonly nodeId: string,
    private readonly files: NodeFiles,
    private readonly sensors: SensorSource,
    /** The node's own PRNG stream, for reconnect jitter. */
    private readonly prng: Prng,
    private readonly fleet: FleetContext,
  ) {
    this.link = new MqttLink(fleet.tls, fleet.counters, this);
  }

  /** Why this node faulted, or undefined while it is healthy. */
  faulted(): string | undefined {
    return this.faultReason;
  }

  /** Run a callback into the node's code; an exception there faults this node only. After a fault, nothing runs. */
  invoke(where: string, fn: (this: void, a: string, b: string) => void, a = "", b = ""): void {
    if (this.faultReason !== undefined) {
      return;
    }
    try {
      fn(a, b);
    } catch (error) {
      this.fault(where, error);
    }
  }

  /**
   * Mark the node faulted: count it, log it once, publish the retained
   * status "faulted" when the session is up (a DISCONNECT follows, so the
   * broker does not replace it with the will), stop its timers and session.
   */
  fault(where: string, error: unknown): void {
    if (this.faultReason !== undefined) {
      return;
    }
    const reason = describeException(error);
    this.faultReason = reason;
    this.fleet.counters.faulted++;
    for (const timer of this.timers) {
      timer.stop();
    }
    this.fleet.log(this.nodeId, "error", `faulted in ${where}: ${reason}; this node stops, the rest of the fleet runs on`);
    if (this.willTopic !== undefined && this.link.connected()) {
      this.link.publish(this.willTopic, faultedStatus(this.willPayload, reason), 1, true, false, noop);
    }
    this.link.close();
    this.fleet.onFault?.(this.nodeId, reason);
  }

  /** Is the MQTT session up (for the fleet's summary)? */
  online(): boolean {
    return this.link.connected();
  }

  /** Resolves once the node's MQTT client has closed its socket (after the core's stop()). */
  closed(): Promise<void> {
    return this.link.closed();
  }

  createTimer(name: string): Timer {
    const timer = new NodeTimer(this, timerWhere(name));
    this.timers = [...this.timers, timer];
    return timer;
  }

  /** The simulator has no WiFi step: the link is "up" once, from the event loop, and never goes down. */
  wifiConnect(_ssid: string, _password: string, up: (this: void) => void, _down: (this: void, reason: string) => void): void {
    setImmediate(runLater, this, "wifi up", up);
  }

  mqttConnect(session: MqttSession, events: MqttEvents): void {
    if (this.faultReason !== undefined) {
      return;
    }
    this.willTopic = session.willTopic;
    this.willPayload = session.willPayload;
    this.link.connect(session, events);
  }

  mqttPublish(topic: string, payload: string, qos: number, retain: boolean, done: (this: void) => void): boolean {
    if (this.faultReason !== undefined) {
      return false;
    }
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
    if (this.faultReason !== undefined) {
      return false;
    }
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

  /**
   * The core's boot and config_change code: the imported module (only NodeMCU
   * loads it from storage), handing back each config in one shared V8 shape.
   */
  loadModule(): CfgModule {
    return fastCfg;
  }
}

/** The exception's message and where it was thrown (file:line of the first frame), for one log line. */
export function describeException(error: unknown): string {
  if (!(error instanceof Error)) {
    let text: string;
    try {
      text = typeof error === "string" ? error : (JSON.stringify(error) ?? String(error));
    } catch {
      text = "a value that cannot be printed";
    }
    return `${text} (thrown, not an Error)`;
  }
  const frame = (error.stack ?? "").split("\n").find((line) => line.trimStart().startsWith("at "));
  const where = frame !== undefined ? /([^/\\(\s]+:\d+):\d+\)?\s*$/.exec(frame)?.[1] : undefined;
  return where !== undefined ? `${error.message} (at ${where})` : error.message;
}

/** The retained status of a faulted node: the will's payload (id, boot, fw) with state "faulted" and the reason. */
function faultedStatus(willPayload: string, reason: string): string {
  let body: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(willPayload) as unknown;
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
      body = parsed as Record<string, unknown>;
    }
  } catch {
    // a will that is not JSON: the status says faulted all the same
  }
  return JSON.stringify({ ...body, state: "faulted", error: reason.slice(0, 200) });
}
