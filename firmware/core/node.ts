/**
 * The sensor node: samples, publishes, obeys `config_change`, buffers while
 * offline and reconnects with backoff. Runtime-neutral (see TS-SUBSET.md);
 * everything it touches goes through the Platform.
 *
 * Only what runs all the time is here. Boot and the handling of a
 * `config_change` (schema, validation, messages) are in config.ts, which the node
 * gets from `platform.loadModule("cfg")` when it needs it and never keeps: on
 * NodeMCU that code is on the heap only while it runs. Each function here
 * costs heap on the device for as long as the node runs (a prototype, its
 * constants, a slot in the class table): one shared `noop` instead of a
 * closure per call site, closures that do the work instead of calling a
 * method that does it once.
 */
import type { NodeConfig } from "./config-types";
import { Outbox } from "./outbox";
import type { Platform, SensorRead, Timer } from "./platform";
import type { Topics } from "./topics";

export { BOOT_FILE, CONFIG_FILE, ENVELOPE_KEYS, MAX_CONFIG_BYTES } from "./config";

/** (A module local: a method using an export would keep the whole export table alive on the device.) */
const VERSION = "0.1.0";
export const FIRMWARE_VERSION = VERSION;

const enum Link {
  WaitingForWifi,
  Connecting,
  Online,
  Backoff,
  Stopped,
}

/** The completion callback of every publish whose acknowledgement nobody waits for. */
function noop(): void {
  // nothing to do
}

export class SensorNode {
  private config: NodeConfig;
  private id = "";
  private topics: Topics;
  private link = Link.WaitingForWifi;
  /** Bumped per MQTT session so callbacks of a dead session are ignored. */
  private session = 0;
  /** The backoff step of the next retry, in ms; 0 until a retry since the last connection. */
  private step = 0;
  private boot = 0;
  private seq = 0;
  /** Time since the last published reading, counted in sampling intervals. */
  private sinceHeartbeatMs = 0;
  /** Last published value per sensor; undefined until the first reading. */
  private last: Record<string, number> | undefined;
  private failing: Record<string, boolean> = {};
  /** Readings not yet delivered, and the one on the wire awaiting its PUBACK. */
  /**
   * The offline buffer. Public so a host can show `size()` and `dropped`
   * (the simulator's summary); only the node changes it. A field, not an
   * accessor: a 17th method would double the method table's heap on Lua.
   */
  outbox: Outbox;
  private readonly sampleTimer: Timer;
  private readonly retryTimer: Timer;
  private readonly flushTimer: Timer;

  constructor(private readonly platform: Platform) {
    const cfg = platform.loadModule("cfg");
    this.config = cfg.defaultConfig();
    this.topics = cfg.topicsFor(this.config, this.id);
    this.outbox = new Outbox(0);
    this.sampleTimer = platform.createTimer("sample");
    this.retryTimer = platform.createTimer("retry");
    this.flushTimer = platform.createTimer("flush");
  }

  /** Load the stored config, count the boot, start sampling and connecting. */
  start(): void {
    const p = this.platform;
    const booted = p.loadModule("cfg").boot(p);
    const c = booted.config;
    this.config = c;
    this.id = booted.id;
    this.topics = booted.topics;
    this.boot = booted.boot;
    this.outbox = new Outbox(c.buffer_capacity);
    this.sampleTimer.start(c.interval_ms, true, () => this.sample());
    this.link = Link.WaitingForWifi;
    p.wifiConnect(
      c.wifi_ssid,
      c.wifi_password,
      () => {
        if (this.link === Link.WaitingForWifi) {
          this.connect();
        }
      },
      (reason) => {
        this.platform.log("warn", "wifi lost: " + reason);
        const link = this.link;
        if (link === Link.Online || link === Link.Connecting || link === Link.Backoff) {
          this.dropSession();
          this.retryTimer.stop();
        }
        if (this.link !== Link.Stopped) {
          this.link = Link.WaitingForWifi;
        }
      },
    );
  }

