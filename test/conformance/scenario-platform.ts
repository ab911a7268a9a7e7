/**
 * A fake Platform with virtual time, a scripted broker, WiFi and sensors,
 * that records a trace of everything the core does to the world.
 *
 * It is written in the same TypeScript subset as the core because it runs
 * in both places the conformance suite compares: in Node (vitest, unit
 * tests) and transpiled to Lua 5.1/5.3 next to the transpiled core.
 * Only JSON and HMAC differ between the two, and they are injected (HostCodec).
 */
import * as cfg from "../../firmware/core/cold";
import type { CfgModule, MqttEvents, MqttSession, Platform, SensorRead, Timer } from "../../firmware/core/platform";

export interface HostCodec {
  encode(this: void, value: object): string;
  /** undefined when the text is not JSON. */
  decode(this: void, text: string): unknown;
  /** HMAC-SHA256 as lowercase hex: node:crypto in Node, pure Lua (device/lua/nodemcu_codecs.lua) in Lua. */
  hmacSha256Hex(this: void, key: string, message: string): string;
}

export interface TraceEntry {
  /** Virtual time in ms. */
  t: number;
  ev: string;
  [field: string]: unknown;
}

/** One pending thing on the virtual clock: a timer firing or a deferred callback. */
interface Agendum {
  due: number;
  /** Tie-breaker: earlier scheduling fires first. */
  order: number;
  period: number;
  fn: (this: void) => void;
  live: boolean;
}

/** Delay (virtual ms) before the scripted broker answers a connect or acks a publish. */
export const BROKER_DELAY_MS = 10;

class ScenarioTimer implements Timer {
  agendum: Agendum | undefined = undefined;
  /** The callback of the last start, kept after a stop (see ScenarioPlatform.late). */
  fn: ((this: void) => void) | undefined = undefined;
  constructor(private readonly owner: ScenarioPlatform, readonly name: string) {}
  start(ms: number, repeat: boolean, fn: (this: void) => void): void {
    if (this.agendum !== undefined) {
      this.agendum.live = false;
    }
    this.fn = fn;
    this.owner.record({ t: this.owner.now, ev: "timer", name: this.name, ms: ms, repeat: repeat });
    this.agendum = this.owner.schedule(ms, repeat ? ms : 0, fn);
  }
  stop(): void {
    if (this.agendum !== undefined && this.agendum.live) {
      this.agendum.live = false;
      this.owner.record({ t: this.owner.now, ev: "timer_stop", name: this.name });
    }
    this.agendum = undefined;
  }
}

export class ScenarioPlatform implements Platform {
  now = 0;
  trace: TraceEntry[] = [];
  /** Files by name; a test may seed them before start. */
  files: Record<string, string> = {};
  /** When true, writeFile fails (a full file system). */
  fileSystemFull = false;
  /** Whether the scripted broker accepts connections. */
  brokerUp = true;
  /** Whether the broker acknowledges publishes (false: they stay unacked). */
  brokerAcks = true;
  /** Value returned by random(); a constant keeps backoff deterministic. */
  randomValue = 0.5;
  unixTime = 0;
  /** Scripted sensor reads, consumed in order; the last one repeats. */
  sensorScript: Record<string, SensorRead[]> = {};
  /** Every log line, "level: text" (not in the trace: log text is for people, but a unit test may read it). */
  logs: string[] = [];
  private sensorIndex: Record<string, number> = {};
  private agenda: Agendum[] = [];
  private order = 0;
  private connected = false;
  private events: MqttEvents | undefined = undefined;
  /** The events of the session before the current one, for late callbacks. */
  private previous: MqttEvents | undefined = undefined;
  private subscriptions: string[] = [];
  private pendingAcks: Agendum[] = [];
  /** Acknowledgements of publishes on sessions that ended before they came. */
  private lostAcks: Agendum[] = [];
  private timers: Record<string, ScenarioTimer> = {};
  private wifiUp: ((this: void) => void) | undefined = undefined;
  private wifiDown: ((this: void, reason: string) => void) | undefined = undefined;

