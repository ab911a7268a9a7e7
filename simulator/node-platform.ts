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
import type { CommitWaiter, NodeFiles } from "./node-storage";
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

/** A publish made while one of the node's writes was not yet on disk: sent once it is. */
interface HeldPublish {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
  done: (this: void) => void;
}

/** setImmediate's callback: the platform and the function as arguments, no closure per node. */
function runLater(platform: NodePlatform, where: string, fn: (this: void) => void): void {
  platform.invoke(where, fn);
}

export class NodePlatform implements Platform, CallbackRunner, CommitWaiter {
  private readonly link: MqttLink;
  private readonly bootedAt = performance.now();
  /** Why the node faulted; undefined while it is healthy. */
  private faultReason: string | undefined = undefined;
  /** The node's timers (three), to stop them at a fault; an array of its exact length. */
  private timers: NodeTimer[] = [];
  /** The will of the last session asked for (topic, payload): the faulted status is built from it. */
  private willTopic: string | undefined = undefined;
  private willPayload = "";
  /** The node's writes of the group commit not yet on disk (node-storage.ts writeGrouped). */
  private unsynced = 0;
  /** Publishes waiting for those writes, in order; undefined when none (no array per node). */
  private held: HeldPublish[] | undefined = undefined;
  /** One of the writes the held publishes wait for could not be made durable. */
  private lostWrite = false;
  /** mqttClose came while publishes were held: the session ends once they are sent (a goodbye is among them). */
  private closeWhenSynced = false;
  /** Resolvers of closed() waiting for that close. */
  private closeWaiters: (() => void)[] | undefined = undefined;

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
    // (closeNow, not link.close: a close put off by mqttClose must let closed() resolve too.)
    this.closeNow();
    this.fleet.onFault?.(this.nodeId, reason);
  }

  /** Is the MQTT session up (for the fleet's summary)? */
  online(): boolean {
    return this.link.connected();
  }

  /** Resolves once the node's MQTT client has closed its socket (after the core's stop()). */
  closed(): Promise<void> {
    if (this.closeWhenSynced) {
      return new Promise<void>((resolve) => (this.closeWaiters ??= []).push(resolve)).then(() => this.link.closed());
    }
    return this.link.closed();
  }

  /** The close mqttClose put off (or gave up, for a new session): now, and closed() may resolve. */
  private closeNow(): void {
    this.closeWhenSynced = false;
    this.link.close();
    const waiters = this.closeWaiters;
    this.closeWaiters = undefined;
    for (const resolve of waiters ?? []) {
      resolve();
    }
  }

  createTimer(name: string): Timer {
    const timer = new NodeTimer(this, timerWhere(name));
    // `new Array(n)` has room for n exactly; a spread or a push leaves room for ~40 (176 B per node in a heap snapshot).
    const timers = new Array<NodeTimer>(this.timers.length + 1);
    for (let i = 0; i < this.timers.length; i++) {
      timers[i] = this.timers[i];
    }
    timers[this.timers.length] = timer;
    this.timers = timers;
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
    // Publishes held for the last session die with it (the core re-queues its reading); new ones still wait for the disk.
    this.held = undefined;
    if (this.closeWhenSynced) {
      this.closeNow();
    }
    this.link.connect(session, events);
  }

  mqttPublish(topic: string, payload: string, qos: number, retain: boolean, done: (this: void) => void): boolean {
    if (this.faultReason !== undefined) {
      return false;
    }
    if (this.unsynced > 0) {
      // Nothing leaves the node before what it wrote is on disk: a config change's ack says the
      // change is stored, a reading's boot number is never used twice (see writeFile).
      if (!this.link.connected()) {
        return false;
      }
      (this.held ??= []).push({ topic, payload, qos, retain, done });
      return true;
    }
    return this.send(topic, payload, qos, retain, done);
  }

  private send(topic: string, payload: string, qos: number, retain: boolean, done: (this: void) => void): boolean {
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
    if (this.held !== undefined && this.link.connected()) {
      // The core's goodbye (retained "offline") waits for the disk with the rest: close after it is sent.
      this.closeWhenSynced = true;
      return;
    }
    this.link.close();
  }

  readSensor(name: string): SensorRead {
    return this.sensors.read(name);
  }

  readFile(name: string): string | undefined {
    return this.files.read(name);
  }

  /**
   * Through the group commit when the files offer it: the file is written
   * now (false at once when it cannot be, so the core rejects a change as
   * before), made durable together with the other nodes' writes of this
   * turn, and until it is, what the node publishes waits (mqttPublish). So
   * the core's "ack right after writeFile returned true" still means "on
   * disk", without this node's event loop waiting for the disk.
   */
  writeFile(name: string, contents: string): boolean {
    const files = this.files;
    if (files.writeGrouped === undefined) {
      return files.write(name, contents);
    }
    const written = files.writeGrouped(name, contents, this);
    if (written) {
      this.unsynced++;
    }
    return written;
  }

  /**
   * A write of this node is on disk (or could not be made so). When none is
   * left, the held publishes go out in order; an "applied" ack whose change
   * could not be made durable is dropped instead (the operator hears no ack,
   * never a false one; the error was logged and counted by the storage).
   */
  committed(ok: boolean): void {
    this.unsynced--;
    if (!ok) {
      this.lostWrite = true;
    }
    if (this.unsynced > 0) {
      return;
    }
    const held = this.held;
    const lost = this.lostWrite;
    this.held = undefined;
    this.lostWrite = false;
    if (held !== undefined && this.faultReason === undefined) {
      const ackPrefix = this.fleet.ackTopicPrefix;
      for (const p of held) {
        if (lost && p.topic.startsWith(ackPrefix) && p.payload.includes('"result":"applied"')) {
          this.fleet.log(this.nodeId, "error", "config change applied but not acknowledged: it could not be stored durably");
          continue;
        }
        this.send(p.topic, p.payload, p.qos, p.retain, p.done);
      }
    }
    if (this.closeWhenSynced) {
      this.closeNow();
    }
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
