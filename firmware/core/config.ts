/**
 * The node's configuration: one declarative schema with defaults, units and
 * bounds, and the validator that checks a stored file or a `config_change`
 * against it. The same code runs on the device, so it avoids everything
 * TS-SUBSET.md lists as costly (no Map, no Error, no delete, no sort).
 */

export const enum Kind {
  /** Whole number within [min, max]. */
  Integer,
  /** Any number within [min, max]. */
  Decimal,
  /** String whose length (bytes on the device) is within [min, max]. */
  Text,
  Flag,
  /** Non-empty list of known sensor names, no repeats. */
  Sensors,
}

export interface FieldSpec {
  key: string;
  kind: Kind;
  /** Lowest value, or shortest length for Text. */
  min: number;
  /** Highest value, or longest length for Text. */
  max: number;
  /** Unit shown in error messages and docs ("ms", "s", "" for none). */
  unit: string;
  /** May be changed at run time through `config_change`. */
  runtime: boolean;
}

/** Sensor names a node may enable, with the unit its reading is in. */
export const SENSOR_UNITS: Record<string, string> = {
  temperature: "°C",
  humidity: "%RH",
  adc: "counts 0-1024",
  vdd: "V",
};
export const MAX_SENSORS = 4;

export interface NodeConfig {
  node_id: string;
  wifi_ssid: string;
  wifi_password: string;
  mqtt_host: string;
  mqtt_port: number;
  mqtt_secure: boolean;
  mqtt_user: string;
  mqtt_password: string;
  mqtt_keepalive_s: number;
  topic_prefix: string;
  topic_data: string;
  topic_config: string;
  interval_ms: number;
  sensitivity: number;
  heartbeat_ms: number;
  sensors: string[];
  buffer_capacity: number;
  qos: number;
  reconnect_min_ms: number;
  reconnect_max_ms: number;
  flush_gap_ms: number;
  dht_pin: number;
}

const HOUR_MS = 3600000;
const DAY_MS = 24 * HOUR_MS;

/** Every config key. Order matters: errors are reported in this order. */
export const SCHEMA: FieldSpec[] = [
  { key: "node_id", kind: Kind.Text, min: 0, max: 32, unit: "", runtime: false },
  { key: "wifi_ssid", kind: Kind.Text, min: 0, max: 32, unit: "", runtime: false },
  { key: "wifi_password", kind: Kind.Text, min: 0, max: 64, unit: "", runtime: false },
  { key: "mqtt_host", kind: Kind.Text, min: 1, max: 64, unit: "", runtime: false },
  { key: "mqtt_port", kind: Kind.Integer, min: 1, max: 65535, unit: "", runtime: false },
  { key: "mqtt_secure", kind: Kind.Flag, min: 0, max: 0, unit: "", runtime: false },
  { key: "mqtt_user", kind: Kind.Text, min: 0, max: 64, unit: "", runtime: false },
  { key: "mqtt_password", kind: Kind.Text, min: 0, max: 64, unit: "", runtime: false },
  { key: "mqtt_keepalive_s", kind: Kind.Integer, min: 10, max: 3600, unit: "s", runtime: false },
  { key: "topic_prefix", kind: Kind.Text, min: 0, max: 32, unit: "", runtime: false },
  { key: "topic_data", kind: Kind.Text, min: 1, max: 32, unit: "", runtime: false },
  { key: "topic_config", kind: Kind.Text, min: 1, max: 32, unit: "", runtime: false },
  { key: "interval_ms", kind: Kind.Integer, min: 100, max: DAY_MS, unit: "ms", runtime: true },
  { key: "sensitivity", kind: Kind.Decimal, min: 0, max: 1000, unit: "", runtime: true },
  { key: "heartbeat_ms", kind: Kind.Integer, min: 1000, max: DAY_MS, unit: "ms", runtime: true },
  { key: "sensors", kind: Kind.Sensors, min: 1, max: MAX_SENSORS, unit: "", runtime: true },
  // 100 buffered readings of ~110 B each is ~14 KB of Lua heap on the device.
  { key: "buffer_capacity", kind: Kind.Integer, min: 0, max: 100, unit: "readings", runtime: true },
  { key: "qos", kind: Kind.Integer, min: 0, max: 1, unit: "", runtime: true },
  { key: "reconnect_min_ms", kind: Kind.Integer, min: 100, max: HOUR_MS, unit: "ms", runtime: false },
  { key: "reconnect_max_ms", kind: Kind.Integer, min: 1000, max: HOUR_MS, unit: "ms", runtime: false },
  { key: "flush_gap_ms", kind: Kind.Integer, min: 0, max: 10000, unit: "ms", runtime: true },
  // NodeMCU pin index (D0-D12); D4 is GPIO2 on NodeMCU dev kits.
  { key: "dht_pin", kind: Kind.Integer, min: 0, max: 12, unit: "", runtime: false },
];

