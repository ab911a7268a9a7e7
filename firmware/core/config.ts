/**
 * The node's configuration: one declarative schema with defaults, units and
 * bounds, the validator that checks a stored file or a `config_change`
 * against it, and the node's rarely used code built on them: boot (the stored
 * config, the boot counter) and the handling of a `config_change`. The same
 * code runs on the device, so it avoids everything TS-SUBSET.md lists as
 * costly (no Map, no Error, no delete, no sort).
 *
 * The node does not call this module directly (node.ts only re-exports a
 * few constants): it asks `platform.loadModule("cfg")` each time it needs it
 * and keeps nothing of it.
 * In Node that is this module; on NodeMCU it is cfg.lc, this module compiled
 * on its own, loaded from flash, so the code, the schema and the message
 * texts take heap only during boot and while a config change is handled (see
 * firmware/nodemcu/platform.ts). Everything imported here is built into
 * cfg.lua too: never import node.ts or anything of firmware/nodemcu (type
 * imports aside).
 */
import type { Platform } from "./platform";
import type { BootState, ChangeOutcome, ConfigError, NodeConfig } from "./config-types";
import { fillId, topicsFor } from "./topics";

export { topicsFor };
export type { BootState, ChangeOutcome, ConfigError, NodeConfig };

const CONFIG_FILE = "config.json";
const BOOT_FILE = "boot.txt";
/** Longest `config_change` accepted, in bytes; NodeMCU drops anything over 1024. */
const MAX_CONFIG_BYTES = 512;
/** Keys of a `config_change` that address or authenticate the message rather than the config. */
const ENVELOPE_KEYS = ["target", "req", "sig", "ctr"];
/**
 * A signed `config_change` starts with its signature: `{"sig":"<64 hex>",`
 * then the rest of the object. The signature is HMAC-SHA256 under the fleet
 * key over the same text without that member, i.e. `{` + the rest, so the
 * node checks the exact bytes the operator signed without re-encoding JSON
 * (which no two JSON libraries do alike). The offsets into that text are
 * literals (8 = length of `{"sig":"`, 72 = 8 + 64) because TypeScriptToLua
 * turns `slice` with literal bounds into a plain `string.sub` and anything
 * else into a lualib helper.
 */
const SIG_HEAD = '{"sig":"';
/** Highest `ctr` a node accepts: NodeMCU's integer builds hold 32-bit signed numbers. */
const MAX_COUNTER = 2147483647;
/**
 * Most `[` and `{` a `config_change` may hold, strings included. A valid change
 * nests two deep; NodeMCU's sjson refuses more than 20 levels and JSON.parse
 * none, so without this cap the device and the simulator would disagree about
 * a deeply nested message (issue 15). Counted, not parsed: no lualib, and the
 * same answer from every JSON library.
 */
const MAX_BRACKETS = 16;

export const enum Kind {
  /** Whole number within [min, max]. */
  Integer,
  /** Any number within [min, max]. */
  Decimal,
  /** String whose length in UTF-8 bytes is within [min, max]. */
  Text,
  Flag,
  /** Non-empty list of known sensor names, no repeats. */
  Sensors,
  /**
   * Text that is a topic a node publishes on: no MQTT wildcard (`+`, `#`),
   * and at most one `{id}`, as a whole topic level, which the node fills
   * with its id (firmware/core/topics.ts fillId). A whole level, so that a
   * consumer subscribes with `+` in its place and reads the id off the topic.
   */
  Template,
}

/**
 * One config key: [key, kind, min, max, unit, runtime, default].
 * - min/max: lowest/highest value, or shortest/longest length for Text.
 * - unit: shown in error messages and docs ("ms", "s", "" for none).
 * - runtime: may be changed through `config_change`.
 * A tuple rather than an object: on Lua 5.1 a 7-slot array costs about half
 * the heap of a 7-key hash table, and there are two dozen of these.
 */
