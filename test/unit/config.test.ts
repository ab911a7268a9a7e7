import { afterEach, describe, expect, it, vi } from "vitest";
import {
  applyChange,
  byteLength,
  checkValue,
  configChange,
  defaultConfig,
  FIELD_COUNT,
  fieldSpec,
  findSpec,
  insertSorted,
  listLength,
  loadConfig,
  schema,
  SENSOR_UNITS,
} from "../../firmware/core/config";
import type { Platform } from "../../firmware/core/platform";

const spec = (key: string) => {
  const s = findSpec(key);
  if (s === undefined) throw new Error(`no spec ${key}`);
  return s;
};

describe("config schema", () => {
  it("has a valid default for every key", () => {
    const defaults = defaultConfig() as unknown as Record<string, unknown>;
    for (const s of schema()) {
      expect(checkValue(s, defaults[s[0]]), s[0]).toBeUndefined();
    }
    expect(Object.keys(defaults).sort()).toEqual(schema().map((s) => s[0]).sort());
  });

  it.each([
    ["interval_ms", 100, true],
    ["interval_ms", 99, false],
    ["interval_ms", 86_400_000, true],
    ["interval_ms", 86_400_001, false],
    ["interval_ms", 1000.5, false],
    ["interval_ms", "1000", false],
    ["sensitivity", 0.05, true],
    ["sensitivity", -0.1, false],
    ["heartbeat_ms", 999, false],
    ["buffer_capacity", 0, true],
    ["buffer_capacity", 101, false],
    ["sensors", ["temperature", "vdd"], true],
    ["sensors", [], false],
    ["sensors", ["temperature", "temperature"], false],
    ["sensors", "temperature", false],
    ["mqtt_secure", 1, false],
    ["node_id", "x".repeat(33), false],
  ])("%s = %j valid: %s", (key, value, valid) => {
    expect(checkValue(spec(key), value) === undefined).toBe(valid);
  });

  it("applies nothing when any key fails and reports all of them", () => {
    const r = applyChange(defaultConfig(), { interval_ms: 5000, sensitivity: -1, zebra: 1, apple: 2, target: "x" }, ["target"]);
    expect(r.config).toBeUndefined();
    expect(r.errors.map((e) => e.key)).toEqual(["sensitivity", "apple", "zebra"]);
  });

  it("returns a new config and leaves the current one alone", () => {
    const current = defaultConfig();
    const r = applyChange(current, { interval_ms: 5000, sensors: ["adc"] }, []);
    expect(r.config).toMatchObject({ interval_ms: 5000, sensors: ["adc"] });
    expect(current.interval_ms).toBe(10000);
  });

  it("refuses keys that are not settable at run time", () => {
    const r = applyChange(defaultConfig(), { mqtt_host: "evil.example" }, []);
    expect(r.errors).toEqual([{ key: "mqtt_host", reason: "cannot be changed over MQTT; set it in config.json" }]);
  });

  it("loads stored values over the defaults and reports bad ones", () => {
    const r = loadConfig({ interval_ms: 2000, qos: 7 });
    expect(r.config).toMatchObject({ interval_ms: 2000, qos: 1 });
    expect(r.errors.map((e) => e.key)).toEqual(["qos"]);
  });

  // Issue 15: a plain object answers for these in JS (not in Lua), so a lookup by name accepted them.
  it.each(["constructor", "toString", "__proto__", "hasOwnProperty", "valueOf", "isPrototypeOf"])("rejects the sensor name %s", (name) => {
    expect(checkValue(spec("sensors"), [name])).toBe("must be a list of 1 to 4 of: temperature, humidity, adc, vdd");
    const r = applyChange(defaultConfig(), JSON.parse(`{"sensors":["${name}"]}`) as Record<string, unknown>, []);
    expect(r.config).toBeUndefined();
  });
});

