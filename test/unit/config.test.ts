import { describe, expect, it } from "vitest";
import { applyChange, byteLength, checkValue, defaultConfig, findSpec, listLength, loadConfig, schema } from "../../firmware/core/config";

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