export type FieldSpec = readonly [
  key: string,
  kind: Kind,
  min: number,
  max: number,
  unit: string,
  runtime: boolean,
  fallback: string | number | boolean | readonly string[],
];

/** Sensor names a node may enable, with the unit its reading is in. */
const SENSOR_UNITS: Record<string, string> = {
  temperature: "°C",
  humidity: "%RH",
  adc: "counts 0-1024",
  vdd: "V",
};
const MAX_SENSORS = 4;
/**
 * Is `name` a sensor a node may enable (a key of SENSOR_UNITS)? Compared
 * name by name, never looked up in SENSOR_UNITS: in JS a plain object answers
 * for `constructor`, `toString`, `__proto__`... (issue 15), in Lua it does
 * not; and no list of names is kept on the device's heap.
 */
function isSensorName(name: unknown): boolean {
  return name === "temperature" || name === "humidity" || name === "adc" || name === "vdd";
}

const HOUR_MS = 3600000;
const DAY_MS = 24 * HOUR_MS;

/** How many config keys there are; fieldSpec(0 … FIELD_COUNT - 1) are they. */
const FIELD_COUNT = 25;

/**
 * A FieldSpec from its halves: two tables of at most four entries are one
 * line of Lua each, where TypeScriptToLua prints a seven-entry table on nine
 * (app.lua has a byte budget).
 */
function sp(a: readonly [string, Kind, number, number], b: readonly [string, boolean, FieldSpec[6]]): FieldSpec {
  return [a[0], a[1], a[2], a[3], b[0], b[1], b[2]];
}

/**
 * The i-th config key (0-based). Order matters: errors are reported in this order.
 * Made anew at each call rather than kept in a module-level array: on the
 * device that array is about 4 KB of tables, on the heap for as long as the
 * module is loaded (all of boot and of a config change), while the code and
 * strings here are in flash (LFS). A loop over the keys holds one tuple at a
 * time; each is garbage when the loop moves on.
 */