  constructor(private readonly json: HostCodec) {}

  record(entry: TraceEntry): void {
    this.trace.push(entry);
  }

  schedule(delay: number, period: number, fn: (this: void) => void): Agendum {
    this.order++;
    const agendum: Agendum = { due: this.now + delay, order: this.order, period: period, fn: fn, live: true };
    this.agenda.push(agendum);
    return agendum;
  }

  /** Run everything due up to now + ms, in time order, then set the clock there. */
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      let next: Agendum | undefined = undefined;
      const live: Agendum[] = [];
      for (const a of this.agenda) {
        if (a.live) {
          live.push(a);
          if (a.due <= end && (next === undefined || a.due < next.due || (a.due === next.due && a.order < next.order))) {
            next = a;
          }
        }
      }
      this.agenda = live;
      if (next === undefined) {
        break;
      }
      this.now = next.due;
      if (next.period > 0) {
        next.due = next.due + next.period;
        this.order++;
        next.order = this.order;
      } else {
        next.live = false;
      }
      next.fn();
    }
    this.now = end;
  }

  // ---- scripted world ---------------------------------------------------

  bringWifiUp(): void {
    const up = this.wifiUp;
    if (up !== undefined) {
      this.schedule(0, 0, () => up());
    }
  }

  takeWifiDown(reason: string): void {
    this.connected = false;
    const down = this.wifiDown;
    if (down !== undefined) {
      this.schedule(0, 0, () => down(reason));
    }
  }

  /** The broker drops the session (network cut, broker restart); `silent`: no "offline" event comes. */
  dropConnection(silent = false): void {
    if (!this.connected) {
      return;
    }
    this.connected = false;
    this.clearPendingAcks();
    const events = this.events;
    if (events !== undefined && !silent) {
      this.schedule(0, 0, () => events.offline());
    }
  }

  /**
   * A message from the broker on `topic`; delivered only if subscribed, or
   * (`force`) to a connected node that never subscribed to it.
   */
  deliver(topic: string, payload: string, force = false): void {
    let subscribed = force;
    for (const s of this.subscriptions) {
      if (s === topic) {
        subscribed = true;
      }
    }
    const events = this.events;
    if (this.connected && subscribed && events !== undefined) {
      this.schedule(0, 0, () => events.message(topic, payload));
    }
  }

  /**
   * A callback that NodeMCU may still run after the node has moved on: one
   * already in its task queue when the session ended or the timer stopped.
   * `offline` or `message` of the session before the current one, the
   * acknowledgements a dead session never got ("ack"), or the last callback
   * of a stopped timer ("timer", `name`). Run from the event loop, now.
   */
  late(event: string, name: string, topic: string, payload: string): void {
    const previous = this.previous;
    if (event === "offline" && previous !== undefined) {
      this.schedule(0, 0, () => previous.offline());
    } else if (event === "message" && previous !== undefined) {
      this.schedule(0, 0, () => previous.message(topic, payload));
    } else if (event === "ack") {
      const acks = this.lostAcks;
      this.lostAcks = [];
      for (const a of acks) {
        const fn = a.fn;
        this.schedule(0, 0, () => fn());
      }
    } else if (event === "timer" && this.timers[name] !== undefined && this.timers[name].fn !== undefined) {
      const fn = this.timers[name].fn as (this: void) => void;
      this.schedule(0, 0, () => fn());
    } else {
      this.record({ t: this.now, ev: "bad_step", step: "late " + event });
    }
  }

  private clearPendingAcks(): void {
    for (const a of this.pendingAcks) {
      if (a.live) {
        a.live = false;
        this.lostAcks.push(a);
      }
    }
    this.pendingAcks = [];
  }

  /** Parse a payload for the trace; non-JSON payloads are kept as text. */
  private parsed(payload: string): unknown {
    const value = this.json.decode(payload);
    return value !== undefined ? value : payload;
  }

  // ---- Platform ---------------------------------------------------------

  createTimer(name: string): Timer {
    const timer = new ScenarioTimer(this, name);
    this.timers[name] = timer;
    return timer;
  }

  wifiConnect(ssid: string, password: string, up: (this: void) => void, down: (this: void, reason: string) => void): void {
    this.record({ t: this.now, ev: "wifi_connect", ssid: ssid, password: password });
    this.wifiUp = up;
    this.wifiDown = down;
  }

  mqttConnect(session: MqttSession, events: MqttEvents): void {
    this.record({
      t: this.now,
      ev: "connect",
      client: session.clientId,
      host: session.host,
      port: session.port,
      secure: session.secure,
      user: session.user,
      password: session.password,
      keepalive: session.keepaliveSec,
      will: session.willTopic,
      willPayload: this.parsed(session.willPayload),
    });
    this.previous = this.events;
    this.events = events;
    this.subscriptions = [];
    this.clearPendingAcks();
    const accept = this.brokerUp;
    this.schedule(BROKER_DELAY_MS, 0, () => {
      if (accept) {
        this.connected = true;
        events.connected();
      } else {
        events.connectFailed("connection refused");
        // As NodeMCU does after a refused CONNACK (the TCP socket was up): "offline" too, right after.
        this.schedule(0, 0, () => events.offline());
      }
    });
  }

  mqttPublish(topic: string, payload: string, qos: number, retain: boolean, done: (this: void) => void): boolean {
    if (!this.connected) {
      this.record({ t: this.now, ev: "publish_refused", topic: topic });
      return false;
    }
    this.record({ t: this.now, ev: "publish", topic: topic, payload: this.parsed(payload), qos: qos, retain: retain });
    if (this.brokerAcks) {
      this.pendingAcks.push(this.schedule(BROKER_DELAY_MS, 0, done));
    }
    return true;
  }

  mqttSubscribe(topic: string, qos: number): boolean {
    if (!this.connected) {
      return false;
    }
    this.record({ t: this.now, ev: "subscribe", topic: topic, qos: qos });
    this.subscriptions.push(topic);
    return true;
  }

  mqttClose(): void {
    this.record({ t: this.now, ev: "close" });
    this.connected = false;
    this.clearPendingAcks();
  }

  readSensor(name: string): SensorRead {
    const script = this.sensorScript[name];
    if (script === undefined || script.length === 0) {
      return "no such sensor";
    }
    const i = this.sensorIndex[name] ?? 0;
    this.sensorIndex[name] = i + 1;
    return script[Math.min(i, script.length - 1)];
  }

  readFile(name: string): string | undefined {
    return this.files[name];
  }

  writeFile(name: string, contents: string): boolean {
    if (this.fileSystemFull) {
      this.record({ t: this.now, ev: "write_failed", name: name });
      return false;
    }
    this.files[name] = contents;
    this.record({ t: this.now, ev: "write", name: name, contents: this.parsed(contents) });
    return true;
  }

  encodeJson(value: object): string {
    return this.json.encode(value);
  }

  decodeJson(text: string): unknown {
    if (typeof text !== "string") {
      // The Platform takes text; sjson.decode(nil) raises on the device.
      this.record({ t: this.now, ev: "bad_call", name: "decodeJson" });
    }
    return this.json.decode(text);
  }

  random(): number {
    return this.randomValue;
  }

  uptimeSec(): number {
    return Math.floor(this.now / 1000);
  }

  unixTimeSec(): number {
    return this.unixTime > 0 ? this.unixTime + Math.floor(this.now / 1000) : 0;
  }

  hmacSha256Hex(key: string, message: string): string | undefined {
    return this.json.hmacSha256Hex(key, message);
  }

  defaultNodeId(): string {
    return "esp8266-00c0ffee";
  }

  log(level: string, text: string): void {
    // Log text is for people; it is not part of the compared trace.
    this.logs.push(level + ": " + text);
  }

  /** The imported module (not traced: where code comes from is not behaviour); NodeMCU has no other. */
  loadModule(name: string): CfgModule {
    if (name !== "cfg") {
      this.record({ t: this.now, ev: "bad_module", name: name });
    }
    return cfg;
  }
}