  /** Say goodbye (retained "offline") and stop everything; used on a clean shutdown. */
  stop(): void {
    if (this.link === Link.Online) {
      this.platform.mqttPublish(this.topics.status, this.statusPayload("offline"), 1, true, noop);
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
    return this.platform.loadModule("cfg").copyConfig(this.config);
  }

  /** The live config, for platform code that needs a setting (read-only by convention). */
  settings(): NodeConfig {
    return this.config;
  }

  nodeId(): string {
    return this.id;
  }

  // ---- connection lifecycle -------------------------------------------

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
            const p = this.platform;
            this.link = Link.Online;
            this.step = 0;
            p.log("info", "mqtt connected to " + this.config.mqtt_host);
            p.mqttPublish(this.topics.status, this.statusPayload("online"), 1, true, noop);
            p.mqttSubscribe(this.topics.config, 1);
            this.flush(true);
          }
        },
        connectFailed: (reason) => {
          if (session === this.session) {
            // this.config, not `c`: a callback must not keep a replaced config alive (1 KB on the device).
            this.platform.log("warn", "mqtt connect to " + this.config.mqtt_host + " failed: " + reason);
            this.scheduleRetry();
          }
        },
        offline: () => {
          // NodeMCU fires "offline" after a refused CONNACK too, right after the
          // failure callback: only a session that was up can be lost.
          if (session === this.session && this.link === Link.Online) {
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

  /** Forget the current session; a reading on the wire goes back to the buffer. */
  private dropSession(): void {
    const outbox = this.outbox;
    this.session++;
    this.flushTimer.stop();
    if (outbox.inFlight !== undefined) {
      outbox.pushFront(outbox.inFlight);
      outbox.inFlight = undefined;
    }
    if (this.link === Link.Online) {
      this.platform.mqttClose();
    }
    this.link = Link.Backoff;
  }

  /**
   * Exponential backoff with equal jitter: half the step fixed, half random.
   * The step starts at reconnect_min_ms and doubles per retry up to reconnect_max_ms.
   */
  private scheduleRetry(): void {
    const c = this.config;
    const step = Math.min(this.step > 0 ? this.step : c.reconnect_min_ms, c.reconnect_max_ms);
    this.step = step * 2;
    const delay = Math.floor(step / 2 + this.platform.random() * (step / 2));
    this.link = Link.Backoff;
    this.retryTimer.start(delay, false, () => {
      if (this.link === Link.Backoff) {
        this.connect();
      }
    });
  }

  private statusPayload(state: string): string {
    return this.platform.encodeJson({ id: this.id, state: state, boot: this.boot, fw: VERSION });
  }

  // ---- sampling and publishing -----------------------------------------

  private sample(): void {
    const p = this.platform;
    const c = this.config;
    const last = this.last;
    const failing = this.failing;
    const reading: Record<string, unknown> = {};
    const values: Record<string, number> = {};
    let failed: string[] | undefined = undefined;
    // (The first reading always changes: each sensor has no value before it, or a first failure.)
    let changed = this.sinceHeartbeatMs + c.interval_ms >= c.heartbeat_ms;
    for (const name of c.sensors) {
      const read: SensorRead = p.readSensor(name);
      if (typeof read === "number") {
        // Rounded to 2 decimals with integer arithmetic so every runtime prints the same.
        const value = Math.floor(read * 100 + 0.5) / 100;
        values[name] = value;
        reading[name] = value;
        const before = last !== undefined ? last[name] : undefined;
        if (before === undefined || Math.abs(value - before) >= c.sensitivity) {
          changed = true;
        }
        if (failing[name] === true) {
          failing[name] = false;
          this.event("sensor_recovered", name, "");
        }
      } else {
        if (failed === undefined) {
          failed = [];
        }
        failed.push(name);
        if (failing[name] !== true) {
          changed = true;
          failing[name] = true;
          p.log("warn", "sensor " + name + " read failed: " + read);
          this.event("sensor_read_failed", name, read);
        }
      }
    }
    if (!changed) {
      this.sinceHeartbeatMs += c.interval_ms;
      return;
    }
    this.sinceHeartbeatMs = 0;
    // Sensors that failed this time keep their last good value for the sensitivity check.
    if (last !== undefined && failed !== undefined) {
      for (const name of failed) {
        values[name] = last[name]; // (undefined when it never read: no value)
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
    reading.failed = failed; // (undefined when every read worked: not encoded)
    const dropped = this.outbox.dropped;
    if (dropped > 0) {
      reading.dropped = dropped;
    }
    this.outbox.push(p.encodeJson(reading));
    this.flush(true);
  }

  /**
   * While online: announce readings dropped since the last announcement (when
   * `report`), then send the oldest buffered reading unless one is already
   * awaiting its ack.
   */
  private flush(report: boolean): void {
    if (this.link !== Link.Online) {
      return;
    }
    const p = this.platform;
    const outbox = this.outbox;
    const dropped = outbox.dropped;
    if (report && dropped > outbox.reported) {
      const event = p.encodeJson({ id: this.id, level: "warn", code: "readings_dropped", count: dropped - outbox.reported, total: dropped });
      if (p.mqttPublish(this.topics.event, event, 1, false, noop)) {
        outbox.reported = dropped;
      }
    }
    if (outbox.inFlight !== undefined) {
      return;
    }
    const payload = outbox.take();
    if (payload === undefined) {
      return;
    }
    const session = this.session;
    outbox.inFlight = payload;
    const sent = p.mqttPublish(this.topics.data, payload, this.config.qos, false, () => {
      if (session !== this.session) {
        return;
      }
      outbox.inFlight = undefined;
      if (outbox.size() > 0) {
        // Paced: give the device's own tasks a turn between buffered readings.
        this.flushTimer.start(this.config.flush_gap_ms, false, () => this.flush(false));
      }
    });
    if (!sent) {
      p.log("warn", "publish refused: not connected");
      this.dropSession();
      this.scheduleRetry();
    }
  }

  /** A notice on the event topic; sent only while online (events are not buffered). */
  private event(code: string, sensor: string, reason: string): void {
    if (this.link !== Link.Online) {
      return;
    }
    const body: Record<string, unknown> = { id: this.id, level: code === "sensor_recovered" ? "info" : "warn", code: code, sensor: sensor };
    if (reason !== "") {
      body.reason = reason;
    }
    this.platform.mqttPublish(this.topics.event, this.platform.encodeJson(body), 1, false, noop);
  }

  // ---- config_change ----------------------------------------------------

  /** Validated and stored by config.ts; applied here, at once. */
  private configMessage(payload: string): void {
    const outcome = this.platform.loadModule("cfg").configChange(this.platform, this.config, this.id, payload);
    const next = outcome.apply;
    if (next !== undefined) {
      const before = this.config;
      this.config = next;
      if (next.interval_ms !== before.interval_ms) {
        // At once: a node at 24 h must not wait out the old interval.
        this.sampleTimer.stop();
        this.sampleTimer.start(next.interval_ms, true, () => this.sample());
      }
      // (Unchanged, it keeps every entry: no test needed.)
      this.outbox.resize(next.buffer_capacity);
    }
    const ack = outcome.ack;
    if (ack !== undefined) {
      this.platform.mqttPublish(this.topics.ack, ack, 1, false, noop);
    }
  }
}
