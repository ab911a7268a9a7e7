/**
 * The sensor node: samples, publishes, obeys `config_change`, buffers while
 * offline and reconnects with backoff. Runtime-neutral (see TS-SUBSET.md);
 * everything it touches goes through the Platform.
 */
import {
  applyChange,
  ChangeResult,
  ConfigError,
  copyConfig,
  listLength,
  loadConfig,
  NodeConfig,
  runtimeView,
} from "./config";
import { Outbox } from "./outbox";
import type { Platform, SensorRead, Timer } from "./platform";
import { Topics, topicsFor } from "./topics";

export const FIRMWARE_VERSION = "0.1.0";
export const CONFIG_FILE = "config.json";
export const BOOT_FILE = "boot.txt";
/** Longest `config_change` accepted, in bytes; NodeMCU drops anything over 1024. */
export const MAX_CONFIG_BYTES = 512;
/** Keys of a `config_change` that address the message rather than the config. */
export const ENVELOPE_KEYS = ["target", "req"];

const enum Link {
  WaitingForWifi,
  Connecting,
  Online,
  Backoff,
  Stopped,
}

/** Round to 2 decimals with integer arithmetic so every runtime prints the same. */
function round2(value: number): number {
  return Math.floor(value * 100 + 0.5) / 100;
}

export class SensorNode {
  private config: NodeConfig;
  private id = "";
  private topics: Topics;
  private link = Link.WaitingForWifi;
  /** Bumped per MQTT session so callbacks of a dead session are ignored. */
  private session = 0;
  private attempt = 0;
  private boot = 0;
  private seq = 0;
  /** Time since the last published reading, counted in sampling intervals. */
  private sinceHeartbeatMs = 0;
  /** Last published value per sensor; undefined until the first reading. */
  private last: Record<string, number> | undefined = undefined;
  private failing: Record<string, boolean> = {};
  private outbox: Outbox;
  /** The reading on the wire, awaiting its PUBACK; put back if the session dies. */
  private inFlight: string | undefined = undefined;
  private droppedReported = 0;
  private readonly sampleTimer: Timer;
  private readonly retryTimer: Timer;
  private readonly flushTimer: Timer;

  constructor(private readonly platform: Platform) {
    this.config = copyConfig(loadConfig(undefined).config as NodeConfig);
    this.topics = topicsFor(this.config, "");
    this.outbox = new Outbox(0);
    this.sampleTimer = platform.createTimer("sample");
    this.retryTimer = platform.createTimer("retry");
    this.flushTimer = platform.createTimer("flush");
  }

  /** Load the stored config, count the boot, start sampling and connecting. */
  start(): void {
    const p = this.platform;
    const stored = p.readFile(CONFIG_FILE);
    const decoded = stored !== undefined ? p.decodeJson(stored) : undefined;
    const loaded = loadConfig(decoded);
    this.config = loaded.config as NodeConfig;
    this.id = this.config.node_id !== "" ? this.config.node_id : p.defaultNodeId();
    this.topics = topicsFor(this.config, this.id);
    this.outbox = new Outbox(this.config.buffer_capacity);
    if (stored !== undefined && decoded === undefined) {
      p.log("warn", CONFIG_FILE + " is not valid JSON; using defaults");
    }
    for (const e of loaded.errors) {
      p.log("warn", CONFIG_FILE + ": " + e.key + " " + e.reason + "; using the default");
    }
    const bootText = p.readFile(BOOT_FILE);
    const previous = bootText !== undefined ? p.decodeJson(bootText) : undefined;
    const count = typeof previous === "object" && previous !== null ? (previous as Record<string, unknown>).boot : undefined;
    this.boot = typeof count === "number" ? Math.floor(count) + 1 : 1;
    p.writeFile(BOOT_FILE, p.encodeJson({ boot: this.boot }));
    p.log("info", "node " + this.id + " boot " + this.boot + ", sampling every " + this.config.interval_ms + " ms");
    this.sampleTimer.start(this.config.interval_ms, true, () => this.sample());
    this.link = Link.WaitingForWifi;
    p.wifiConnect(
      this.config.wifi_ssid,
      this.config.wifi_password,
      () => this.wifiUp(),
      (reason) => this.wifiDown(reason),
    );
  }