// Issue 15: the same limits and the same answers as the device (Lua counts bytes and has no prototypes).
describe("config_change hardening (issue 15)", () => {
  const parse = (text: string) => JSON.parse(text) as Record<string, unknown>;

  it("counts UTF-8 bytes, as Lua does", () => {
    expect(byteLength("é€😀x")).toBe(2 + 3 + 4 + 1);
    expect(checkValue(spec("node_id"), "é".repeat(16))).toBeUndefined();
    expect(checkValue(spec("node_id"), "é".repeat(17))).toBe("must be a string of 0 to 32 bytes (UTF-8)");
    expect(checkValue(spec("topic_data"), "😀".repeat(9))).toMatch(/32 bytes/);
  });

  it("takes {\"length\":1} for an object, not a list", () => {
    expect(listLength(parse('{"length":1}'))).toBe(-1);
    expect(listLength(parse('{"length":1,"0":"adc"}'))).toBe(-1);
    expect(listLength(parse('["adc"]'))).toBe(1);
    expect(checkValue(spec("sensors"), parse('{"length":1,"0":"adc"}'))).toMatch(/must be a list/);
    const r = applyChange(defaultConfig(), parse('{"length":1}'), []);
    expect(r.errors.map((e) => e.key)).toEqual(["length"]);
  });

  it("stores -0 as 0", () => {
    const r = applyChange(defaultConfig(), parse('{"sensitivity":-0,"buffer_capacity":-0}'), []);
    expect(Object.is(r.config?.sensitivity, 0)).toBe(true);
    expect(Object.is(r.config?.buffer_capacity, 0)).toBe(true);
  });

  it("lists unknown keys in UTF-8 byte order, where JS's own order puts U+1F600 before U+E000", () => {
    const r = applyChange(defaultConfig(), parse('{"😀":1,"\\ue000":1,"é":1,"z":1,"__proto__":1,"constructor":1}'), []);
    expect(r.errors.map((e) => e.key)).toEqual(["__proto__", "constructor", "z", "é", "\ue000", "😀"]);
  });

  it("takes a fleet_key in clear only on a keyless node whose config sets accept_first_key", () => {
    const change = parse('{"fleet_key":"first"}');
    expect(applyChange(defaultConfig(), change, []).errors).toEqual([{ key: "fleet_key", reason: "cannot be changed over MQTT; set it in config.json" }]);
    expect(applyChange({ ...defaultConfig(), accept_first_key: true }, change, []).config?.fleet_key).toBe("first");
    expect(applyChange({ ...defaultConfig(), accept_first_key: true, fleet_key: "k" }, change, []).errors).toEqual([
      { key: "fleet_key", reason: "must not be sent in clear: send fleet_key_enc" },
    ]);
    expect(findSpec("accept_first_key")?.[5]).toBe(false);
    expect(defaultConfig().accept_first_key).toBe(false);
  });
});

describe("the schema's edges", () => {
  it("has FIELD_COUNT keys and no more", () => {
    expect(schema()).toHaveLength(25);
    expect(FIELD_COUNT).toBe(25);
    expect(fieldSpec(FIELD_COUNT - 1)[0]).toBe("dht_pin");
    expect(fieldSpec(FIELD_COUNT)).toBeUndefined();
  });

  it("gives a unit to the times, the keepalive and the buffer, and none to the rest (the README's unit column)", () => {
    const units = Object.fromEntries(schema().map((s) => [s[0], s[4]]));
    expect(units).toEqual({
      node_id: "",
      wifi_ssid: "",
      wifi_password: "",
      mqtt_host: "",
      mqtt_port: "",
      mqtt_secure: "",
      mqtt_user: "",
      mqtt_password: "",
      mqtt_keepalive_s: "s",
      fleet_key: "",
      config_counter: "",
      accept_first_key: "",
      topic_prefix: "",
      topic_data: "",
      topic_config: "",
      interval_ms: "ms",
      sensitivity: "",
      heartbeat_ms: "ms",
      sensors: "",
      buffer_capacity: "readings",
      qos: "",
      reconnect_min_ms: "ms",
      reconnect_max_ms: "ms",
      flush_gap_ms: "ms",
      dht_pin: "",
    });
  });

  it("sorts in UTF-8 byte order, common prefixes and a repeated key included", () => {
    const sorted = (keys: string[]) => {
      const out: string[] = [];
      keys.forEach((k) => insertSorted(out, k));
      return out;
    };
    expect(sorted(["abc", "ab", "b", "a", "abd", "aa"])).toEqual(["a", "aa", "ab", "abc", "abd", "b"]);
    // Never two equal keys from a decoded object, but no endless loop if it came to that.
    expect(sorted(["k", "k"])).toEqual(["k", "k"]);
  });

  it("names each sensor's unit (for the docs and the simulator)", () => {
    expect(SENSOR_UNITS).toEqual({ temperature: "°C", humidity: "%RH", adc: "counts 0-1024", vdd: "V" });
  });

  // The keys not settable over MQTT show their bounds and units only here and in the boot log (a stored value out of range).
  it.each([
    ["mqtt_port", 0, "must be a whole number from 1 to 65535"],
    ["mqtt_port", 65536, "must be a whole number from 1 to 65535"],
    ["mqtt_keepalive_s", 9, "must be a whole number from 10 to 3600 s"],
    ["mqtt_keepalive_s", 3601, "must be a whole number from 10 to 3600 s"],
    ["reconnect_min_ms", 99, "must be a whole number from 100 to 3600000 ms"],
    ["reconnect_max_ms", 999, "must be a whole number from 1000 to 3600000 ms"],
    ["reconnect_max_ms", 3600001, "must be a whole number from 1000 to 3600000 ms"],
    ["dht_pin", 0, "must be a whole number from 1 to 12"],
    ["dht_pin", 13, "must be a whole number from 1 to 12"],
    ["config_counter", -1, "must be a whole number from 0 to 2147483647"],
    ["config_counter", 2147483648, "must be a whole number from 0 to 2147483647"],
    ["mqtt_secure", 1, "must be true or false"],
    ["accept_first_key", "true", "must be true or false"],
    ["mqtt_host", "", "must be a string of 1 to 64 bytes (UTF-8)"],
    ["wifi_password", "p".repeat(65), "must be a string of 0 to 64 bytes (UTF-8)"],
    ["fleet_key", "k".repeat(65), "must be a string of 0 to 64 bytes (UTF-8)"],
  ])("%s = %j: %s", (key, value, reason) => {
    expect(checkValue(spec(key), value)).toBe(reason);
  });

  it.each([
    ["mqtt_port", 1],
    ["mqtt_port", 65535],
    ["mqtt_keepalive_s", 10],
    ["mqtt_keepalive_s", 3600],
    ["dht_pin", 1],
    ["dht_pin", 12],
    ["config_counter", 2147483647],
    ["mqtt_password", "p+ss#{id}"],
    ["wifi_password", "p".repeat(64)],
  ])("%s = %j is valid", (key, value) => {
    expect(checkValue(spec(key), value)).toBeUndefined();
  });

  it("counts UTF-8 bytes at every boundary of the encoding", () => {
    expect(byteLength("")).toBe(0);
    expect(byteLength("\u007f")).toBe(1);
    expect(byteLength("\u0080")).toBe(2);
    expect(byteLength("\u07ff")).toBe(2);
    expect(byteLength("\u0800")).toBe(3);
    expect(byteLength("\ud7ff")).toBe(3);
    expect(byteLength("\ud800\udc00")).toBe(4); // U+10000, the first surrogate pair
    expect(byteLength("\udbff\udfff")).toBe(4); // U+10FFFF, the last
    expect(byteLength("\ue000")).toBe(3);
    expect(byteLength("\uffff")).toBe(3);
  });

  it("takes nothing but a list for a list", () => {
    expect(listLength("ab")).toBe(-1);
    expect(listLength("")).toBe(-1);
    expect(listLength(null)).toBe(-1);
    expect(listLength(7)).toBe(-1);
    expect(listLength({})).toBe(-1);
    expect(listLength([])).toBe(0);
  });

  it("ignores stored keys that are not in the schema, the empty key too", () => {
    const r = loadConfig({ "": true, zz: 1 });
    expect(r.errors).toEqual([]);
    expect(Object.keys(r.config as object)).toEqual(schema().map((s) => s[0]));
  });

  it("takes a reconnect_min_ms above reconnect_max_ms as a bad stored value: the minimum keeps its default", () => {
    const r = loadConfig({ reconnect_min_ms: 5000, reconnect_max_ms: 2000 });
    expect(r.config).toMatchObject({ reconnect_min_ms: 1000, reconnect_max_ms: 2000 });
    expect(r.errors).toEqual([{ key: "reconnect_min_ms", reason: "must not exceed reconnect_max_ms" }]);
    expect(loadConfig({ reconnect_min_ms: 2000, reconnect_max_ms: 2000 }).errors).toEqual([]);
  });
});