function fieldSpec(i: number): FieldSpec {
  if (i === 0) {
    return sp(["node_id", Kind.Text, 0, 32], ["", false, ""]);
  }
  if (i === 1) {
    return sp(["wifi_ssid", Kind.Text, 0, 32], ["", false, ""]);
  }
  if (i === 2) {
    return sp(["wifi_password", Kind.Text, 0, 64], ["", false, ""]);
  }
  if (i === 3) {
    return sp(["mqtt_host", Kind.Text, 1, 64], ["", false, "127.0.0.1"]);
  }
  if (i === 4) {
    return sp(["mqtt_port", Kind.Integer, 1, 65535], ["", false, 1883]);
  }
  if (i === 5) {
    return sp(["mqtt_secure", Kind.Flag, 0, 0], ["", false, false]);
  }
  if (i === 6) {
    return sp(["mqtt_user", Kind.Text, 0, 64], ["", false, ""]);
  }
  if (i === 7) {
    return sp(["mqtt_password", Kind.Text, 0, 64], ["", false, ""]);
  }
  if (i === 8) {
    return sp(["mqtt_keepalive_s", Kind.Integer, 10, 3600], ["s", false, 60]);
  }
  // Shared secret of signed config changes; "" = accept unsigned ones. Not settable as such over MQTT: a signed
  // change rotates it with `fleet_key_enc` (never in clear), and only accept_first_key lets a keyless node take one.
  if (i === 9) {
    return sp(["fleet_key", Kind.Text, 0, 64], ["", false, ""]);
  }
  // The `ctr` of the last signed change applied; a signed change must carry a higher one (no replays).
  if (i === 10) {
    return sp(["config_counter", Kind.Integer, 0, MAX_COUNTER], ["", false, 0]);
  }
  // A keyless node takes a first fleet_key from an (unsigned) config_change only when this is true (issue 15).
  if (i === 11) {
    return sp(["accept_first_key", Kind.Flag, 0, 0], ["", false, false]);
  }
  if (i === 12) {
    return sp(["topic_prefix", Kind.Text, 0, 32], ["", false, ""]);
  }
  if (i === 13) {
    return sp(["topic_data", Kind.Template, 1, 32], ["", false, "sensor_data"]);
  }
  if (i === 14) {
    return sp(["topic_config", Kind.Text, 1, 32], ["", false, "config_change"]);
  }
  if (i === 15) {
    return sp(["interval_ms", Kind.Integer, 100, DAY_MS], ["ms", true, 10000]);
  }
  if (i === 16) {
    return sp(["sensitivity", Kind.Decimal, 0, 1000], ["", true, 0]);
  }
  if (i === 17) {
    return sp(["heartbeat_ms", Kind.Integer, 1000, DAY_MS], ["ms", true, 300000]);
  }
  if (i === 18) {
    return sp(["sensors", Kind.Sensors, 1, MAX_SENSORS], ["", true, ["temperature", "humidity"]]);
  }
  // 100 buffered readings of ~110 B each is ~14 KB of Lua heap on the device.
  if (i === 19) {
    return sp(["buffer_capacity", Kind.Integer, 0, 100], ["readings", true, 50]);
  }
  if (i === 20) {
    return sp(["qos", Kind.Integer, 0, 1], ["", true, 1]);
  }
  if (i === 21) {
    return sp(["reconnect_min_ms", Kind.Integer, 100, HOUR_MS], ["ms", false, 1000]);
  }
  if (i === 22) {
    return sp(["reconnect_max_ms", Kind.Integer, 1000, HOUR_MS], ["ms", false, 60000]);
  }
  if (i === 23) {
    return sp(["flush_gap_ms", Kind.Integer, 0, 10000], ["ms", true, 50]);
  }
  // NodeMCU pin index; dht.read accepts D1-D12 only (dht.c MOD_CHECK_ID); D4 is GPIO2 on NodeMCU dev kits.
  if (i === 24) {
    return sp(["dht_pin", Kind.Integer, 1, 12], ["", false, 4]);
  }
  // No key i: a loop past the last key fails at once.
  return undefined as unknown as FieldSpec;
}

/** Every config key, in order (for the host: docs, CLI checks, tests). */
function schema(): FieldSpec[] {
  const all: FieldSpec[] = [];
  for (let i = 0; i < FIELD_COUNT; i++) {
    all.push(fieldSpec(i));
  }
  return all;
}

/** A fresh config holding every key's default. */
function defaultConfig(): NodeConfig {
  const config: Fields = {};
  for (let i = 0; i < FIELD_COUNT; i++) {
    const spec = fieldSpec(i);
    config[spec[0]] = normalise(spec, spec[6]);
  }
  return config as unknown as NodeConfig;
}

/** A config viewed as a table of keys, for the schema-driven loops below. */
type Fields = Record<string, unknown>;

/**
 * Length of `s` in UTF-8 bytes, on every runtime (issue 15): a Lua string is
 * its bytes, so `#s`; in JS count them from the UTF-16 units (a surrogate is
 * half of a 4-byte character). Peeled with literal bounds only: a computed
 * `charCodeAt(i)` costs a lualib helper even where it never runs.
 */
function byteLength(s: string): number {
  if ("é".length > 1) {
    return s.length;
  }
  let n = 0;
  for (let r = s; r !== ""; r = r.slice(1)) {
    // eslint-disable-next-line no-restricted-syntax -- charCodeAt(0), a literal index, is string.byte: no lualib
    const c = r.charCodeAt(0);
    n += c < 0x80 ? 1 : c < 0x800 || (c >= 0xd800 && c < 0xe000) ? 2 : 3;
  }
  return n;
}

function range(spec: FieldSpec): string {
  return "from " + spec[2] + " to " + spec[3] + (spec[4] !== "" ? " " + spec[4] : "");
}