  /** Say goodbye (retained "offline") and stop everything; used on a clean shutdown. */
  stop(): void {
    if (this.link === Link.Online) {
      this.platform.mqttPublish(this.topics.status, this.statusPayload("offline"), 1, true, () => undefined);
    }
    this.link = Link.Stopped;
    this.session++;
    this.sampleTimer.stop();
    this.retryTimer.stop();
    this.flushTimer.stop();
    this.platform.mqttClose();
  }

  /** Current effective config (a copy). */
  currentConfig(): NodeConfig {
    return copyConfig(this.config);
  }

  /** The live config, for platform code that needs a setting (read-only by convention). */
  settings(): NodeConfig {
    return this.config;
  }

  nodeId(): string {
    return this.id;
  }

  // ---- connection lifecycle -------------------------------------------

  private wifiUp(): void {
    if (this.link === Link.WaitingForWifi) {
      this.connect();
    }
  }

  private wifiDown(reason: string): void {
    this.platform.log("warn", "wifi lost: " + reason);
    if (this.link === Link.Online || this.link === Link.Connecting || this.link === Link.Backoff) {
      this.dropSession();
      this.retryTimer.stop();
    }
    if (this.link !== Link.Stopped) {
      this.link = Link.WaitingForWifi;
    }
  }

  private connect(): void {
    const c = this.config;
    this.link = Link.Connecting;
    this.session++;
    const session = this.session;
    this.platform.mqttConnect(
      {
        clientId: this.id,
        host: c.mqtt_host,
        port: c.mqtt_port,
        secure: c.mqtt_secure,
        user: c.mqtt_user,
        password: c.mqtt_password,
        keepaliveSec: c.mqtt_keepalive_s,
        willTopic: this.topics.status,
        willPayload: this.statusPayload("offline"),
      },
      {
        connected: () => {
          if (session === this.session) {
            this.connected();
          }
        },
        connectFailed: (reason) => {
          if (session === this.session) {
            this.platform.log("warn", "mqtt connect to " + c.mqtt_host + " failed: " + reason);
            this.scheduleRetry();
          }
        },
        offline: () => {
          if (session === this.session) {
            this.platform.log("warn", "mqtt connection lost");
            this.dropSession();
            this.scheduleRetry();
          }
        },
        message: (topic, payload) => {
          if (session === this.session && topic === this.topics.config) {
            this.configMessage(payload);
          }
        },
      },
    );
  }

  private connected(): void {
    const p = this.platform;
    this.link = Link.Online;
    this.attempt = 0;
    p.log("info", "mqtt connected to " + this.config.mqtt_host);
    p.mqttPublish(this.topics.status, this.statusPayload("online"), 1, true, () => undefined);
    p.mqttSubscribe(this.topics.config, 1);
    this.reportDropped();
    this.flush();
  }

  /** Forget the current session; a reading on the wire goes back to the buffer. */
  private dropSession(): void {
    this.session++;
    this.flushTimer.stop();
    if (this.inFlight !== undefined) {
      this.outbox.pushFront(this.inFlight);
      this.inFlight = undefined;
    }
    if (this.link === Link.Online) {
      this.platform.mqttClose();
    }
    this.link = Link.Backoff;
  }

  /** Exponential backoff with equal jitter: half the step fixed, half random. */
  private scheduleRetry(): void {
    const c = this.config;
    let step = c.reconnect_min_ms;
    for (let i = 0; i < this.attempt && step < c.reconnect_max_ms; i++) {
      step = step * 2;
    }
    if (step >= c.reconnect_max_ms) {
      step = c.reconnect_max_ms;
    } else {
      this.attempt++;
    }
    const delay = Math.floor(step / 2 + this.platform.random() * (step / 2));
    this.link = Link.Backoff;
    this.retryTimer.start(delay, false, () => {
      if (this.link === Link.Backoff) {
        this.connect();
      }
    });
  }