describe("configChange outcomes", () => {
  const platform = (hmac: (key: string, text: string) => string | undefined) =>
    ({
      encodeJson: (v: object) => JSON.stringify(v),
      decodeJson: (t: string) => {
        try {
          return JSON.parse(t) as unknown;
        } catch {
          return undefined;
        }
      },
      hmacSha256Hex: hmac,
      writeFile: () => true,
      log: () => undefined,
    }) as unknown as Platform;
  const keyed = { ...defaultConfig(), node_id: "n1", fleet_key: "k", config_counter: 5 };

  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("for other nodes: nothing to apply, nothing to acknowledge", () => {
    const p = platform(() => undefined);
    expect(configChange(p, defaultConfig(), "n1", '{"target":"n2","interval_ms":2000}')).toStrictEqual({ apply: undefined, ack: undefined });
  });

  it("on a keyed node without crypto: every change refused, saying why", () => {
    const outcome = configChange(platform(() => undefined), keyed, "n1", `{"sig":"${"0".repeat(64)}","interval_ms":2000,"ctr":6}`);
    expect(outcome.apply).toBeUndefined();
    expect(JSON.parse(outcome.ack as string)).toEqual({
      id: "n1",
      result: "rejected",
      errors: [{ key: "sig", reason: "cannot be checked: this firmware has no crypto module" }],
    });
  });

  // Lua's math.floor raises on nil, a table or a boolean: the node must not call it on a ctr that is no number.
  it.each(['"6"', "null", "true", "[6]", "{}"])("checks a ctr of %s without Math.floor", (ctr) => {
    const floor = Math.floor;
    vi.spyOn(Math, "floor").mockImplementation((x: number) => {
      if (typeof x !== "number") {
        throw new TypeError(`Math.floor(${JSON.stringify(x)}): Lua raises here`);
      }
      return floor(x);
    });
    const text = `{"interval_ms":2000,"ctr":${ctr}}`;
    const sig = "0".repeat(64);
    const p = platform(() => sig); // every signature matches: only the counter is left to refuse it
    const outcome = configChange(p, keyed, "n1", `{"sig":"${sig}",${text.slice(1)}`);
    expect(JSON.parse(outcome.ack as string).errors).toEqual([{ key: "ctr", reason: "must be a whole number above 5, the last applied (an old message replayed?)" }]);
  });
});