/** Why `value` is not acceptable for `spec`, or undefined when it is. */
function checkValue(spec: FieldSpec, value: unknown): string | undefined {
  const kind = spec[1];
  const min = spec[2];
  const max = spec[3];
  if (kind === Kind.Flag) {
    return typeof value === "boolean" ? undefined : "must be true or false";
  }
  if (kind === Kind.Text || kind === Kind.Template) {
    const n = typeof value === "string" ? byteLength(value) : -1;
    if (n < min || n > max) {
      return "must be a string of " + min + " to " + max + " bytes (UTF-8)";
    }
    if (kind === Kind.Text) {
      return undefined;
    }
    // A template (w): no wildcard; with its first {id} made "+" (f), no {id} left and that "+" a whole
    // level. Only indexOf (no lualib); its positions (UTF-16 units in JS, bytes in Lua) are never
    // compared across runtimes, only with -1 (not found). Terse: app.lua has a byte budget.
    const w = "/" + value + "/";
    const f = fillId(w, "+");
    // eslint-disable-next-line no-restricted-syntax -- indexOf on a string is string.find: no lualib (TS-SUBSET.md, Free)
    if (w.indexOf("+") !== -1 || w.indexOf("#") !== -1 || f.indexOf("{id}") !== -1 || (f !== w && f.indexOf("/+/") === -1)) {
      return "must have no + or #, and {id} once at most, as a whole level: e.g. sensor_data/{id}";
    }
    return undefined;
  }
  if (kind === Kind.Sensors) {
    return checkSensors(value);
  }
  const what = kind === Kind.Integer ? "must be a whole number " : "must be a number ";
  if (typeof value !== "number" || value < min || value > max) {
    return what + range(spec);
  }
  return kind === Kind.Integer && Math.floor(value) !== value ? what + range(spec) : undefined;
}