  private statusPayload(state: string): string {
    return this.platform.encodeJson({ id: this.id, state: state, boot: this.boot, fw: FIRMWARE_VERSION });
  }

  // ---- sampling and publishing -----------------------------------------

  private sample(): void {
    const p = this.platform;
    const reading: Record<string, unknown> = {};
    const values: Record<string, number> = {};
    const failed: string[] = [];
    let changed = this.last === undefined || this.sinceHeartbeatMs + this.config.interval_ms >= this.config.heartbeat_ms;
    for (const name of this.config.sensors) {
      const read: SensorRead = p.readSensor(name);
      if (typeof read === "number") {
        const value = round2(read);
        values[name] = value;
        reading[name] = value;
        const before = this.last !== undefined ? this.last[name] : undefined;
        if (before === undefined || Math.abs(value - before) >= this.config.sensitivity) {
          changed = true;
        }
        if (this.failing[name] === true) {
          this.failing[name] = false;
          this.event("sensor_recovered", name, "");
        }
      } else {
        failed.push(name);
        if (this.failing[name] !== true) {
          changed = true;
          this.failing[name] = true;
          p.log("warn", "sensor " + name + " read failed: " + read);
          this.event("sensor_read_failed", name, read);
        }
      }
    }
    if (!changed) {
      this.sinceHeartbeatMs += this.config.interval_ms;
      return;
    }
    this.sinceHeartbeatMs = 0;
    // Sensors that failed this time keep their last good value for the sensitivity check.
    if (this.last !== undefined) {
      for (const name of failed) {
        const before = this.last[name];
        if (before !== undefined) {
          values[name] = before;
        }
      }
    }
    this.last = values;
    this.seq++;
    reading.id = this.id;
    reading.seq = this.seq;
    reading.boot = this.boot;
    reading.up = p.uptimeSec();
    const now = p.unixTimeSec();
    if (now > 0) {
      reading.ts = now;
    }
    if (failed.length > 0) {
      reading.failed = failed;
    }
    if (this.outbox.dropped > 0) {
      reading.dropped = this.outbox.dropped;
    }
    this.outbox.push(p.encodeJson(reading));
    if (this.link === Link.Online) {
      this.reportDropped();
      this.flush();
    }
  }

  /** Send the oldest buffered reading unless one is already awaiting its ack. */
  private flush(): void {
    if (this.link !== Link.Online || this.inFlight !== undefined) {
      return;
    }
    const payload = this.outbox.take();
    if (payload === undefined) {
      return;
    }
    const session = this.session;
    this.inFlight = payload;
    const sent = this.platform.mqttPublish(this.topics.data, payload, this.config.qos, false, () => {
      if (session !== this.session) {
        return;
      }
      this.inFlight = undefined;
      if (this.outbox.size() > 0) {
        // Paced: give the device's own tasks a turn between buffered readings.
        this.flushTimer.start(this.config.flush_gap_ms, false, () => this.flush());
      }
    });
    if (!sent) {
      this.platform.log("warn", "publish refused: not connected");
      this.dropSession();
      this.scheduleRetry();
    }
  }

  private reportDropped(): void {
    const dropped = this.outbox.dropped;
    if (dropped > this.droppedReported) {
      const payload = this.platform.encodeJson({
        id: this.id,
        level: "warn",
        code: "readings_dropped",
        count: dropped - this.droppedReported,
        total: dropped,
      });
      if (this.platform.mqttPublish(this.topics.event, payload, 1, false, () => undefined)) {
        this.droppedReported = dropped;
      }
    }
  }