export function defaultConfig(): NodeConfig {
  return {
    node_id: "",
    wifi_ssid: "",
    wifi_password: "",
    mqtt_host: "127.0.0.1",
    mqtt_port: 1883,
    mqtt_secure: false,
    mqtt_user: "",
    mqtt_password: "",
    mqtt_keepalive_s: 60,
    topic_prefix: "",
    topic_data: "sensor_data",
    topic_config: "config_change",
    interval_ms: 10000,
    sensitivity: 0,
    heartbeat_ms: 300000,
    sensors: ["temperature", "humidity"],
    buffer_capacity: 50,
    qos: 1,
    reconnect_min_ms: 1000,
    reconnect_max_ms: 60000,
    flush_gap_ms: 50,
    dht_pin: 4,
  };
}

export interface ConfigError {
  /** The offending key ("" for the message as a whole). */
  key: string;
  reason: string;
}

/** A config viewed as a table of keys, for the schema-driven loops below. */
type Fields = Record<string, unknown>;

function range(spec: FieldSpec): string {
  const unit = spec.unit !== "" ? " " + spec.unit : "";
  return "from " + spec.min + " to " + spec.max + unit;
}

/** Why `value` is not acceptable for `spec`, or undefined when it is. */
export function checkValue(spec: FieldSpec, value: unknown): string | undefined {
  if (spec.kind === Kind.Flag) {
    return typeof value === "boolean" ? undefined : "must be true or false";
  }
  if (spec.kind === Kind.Text) {
    if (typeof value !== "string" || value.length < spec.min || value.length > spec.max) {
      return "must be a string of " + spec.min + " to " + spec.max + " characters";
    }
    return undefined;
  }
  if (spec.kind === Kind.Sensors) {
    return checkSensors(value);
  }
  const what = spec.kind === Kind.Integer ? "must be a whole number " : "must be a number ";
  if (typeof value !== "number" || value < spec.min || value > spec.max) {
    return what + range(spec);
  }
  return spec.kind === Kind.Integer && Math.floor(value) !== value ? what + range(spec) : undefined;
}

/** Number of entries if `value` is a JSON array (Lua: a sequence), else -1. */
export function listLength(value: unknown): number {
  if (typeof value !== "object" || value === null) {
    return -1;
  }
  let keys = 0;
  for (const _ in value) {
    keys++;
  }
  const length = (value as unknown[]).length;
  // An object has no length in JS and length 0 in Lua; a list has one key per entry.
  return typeof length === "number" && length === keys ? length : -1;
}

function checkSensors(value: unknown): string | undefined {
  const reason = "must be a list of 1 to " + MAX_SENSORS + " of: temperature, humidity, adc, vdd";
  const n = listLength(value);
  if (n < 1 || n > MAX_SENSORS) {
    return reason;
  }
  const list = value as unknown[];
  for (let i = 0; i < n; i++) {
    const name = list[i];
    if (typeof name !== "string" || SENSOR_UNITS[name] === undefined) {
      return reason;
    }
    for (let j = 0; j < i; j++) {
      if (list[j] === name) {
        return "must not name a sensor twice";
      }
    }
  }
  return undefined;
}

