/**
 * One node's MQTT session on mqtt.js, with the Platform's contract
 * (firmware/core/platform.ts): exactly one of connected/connectFailed per
 * attempt, `offline` at most once and never after close(), publish refused
 * (false) while not connected, `done` only on the PUBACK (QoS 1), and no
 * method ever throws. Every callback into the node's code goes through its
 * runner (the NodePlatform), so an exception there faults that node only
 * instead of ending the process with the whole fleet (issue 15).
 *
 * mqtt.js's own reconnect is off (`reconnectPeriod: 0`): the core reconnects
 * with its own backoff, exactly as on NodeMCU, and a fresh client per attempt
 * keeps no state from a dead session (clean session, like the device).
 */
import mqtt, { type IClientOptions, type IClientPublishOptions, type MqttClient } from "mqtt";
import type { MqttEvents, MqttSession } from "../firmware/core/platform";
import type { FleetCounters } from "./fleet-counters";
import type { CallbackRunner } from "./node-timer";

/** NodeMCU truncates inbound messages to this many bytes (mqtt.Client max_message_length). */
export const MAX_INBOUND_BYTES = 1024;
/** A CONNACK must arrive within this time, or the attempt fails (NodeMCU waits about as long). */
const CONNECT_TIMEOUT_MS = 10_000;
/** On a graceful close, wait this long for outstanding acks (the retained "offline") before cutting. */
const CLOSE_GRACE_MS = 3_000;

/** TLS settings shared by every node of a fleet (`--ca`, `--cert`/`--key`). */
export interface LinkTls {
  ca?: Buffer;
  /** Client certificate and key, for a broker that requires one. */
  cert?: Buffer;
  key?: Buffer;
}

const PUBLISH_OPTIONS: IClientPublishOptions[][] = [
  [
    { qos: 0, retain: false },
    { qos: 0, retain: true },
  ],
  [
    { qos: 1, retain: false },
    { qos: 1, retain: true },
  ],
];

/**
 * mqtt.js's logger for every client: without one, each client makes its own
 * `debug('mqttjs:client')` instance (~1.2 KB of heap per node) and calls it
 * (a cheap no-op, but one per packet handled and sent). The simulator never
 * shows those lines unless `DEBUG` asks for some (DEBUG=mqttjs*, DEBUG=*), so
 * one shared no-op unless DEBUG is set; with it, mqtt.js's own logger.
 */
const MQTT_LOG: ((...args: unknown[]) => void) | undefined = (process.env.DEBUG ?? "") === "" ? () => undefined : undefined;

const CONNECTING = 0;
const UP = 1;
const OVER = 2;

/** One connection attempt of a link: what its client's event handlers need. */
class Attempt {
  state = CONNECTING;
  /** The last error mqtt.js reported, for the connect-failed reason. */
  lastError = "";

  constructor(
    readonly link: MqttLink,
    readonly events: MqttEvents,
  ) {}
}

/** An mqtt.js client that carries its attempt (mqtt.js calls a handler with the client as `this`). */
type AttemptClient = MqttClient & { espfleetAttempt: Attempt };

function onError(this: AttemptClient, error: Error & { code?: string | number }): void {
  const code = typeof error.code === "string" ? error.code : "";
  this.espfleetAttempt.lastError = code !== "" && !error.message.includes(code) ? `${code}: ${error.message}` : error.message;
}

function onConnect(this: AttemptClient): void {
  const attempt = this.espfleetAttempt;
  attempt.link.onConnect(this, attempt);
}

function onClose(this: AttemptClient): void {
  const attempt = this.espfleetAttempt;
  attempt.link.onClose(this, attempt);
}

function onMessage(this: AttemptClient, topic: string, payload: Buffer): void {
  const attempt = this.espfleetAttempt;
  attempt.link.onMessage(this, attempt, topic, payload);
}

export class MqttLink {
  private client: MqttClient | undefined = undefined;
  private isUp = false;
  /** Resolves when the last client has let go of its socket; undefined until a client is closed (no promise per node). */
  private closing: Promise<void> | undefined = undefined;

  constructor(
    private readonly tls: LinkTls | undefined,
    /** The fleet's counters (shared by every node of the process). */
    private readonly counters: FleetCounters,
    /** Runs the node's callbacks (events, publish acks). */
    private readonly runner: CallbackRunner,
  ) {}

  connected(): boolean {
    return this.isUp;
  }