  /** A notice on the event topic; sent only while online (events are not buffered). */
  private event(code: string, sensor: string, reason: string): void {
    if (this.link !== Link.Online) {
      return;
    }
    const level = code === "sensor_recovered" ? "info" : "warn";
    const body: Record<string, unknown> = { id: this.id, level: level, code: code, sensor: sensor };
    if (reason !== "") {
      body.reason = reason;
    }
    this.platform.mqttPublish(this.topics.event, this.platform.encodeJson(body), 1, false, () => undefined);
  }

  // ---- config_change ----------------------------------------------------

  /** Is this node addressed by `target`? undefined when `target` is malformed. */
  private addressed(target: unknown): boolean | undefined {
    if (target === undefined) {
      return true;
    }
    if (typeof target === "string") {
      return target === this.id;
    }
    const n = listLength(target);
    let found = false;
    for (let i = 0; i < n; i++) {
      const entry = (target as unknown[])[i];
      if (typeof entry !== "string") {
        return undefined;
      }
      if (entry === this.id) {
        found = true;
      }
    }
    return n > 0 ? found : undefined;
  }

  private configMessage(payload: string): void {
    if (payload.length > MAX_CONFIG_BYTES) {
      this.reject(undefined, [{ key: "", reason: "message is larger than " + MAX_CONFIG_BYTES + " bytes" }]);
      return;
    }
    const body = this.platform.decodeJson(payload);
    // `[]` and `{}` are one thing in Lua: both count as an empty change (a config query).
    if (typeof body !== "object" || body === null || listLength(body) > 0) {
      this.reject(undefined, [{ key: "", reason: body === undefined ? "not valid JSON" : "must be a JSON object" }]);
      return;
    }
    const fields = body as Record<string, unknown>;
    const req = fields.req;
    const reqOk = req === undefined || (typeof req === "string" && req.length <= 32);
    const addressed = this.addressed(fields.target);
    if (addressed === false) {
      return;
    }
    if (addressed === undefined || !reqOk) {
      const errors: ConfigError[] = [];
      if (addressed === undefined) {
        errors.push({ key: "target", reason: "must be a node id or a non-empty list of node ids" });
      }
      if (!reqOk) {
        errors.push({ key: "req", reason: "must be a string of at most 32 characters" });
      }
      this.reject(reqOk ? (req as string | undefined) : undefined, errors);
      return;
    }
    const result: ChangeResult = applyChange(this.config, fields, ENVELOPE_KEYS);
    const next = result.config;
    if (next === undefined) {
      this.reject(req as string | undefined, result.errors);
      return;
    }
    if (!this.platform.writeFile(CONFIG_FILE, this.platform.encodeJson(next))) {
      this.reject(req as string | undefined, [{ key: "", reason: "could not store the config; the file system may be full" }]);
      return;
    }
    this.apply(next);
    const ack: Record<string, unknown> = { id: this.id, result: "applied", config: runtimeView(next) };
    if (req !== undefined) {
      ack.req = req;
    }
    this.platform.mqttPublish(this.topics.ack, this.platform.encodeJson(ack), 1, false, () => undefined);
  }

  private apply(next: NodeConfig): void {
    const before = this.config;
    this.config = next;
    if (next.interval_ms !== before.interval_ms) {
      // At once: a node at 24 h must not wait out the old interval.
      this.sampleTimer.stop();
      this.sampleTimer.start(next.interval_ms, true, () => this.sample());
    }
    if (next.buffer_capacity !== before.buffer_capacity) {
      this.outbox.resize(next.buffer_capacity);
    }
    this.platform.log("info", "config applied: interval " + next.interval_ms + " ms, sensitivity " + next.sensitivity);
  }

  private reject(req: string | undefined, errors: ConfigError[]): void {
    const ack: Record<string, unknown> = { id: this.id, result: "rejected", errors: errors };
    if (req !== undefined) {
      ack.req = req;
    }
    this.platform.log("warn", "config change rejected: " + errors[0].key + " " + errors[0].reason);
    this.platform.mqttPublish(this.topics.ack, this.platform.encodeJson(ack), 1, false, () => undefined);
  }
}