/** Normalise a checked value: whole numbers stay integers on Lua 5.3, lists are copied. */
function normalise(spec: FieldSpec, value: unknown): unknown {
  if (spec.kind === Kind.Integer) {
    return Math.floor(value as number);
  }
  if (spec.kind === Kind.Sensors) {
    const copy: string[] = [];
    for (const name of value as string[]) {
      copy.push(name);
    }
    return copy;
  }
  return value;
}

export function findSpec(key: string): FieldSpec | undefined {
  for (const spec of SCHEMA) {
    if (spec.key === key) {
      return spec;
    }
  }
  return undefined;
}

export function copyConfig(source: NodeConfig): NodeConfig {
  const copy = defaultConfig();
  for (const spec of SCHEMA) {
    (copy as unknown as Fields)[spec.key] = normalise(spec, (source as unknown as Fields)[spec.key]);
  }
  return copy;
}

/** Settable keys, listed in the error for an unknown key (a "did you mean" would cost lualib string helpers). */
function unknownKeyReason(): string {
  let keys = "";
  for (const spec of SCHEMA) {
    if (spec.runtime) {
      keys = keys + (keys !== "" ? ", " : "") + spec.key;
    }
  }
  return "unknown key; settable keys are " + keys;
}

/** Insert `key` into `keys` keeping byte order, so error lists match on every runtime. */
function insertSorted(keys: string[], key: string): void {
  keys.push(key);
  let i = keys.length - 1;
  while (i > 0 && keys[i - 1] > key) {
    keys[i] = keys[i - 1];
    i--;
  }
  keys[i] = key;
}

export interface ChangeResult {
  /** The config after the change; undefined when anything was rejected. */
  config: NodeConfig | undefined;
  errors: ConfigError[];
}

/**
 * Check a `config_change` body against the schema, all-or-nothing.
 * `envelope` keys (target, req, ...) are the caller's and are skipped.
 * Errors come in schema order, then unknown keys in byte order.
 */
export function applyChange(current: NodeConfig, change: Fields, envelope: string[]): ChangeResult {
  const errors: ConfigError[] = [];
  const next = copyConfig(current);
  const unknown: string[] = [];
  for (const key in change) {
    let isEnvelope = false;
    for (const name of envelope) {
      if (name === key) {
        isEnvelope = true;
      }
    }
    if (!isEnvelope && findSpec(key) === undefined) {
      insertSorted(unknown, key);
    }
  }
  for (const spec of SCHEMA) {
    const value = change[spec.key];
    if (value !== undefined) {
      const reason = spec.runtime ? checkValue(spec, value) : "cannot be changed over MQTT; set it in config.json";
      if (reason !== undefined) {
        errors.push({ key: spec.key, reason: reason });
      } else {
        (next as unknown as Fields)[spec.key] = normalise(spec, value);
      }
    }
  }
  for (const key of unknown) {
    errors.push({ key: key, reason: unknownKeyReason() });
  }
  if (next.reconnect_min_ms > next.reconnect_max_ms) {
    errors.push({ key: "reconnect_min_ms", reason: "must not exceed reconnect_max_ms" });
  }
  return { config: errors.length === 0 ? next : undefined, errors: errors };
}

/**
 * Defaults merged with a stored config file. A stored key that fails the
 * schema keeps its default and is reported, so a bad file never bricks a node.
 */
export function loadConfig(stored: unknown): ChangeResult {
  const config = defaultConfig();
  const errors: ConfigError[] = [];
  if (typeof stored !== "object" || stored === null) {
    return { config: config, errors: errors };
  }
  for (const spec of SCHEMA) {
    const value = (stored as Fields)[spec.key];
    if (value !== undefined) {
      const reason = checkValue(spec, value);
      if (reason !== undefined) {
        errors.push({ key: spec.key, reason: reason });
      } else {
        (config as unknown as Fields)[spec.key] = normalise(spec, value);
      }
    }
  }
  return { config: config, errors: errors };
}

/** The runtime-settable part of a config, as sent in acknowledgements. */
export function runtimeView(config: NodeConfig): Fields {
  const view: Fields = {};
  for (const spec of SCHEMA) {
    if (spec.runtime) {
      view[spec.key] = (config as unknown as Fields)[spec.key];
    }
  }
  return view;
}
