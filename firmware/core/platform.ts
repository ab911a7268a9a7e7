/**
 * The Platform: everything the sensor-node core needs from the world.
 *
 * The core (firmware/core) imports nothing but this interface, so the same
 * source runs on NodeMCU (firmware/nodemcu), in the Node.js simulator
 * (simulator/) and under test (test/conformance/scenario-platform.ts).
 * Keep it small: every method here is one more thing each runtime must do
 * identically, and one more thing the conformance suite has to trace.
 *
 * Rules for implementers:
 * - Callbacks are plain functions (no `this`); call them from the event loop,
 *   never synchronously from inside the method that registered them, so the
 *   core never re-enters itself (NodeMCU calls back from its task queue too).
 * - Methods never throw: failures come back as values (false, undefined or
 *   an error text), because on the device an uncaught error reboots the board.
 */
import type { BootState, ChangeOutcome, NodeConfig } from "./config-types";
import type { Topics } from "./topics";

/**
 * The core's rarely used code (config.ts), as `loadModule("cfg")` returns it:
 * the five functions cold.ts exports (the simulator's loadModule returns
 * cold.ts itself, so tsc checks that the two agree).
 */
export interface CfgModule {
  boot(this: void, p: Platform): BootState;
  configChange(this: void, p: Platform, current: NodeConfig, id: string, payload: string): ChangeOutcome;
  copyConfig(this: void, source: NodeConfig): NodeConfig;
  defaultConfig(this: void): NodeConfig;
  topicsFor(this: void, config: NodeConfig, nodeId: string): Topics;
}

/** A one-shot or repeating timer (NodeMCU `tmr` object, `setTimeout` in Node). */
export interface Timer {
  /** (Re)arm the timer: fire `fn` after `ms` milliseconds, then every `ms` if `repeat`. */
  start(ms: number, repeat: boolean, fn: (this: void) => void): void;
  /** Disarm the timer; a stopped timer may be started again. */
  stop(): void;
}

/** The last will and the connection settings for one MQTT session. */
export interface MqttSession {
  clientId: string;
  host: string;
  /** TCP port; 1883 plain, 8883 TLS by convention. */
  port: number;
  /** Use TLS (NodeMCU `secure`, `mqtts://` in Node). */
  secure: boolean;
  /** Empty string = no username. */
  user: string;
  password: string;
  /** MQTT keepalive in seconds. */
  keepaliveSec: number;
  willTopic: string;
  willPayload: string;
}

/** Events of one MQTT session. Each fires from the event loop. */
export interface MqttEvents {
  /** The CONNACK arrived: the session is up. */
  connected: (this: void) => void;
  /** The connect attempt failed; `reason` says why (for the log only). */
  connectFailed: (this: void, reason: string) => void;
  /** An established session was lost. */
  offline: (this: void) => void;
  message: (this: void, topic: string, payload: string) => void;
}

/**
 * A sensor read: the value in the sensor's unit, or a string saying why the
 * read failed. (A string instead of a result object: no table per read on
 * the device.)
 */
export type SensorRead = number | string;

export type LogLevel = "info" | "warn" | "error";

export interface Platform {
  createTimer(name: string): Timer;

  /**
   * Join the network and keep it joined: call `up` each time an address is
   * obtained and `down` each time the link is lost. A platform without a
   * network step (the simulator) calls `up` once.
   */
  wifiConnect(ssid: string, password: string, up: (this: void) => void, down: (this: void, reason: string) => void): void;

  /** Start one MQTT session attempt; exactly one of connected/connectFailed follows. */
  mqttConnect(session: MqttSession, events: MqttEvents): void;
  /**
   * Publish; `done` fires when the broker acknowledged it (QoS 1) or it was
   * written out (QoS 0). Returns false when the session is not connected
   * (NodeMCU raises "not connected"; the platform turns that into false).
   */
  mqttPublish(topic: string, payload: string, qos: number, retain: boolean, done: (this: void) => void): boolean;
  /** Returns false when the session is not connected. */
  mqttSubscribe(topic: string, qos: number): boolean;
  /** End the session without firing `offline`. */
  mqttClose(): void;

  /** Read one enabled sensor by name (see SENSOR_UNITS in config.ts). */
  readSensor(name: string): SensorRead;

  /** Contents of a stored file, or undefined when it does not exist. */
  readFile(name: string): string | undefined;
  /** Replace a stored file atomically; false when it could not be written. */
  writeFile(name: string, contents: string): boolean;

  encodeJson(value: object): string;
  /** Parsed value, or undefined when `text` is not valid JSON. */
  decodeJson(text: string): unknown;

  /** Uniform random number in [0, 1), for reconnect jitter. */
  random(): number;
  /** Seconds since this boot. */
  uptimeSec(): number;
  /** Unix time in seconds, or 0 while the clock is not synced. */
  unixTimeSec(): number;
  /**
   * HMAC-SHA256 of `message` under `key`, as 64 lowercase hex digits, or
   * undefined when this runtime cannot compute one (a NodeMCU build without
   * the crypto module). Used to check signed config changes.
   */
  hmacSha256Hex(key: string, message: string): string | undefined;
  /** Identity to use when the config names none (NodeMCU: from the chip id). */
  defaultNodeId(): string;

  log(level: LogLevel, text: string): void;

  /**
   * The core's rarely used code: boot and `config_change` handling with the
   * config schema (config.ts). The core asks for it each time it needs it and
   * keeps nothing of it, so a platform short of memory can load it from
   * storage and let it be freed after the call (NodeMCU: cfg.lc from flash).
   * Other runtimes return the imported module.
   */
  loadModule(name: "cfg"): CfgModule;
}