/** Number of entries if `value` is a JSON array (Lua: a sequence), else -1. */
function listLength(value: unknown): number {
  if (typeof value !== "object" || value === null) {
    return -1;
  }
  let keys = 0;
  for (const k in value) {
    // A JS array never lists `length`; an object may have one ({"length":1}, issue 15).
    if (k === "length") {
      return -1;
    }
    keys++;
  }
  const length = (value as unknown[]).length;
  // An object has no length in JS (undefined) and length 0 in Lua; a list has one key per entry.
  return length === keys ? length : -1;
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
    if (!isSensorName(name)) {
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

/** Normalise a checked value: whole numbers stay integers on Lua 5.3, -0 becomes 0 (JSON.stringify prints "0", sjson "-0"), lists are copied. */
function normalise(spec: FieldSpec, value: unknown): unknown {
  if (spec[1] === Kind.Integer) {
    return Math.floor(value as number) + 0;
  }
  if (spec[1] === Kind.Decimal) {
    return (value as number) + 0;
  }
  if (spec[1] === Kind.Sensors) {
    const copy: string[] = [];
    for (const name of value as string[]) {
      copy.push(name);
    }
    return copy;
  }
  return value;
}

function findSpec(key: string): FieldSpec | undefined {
  for (let i = 0; i < FIELD_COUNT; i++) {
    const spec = fieldSpec(i);
    if (spec[0] === key) {
      return spec;
    }
  }
  return undefined;
}

function copyConfig(source: NodeConfig): NodeConfig {
  const copy: Fields = {};
  for (let i = 0; i < FIELD_COUNT; i++) {
    const spec = fieldSpec(i);
    copy[spec[0]] = normalise(spec, (source as unknown as Fields)[spec[0]]);
  }
  return copy as unknown as NodeConfig;
}

/** Settable keys, listed in the error for an unknown key (a "did you mean" would cost lualib string helpers). */
function unknownKeyReason(): string {
  let keys = "";
  for (let i = 0; i < FIELD_COUNT; i++) {
    const spec = fieldSpec(i);
    if (spec[5]) {
      keys = keys + (keys !== "" ? ", " : "") + spec[0];
    }
  }
  return "unknown key; settable keys are " + keys;
}

/**
 * Insert `key` into `keys` keeping UTF-8 byte order (code point order), so
 * error lists match on every runtime. Lua's `>` compares bytes; JS compares
 * UTF-16 units, where a surrogate (half of a character above U+FFFF) sorts
 * below U+E000-U+FFFF, so the first differing units are compared with
 * surrogates moved above them. (One function, not two: each is a closure on
 * the device's heap while a change is handled.)
 */
function insertSorted(keys: string[], key: string): void {
  keys.push(key);
  let i = keys.length - 1;
  while (i > 0) {
    let a = keys[i - 1];
    let b = key;
    while (a !== "" && a.slice(0, 1) === b.slice(0, 1)) {
      a = a.slice(1);
      b = b.slice(1);
    }
    // eslint-disable-next-line no-restricted-syntax -- charCodeAt(0), a literal index, is string.byte: no lualib
    const c = a.charCodeAt(0);
    // eslint-disable-next-line no-restricted-syntax -- as above
    const d = b.charCodeAt(0);
    // Is keys[i - 1] after key? (b "": key is a prefix of it, d is NaN, which is below nothing: yes.)
    if (a === "" || (c >= 0xd800 && c < 0xe000 ? c + 0x10000 : c) < (d >= 0xd800 && d < 0xe000 ? d + 0x10000 : d)) {
      break;
    }
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
 * `fleet_key` is taken in clear only by a keyless node whose config sets
 * accept_first_key; a node with a key is told to send it encrypted.
 */
function applyChange(current: NodeConfig, change: Fields, envelope: string[]): ChangeResult {
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
    // fleet_key_enc: a new fleet key, encrypted (decryptKey), which configChange handles. (Not in
    // ENVELOPE_KEYS: node.ts re-exports that table, so each entry is heap for as long as the node runs.)
    if (!isEnvelope && key !== "fleet_key_enc" && findSpec(key) === undefined) {
      insertSorted(unknown, key);
    }
  }
  for (let i = 0; i < FIELD_COUNT; i++) {
    const spec = fieldSpec(i);
    const key = spec[0];
    const value = change[key];
    if (value !== undefined) {
      const first = current.fleet_key === "";
      let reason: string | undefined = key !== "fleet_key" || first ? "cannot be changed over MQTT; set it in config.json" : "must not be sent in clear: send fleet_key_enc";
      if (spec[5] || (key === "fleet_key" && first && current.accept_first_key)) {
        reason = checkValue(spec, value);
      }
      if (reason !== undefined) {
        errors.push({ key: key, reason: reason });
      } else {
        (next as unknown as Fields)[key] = normalise(spec, value);
      }
    }
  }
  for (const key of unknown) {
    errors.push({ key: key, reason: unknownKeyReason() });
  }
  return { config: errors.length === 0 ? next : undefined, errors: errors };
}

/**
 * Defaults merged with a stored config file. A stored key that fails the
 * schema keeps its default and is reported, so a bad file never bricks a node.
 */
function loadConfig(stored: unknown): ChangeResult {
  const config = defaultConfig();
  const errors: ConfigError[] = [];
  if (typeof stored !== "object" || stored === null) {
    return { config: config, errors: errors };
  }
  for (let i = 0; i < FIELD_COUNT; i++) {
    const spec = fieldSpec(i);
    const key = spec[0];
    const value = (stored as Fields)[key];
    if (value !== undefined) {
      const reason = checkValue(spec, value);
      if (reason !== undefined) {
        errors.push({ key: key, reason: reason });
      } else {
        (config as unknown as Fields)[key] = normalise(spec, value);
      }
    }
  }
  // Each may be valid alone and the pair not. (Neither is settable over MQTT: checked here only.)
  if (config.reconnect_min_ms > config.reconnect_max_ms) {
    errors.push({ key: "reconnect_min_ms", reason: "must not exceed reconnect_max_ms" });
    config.reconnect_min_ms = fieldSpec(21)[6] as number;
  }
  return { config: config, errors: errors };
}

/** The runtime-settable part of a config, as sent in acknowledgements (never the fleet key). */
function runtimeView(config: NodeConfig): Fields {
  const view: Fields = {};
  for (let i = 0; i < FIELD_COUNT; i++) {
    const spec = fieldSpec(i);
    if (spec[5]) {
      view[spec[0]] = (config as unknown as Fields)[spec[0]];
    }
  }
  return view;
}

// ---- boot and config_change (the node calls these) ------------------------

/** Load the stored config (defaults for what is missing or bad, each reported), count the boot. */
function boot(p: Platform): BootState {
  const stored = p.readFile(CONFIG_FILE);
  const decoded = stored !== undefined ? p.decodeJson(stored) : undefined;
  const loaded = loadConfig(decoded);
  const config = loaded.config as NodeConfig;
  const id = config.node_id !== "" ? config.node_id : p.defaultNodeId();
  if (stored !== undefined && decoded === undefined) {
    p.log("warn", CONFIG_FILE + " is not valid JSON; using defaults");
  }
  for (const e of loaded.errors) {
    p.log("warn", CONFIG_FILE + ": " + e.key + " " + e.reason + "; using the default");
  }
  const bootText = p.readFile(BOOT_FILE);
  const previous = bootText !== undefined ? p.decodeJson(bootText) : undefined;
  const count = typeof previous === "object" && previous !== null ? (previous as Record<string, unknown>).boot : undefined;
  const n = typeof count === "number" ? Math.floor(count) + 1 : 1;
  p.writeFile(BOOT_FILE, p.encodeJson({ boot: n }));
  p.log("info", "node " + id + " boot " + n + ", sampling every " + config.interval_ms + " ms");
  return { config: config, id: id, topics: topicsFor(config, id), boot: n };
}

/** Is the node `id` addressed by `target`? undefined when `target` is malformed. */
function addressed(target: unknown, id: string): boolean | undefined {
  if (target === undefined) {
    return true;
  }
  if (typeof target === "string") {
    return target === id;
  }
  const n = listLength(target);
  let found = false;
  for (let i = 0; i < n; i++) {
    const entry = (target as unknown[])[i];
    if (typeof entry !== "string") {
      return undefined;
    }
    if (entry === id) {
      found = true;
    }
  }
  return n > 0 ? found : undefined;
}

function reject(p: Platform, id: string, req: string | undefined, errors: ConfigError[]): ChangeOutcome {
  p.log("warn", "config change rejected: " + errors[0].key + " " + errors[0].reason);
  // (req undefined: not encoded)
  return { apply: undefined, ack: p.encodeJson({ id: id, result: "rejected", errors: errors, req: req }) };
}

/** The byte written as two lowercase hex digits at the start of `s`, or a number below 0. */
function hexByte(s: string): number {
  const hex = "0123456789abcdef";
  const a = s.slice(0, 1);
  const b = s.slice(1, 2);
  // eslint-disable-next-line no-restricted-syntax -- indexOf on a string is string.find: no lualib (TS-SUBSET.md, Free)
  const h = hex.indexOf(a);
  // eslint-disable-next-line no-restricted-syntax -- as above
  const l = hex.indexOf(b);
  // (h -1, a bad first digit: -16 + l, below 0 too)
  return b === "" || l < 0 ? -1 : h * 16 + l;
}

/** Is `s` lowercase hex, two digits per byte? */
function isHex(s: string): boolean {
  while (hexByte(s) >= 0) {
    s = s.slice(2);
  }
  return s === "";
}

/**
 * The new fleet key sent as `fleet_key_enc` in a change signed with the
 * current one: the key's bytes XOR a keystream, in hex. Keystream block j (32
 * bytes) is HMAC-SHA256(current key, "fleet_key_enc:<ctr>:<j>"), ctr being the
 * change's counter, so no two rotations share a keystream and the key never
 * crosses the broker in clear (issue 15). The signature covers the text, so
 * the ciphertext cannot be altered either. undefined when the change has no
 * fleet_key_enc; "" (refused) unless it decrypts to 1 to 64 bytes of printable
 * ASCII without quotes or backslashes (a wrong encryption shows as bytes
 * outside that, with near certainty) on a node that has a key.
 */
function decryptKey(p: Platform, current: NodeConfig, fields: Record<string, unknown>): string | undefined {
  const hex = fields.fleet_key_enc;
  const key = current.fleet_key;
  if (hex === undefined) {
    return undefined;
  }
  if (typeof hex !== "string" || key === "" || !isHex(hex)) {
    return "";
  }
  // Keyed, so signed (checkSignature passed): ctr is a whole number. (Never Math.floor of nil: Lua raises.)
  const ctr = Math.floor(fields.ctr as number);
  let out = "";
  let stream = "";
  let r = hex;
  while (r !== "") {
    if (stream === "") {
      // Block 0 for bytes 0-31, 1 for 32-63 (a 65th byte is refused below).
      const block = "fleet_key_enc:" + ctr + ":" + (out === "" ? 0 : 1);
      // Always there: checkSignature needed it (a keyed node without crypto rejects everything).
      stream = p.hmacSha256Hex(key, block) as string;
    }
    // XOR in arithmetic, bit by bit from the top: Lua 5.1 has no bitwise operators. (Bytes: isHex above.)
    let c = hexByte(r);
    let k = hexByte(stream);
    let b = 0;
    for (let m = 128; m >= 1; m = m / 2) {
      if (c >= m !== k >= m) {
        b += m;
      }
      c = c % m;
      k = k % m;
    }
    if (b < 32 || b > 126 || b === 34 || b === 92 || out.length > 63) {
      return "";
    }
    out = out + String.fromCharCode(b);
    stream = stream.slice(2);
    r = r.slice(2);
  }
  return out;
}

/** How many times `c` occurs in `s` (string.find jumps: no lualib, no per-character loop). */
function count(s: string, c: string): number {
  let n = 0;
  // eslint-disable-next-line no-restricted-syntax -- indexOf on a string is string.find: no lualib (TS-SUBSET.md, Free)
  let i = s.indexOf(c);
  while (i >= 0) {
    n++;
    // eslint-disable-next-line no-restricted-syntax -- as above
    i = s.indexOf(c, i + 1);
  }
  return n;
}

/**
 * With a fleet key set, why `payload` may not be applied (unsigned, signed
 * with another key or altered, or replayed), or undefined when it may.
 * Without a key every change passes (the broker's ACL is the only guard).
 */
function checkSignature(p: Platform, current: NodeConfig, payload: string, fields: Record<string, unknown>): ConfigError | undefined {
  const key = current.fleet_key;
  if (key === "") {
    return undefined;
  }
  const sig = fields.sig;
  if (sig === undefined) {
    return { key: "sig", reason: "required: this node applies only config changes signed with the fleet key" };
  }
  // 64 hex digits first, so the offsets are the same bytes in JS (UTF-16 units) and Lua (bytes).
  if (typeof sig !== "string" || payload.slice(0, 8) !== SIG_HEAD || !isHex(payload.slice(8, 72)) || payload.slice(72, 74) !== '",') {
    return { key: "sig", reason: 'must be the first member, 64 hex digits: {"sig":"<hex>",...}' };
  }
  const expected = p.hmacSha256Hex(key, "{" + payload.slice(74));
  if (expected === undefined) {
    return { key: "sig", reason: "cannot be checked: this firmware has no crypto module" };
  }
  if (expected !== payload.slice(8, 72)) {
    return { key: "sig", reason: "does not match: signed with another fleet key, or the message was altered" };
  }
  const ctr = fields.ctr;
  const last = current.config_counter;
  if (typeof ctr !== "number" || Math.floor(ctr) !== ctr || ctr <= last || ctr > MAX_COUNTER) {
    return { key: "ctr", reason: "must be a whole number above " + last + ", the last applied (an old message replayed?)" };
  }
  return undefined;
}

/**
 * Check a `config_change` payload for the node `id` running `current`,
 * all-or-nothing, and store the new config. The caller applies what comes back.
 */
function configChange(p: Platform, current: NodeConfig, id: string, payload: string): ChangeOutcome {
  // (Literal texts: MAX_CONFIG_BYTES, MAX_BRACKETS.)
  const size =
    byteLength(payload) > MAX_CONFIG_BYTES
      ? "message is larger than 512 bytes"
      : count(payload, "[") + count(payload, "{") > 16
        ? "message holds more than 16 [ and {"
        : undefined;
  if (size !== undefined) {
    return reject(p, id, undefined, [{ key: "", reason: size }]);
  }
  const body = p.decodeJson(payload);
  // `[]` and `{}` are one thing in Lua: both count as an empty change (a config query).
  if (typeof body !== "object" || body === null || listLength(body) > 0) {
    return reject(p, id, undefined, [{ key: "", reason: body === undefined ? "not valid JSON" : "must be a JSON object" }]);
  }
  const fields = body as Record<string, unknown>;
  let req = fields.req;
  const reqOk = req === undefined || (typeof req === "string" && byteLength(req) <= 32);
  const isFor = addressed(fields.target, id);
  if (isFor === false) {
    return { apply: undefined, ack: undefined };
  }
  if (isFor === undefined || !reqOk) {
    const errors: ConfigError[] = [];
    if (isFor === undefined) {
      errors.push({ key: "target", reason: "must be a node id or a non-empty list of node ids" });
    }
    if (!reqOk) {
      errors.push({ key: "req", reason: "must be a string of at most 32 bytes (UTF-8)" });
      req = undefined;
    }
    return reject(p, id, req as string | undefined, errors);
  }
  const signed = checkSignature(p, current, payload, fields);
  if (signed !== undefined) {
    return reject(p, id, req as string | undefined, [signed]);
  }
  // (Few locals here: a larger frame of this function alone left ~80 B more Lua stack on the device's heap.)
  const newKey = decryptKey(p, current, fields);
  if (newKey === "") {
    return reject(p, id, req as string | undefined, [{ key: "fleet_key_enc", reason: "must be the new key, encrypted with the current one" }]);
  }
  const result = applyChange(current, fields, ENVELOPE_KEYS);
  const next = result.config;
  if (next === undefined) {
    return reject(p, id, req as string | undefined, result.errors);
  }
  if (current.fleet_key !== "") {
    next.config_counter = Math.floor(fields.ctr as number);
  }
  if (newKey !== undefined) {
    next.fleet_key = newKey;
  }
  if (!p.writeFile(CONFIG_FILE, p.encodeJson(next))) {
    return reject(p, id, req as string | undefined, [{ key: "", reason: "could not store the config; the file system may be full" }]);
  }
  p.log("info", "config applied: interval " + next.interval_ms + " ms, sensitivity " + next.sensitivity);
  return { apply: next, ack: p.encodeJson({ id: id, result: "applied", config: runtimeView(next), req: req }) };
}

// Exported here, not at each declaration: TypeScriptToLua then calls these
// as locals, so no function keeps the module's export table alive (about
// 1 KB on the device while a config change is handled); the device takes
// only what cold.ts passes on.
export {
  CONFIG_FILE,
  BOOT_FILE,
  MAX_CONFIG_BYTES,
  ENVELOPE_KEYS,
  MAX_COUNTER,
  MAX_BRACKETS,
  SENSOR_UNITS,
  MAX_SENSORS,
  FIELD_COUNT,
  isSensorName,
  byteLength,
  insertSorted,
  fieldSpec,
  schema,
  defaultConfig,
  checkValue,
  listLength,
  findSpec,
  copyConfig,
  applyChange,
  loadConfig,
  runtimeView,
  boot,
  configChange,
};