  connect(session: MqttSession, events: MqttEvents): void {
    this.close();
    this.counters.connectAttempts++;
    const options: IClientOptions = {
      protocol: session.secure ? "mqtts" : "mqtt",
      host: session.host,
      port: session.port,
      clientId: session.clientId,
      protocolVersion: 4,
      clean: true,
      keepalive: session.keepaliveSec,
      reconnectPeriod: 0,
      connectTimeout: CONNECT_TIMEOUT_MS,
      resubscribe: false,
      queueQoSZero: false,
      will: { topic: session.willTopic, payload: Buffer.from(session.willPayload), qos: 1, retain: true },
    };
    if (MQTT_LOG !== undefined) {
      options.log = MQTT_LOG;
    }
    if (session.user !== "") {
      options.username = session.user;
      options.password = session.password;
    }
    if (session.secure && this.tls?.ca !== undefined) {
      options.ca = this.tls.ca;
    }
    if (session.secure && this.tls?.cert !== undefined && this.tls.key !== undefined) {
      options.cert = this.tls.cert;
      options.key = this.tls.key;
    }
    let client: MqttClient;
    try {
      client = mqtt.connect(options);
    } catch (error) {
      // e.g. an option mqtt.js refuses synchronously: report it like any failed attempt.
      this.counters.connectFailures++;
      setImmediate(() => this.runner.invoke("mqtt connect failed", events.connectFailed, (error as Error).message));
      return;
    }
    this.client = client;
    // Four shared handlers and one small object per attempt, instead of four closures and their context (~0.15 KB per node).
    (client as AttemptClient).espfleetAttempt = new Attempt(this, events);
    client.on("error", onError);
    client.on("connect", onConnect);
    client.on("close", onClose);
    client.on("message", onMessage);
  }

  /** The CONNACK of `client`'s attempt arrived. */
  onConnect(client: MqttClient, attempt: Attempt): void {
    if (this.client !== client || attempt.state !== CONNECTING) {
      return;
    }
    attempt.state = UP;
    this.isUp = true;
    this.counters.connected++;
    this.counters.connects++;
    this.runner.invoke("mqtt connected", attempt.events.connected);
  }

  /** `client`'s socket closed: a lost session, or a failed attempt. */
  onClose(client: MqttClient, attempt: Attempt): void {
    if (this.client !== client || attempt.state === OVER) {
      return;
    }
    const wasUp = attempt.state === UP;
    attempt.state = OVER;
    this.client = undefined;
    client.end(true);
    if (wasUp) {
      this.isUp = false;
      this.counters.connected--;
      this.counters.disconnects++;
      this.runner.invoke("mqtt offline", attempt.events.offline);
    } else {
      this.counters.connectFailures++;
      this.runner.invoke("mqtt connect failed", attempt.events.connectFailed, attempt.lastError !== "" ? attempt.lastError : "connection closed before CONNACK");
    }
  }

  onMessage(client: MqttClient, attempt: Attempt, topic: string, payload: Buffer): void {
    if (this.client !== client) {
      return;
    }
    const body = payload.length > MAX_INBOUND_BYTES ? payload.subarray(0, MAX_INBOUND_BYTES) : payload;
    this.runner.invoke("mqtt message", attempt.events.message, topic, body.toString("utf8"));
  }

  /** `isReading`: count it (and its ack) as a reading in the fleet's counters. */
  publish(topic: string, payload: string, qos: number, retain: boolean, isReading: boolean, done: () => void): boolean {
    const client = this.client;
    if (client === undefined || !this.isUp || !client.connected) {
      return false;
    }
    const counters = this.counters;
    try {
      client.publish(topic, payload, PUBLISH_OPTIONS[qos === 0 ? 0 : 1][retain ? 1 : 0], (error) => {
        // An error means the session ended first: not acknowledged, so `done` must not fire.
        if (error === undefined || error === null) {
          if (isReading) {
            counters.acked++;
          }
          this.runner.invoke("publish ack", done);
        }
      });
      if (isReading) {
        counters.published++;
      }
      return true;
    } catch {
      return false;
    }
  }

  subscribe(topic: string, qos: number): boolean {
    const client = this.client;
    if (client === undefined || !this.isUp || !client.connected) {
      return false;
    }
    try {
      client.subscribe(topic, { qos: qos === 0 ? 0 : 1 });
      return true;
    } catch {
      return false;
    }
  }

  /**
   * End the session without an `offline` event. A live session ends with a
   * DISCONNECT after its outstanding QoS 1 publishes are acknowledged (so a
   * node's retained "offline" goodbye is delivered); anything else is cut.
   */
  close(): void {
    const client = this.client;
    if (client === undefined) {
      return;
    }
    this.client = undefined;
    const wasUp = this.isUp;
    if (wasUp) {
      this.isUp = false;
      this.counters.connected--;
    }
    const previous = this.closing ?? Promise.resolve();
    const ended = new Promise<void>((resolve) => {
      // Whatever mqtt.js does, the promise settles: a stuck close must not hang a shutdown.
      const cut = setTimeout(
        () => {
          safeEnd(client, true, () => undefined);
          resolve();
        },
        wasUp ? CLOSE_GRACE_MS : 1000,
      );
      safeEnd(client, !wasUp, () => {
        clearTimeout(cut);
        resolve();
      });
    });
    this.closing = Promise.all([previous, ended]).then(() => undefined);
  }

  /** Resolves once every client this link opened has closed. */
  closed(): Promise<void> {
    return this.closing ?? Promise.resolve();
  }
}

function safeEnd(client: MqttClient, force: boolean, done: () => void): void {
  try {
    client.end(force, () => done());
  } catch {
    done();
  }
}
