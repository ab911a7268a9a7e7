/**
 * topic_data (issue 11): readings on the shared `sensor_data` by default,
 * `{id}` filled with the node id, and templates the schema refuses. The same
 * cases run on the built Lua in test/lua/topics_spec.lua and in the
 * conformance scenarios data-topic-*.json.
 */
import { describe, expect, it } from "vitest";
import { applyChange, checkValue, defaultConfig, findSpec, loadConfig } from "../../firmware/core/config";
import { fillId, topicsFor } from "../../firmware/core/topics";

const spec = findSpec("topic_data");
const check = (value: unknown): string | undefined => (spec !== undefined ? checkValue(spec, value) : "no topic_data key");
const REASON = "must have no + or #, and {id} once at most, as a whole level: e.g. sensor_data/{id}";

describe("topic_data", () => {
  it("defaults to the one shared topic sensor_data; the other topics stay per node", () => {
    expect(defaultConfig().topic_data).toBe("sensor_data");
    expect(topicsFor(defaultConfig(), "node-0001")).toEqual({
      data: "sensor_data",
      config: "config_change",
      status: "status/node-0001",
      ack: "config_ack/node-0001",
      event: "event/node-0001",
    });
    expect(topicsFor({ ...defaultConfig(), topic_prefix: "site1" }, "n").data).toBe("site1/sensor_data");
  });

  it("replaces {id} with the node id, wherever the level is", () => {
    const at = (topic_data: string, topic_prefix = ""): string => topicsFor({ ...defaultConfig(), topic_data, topic_prefix }, "node-0001").data;
    expect(at("sensor_data/{id}")).toBe("sensor_data/node-0001");
    expect(at("sensor_data/{id}", "espfleet")).toBe("espfleet/sensor_data/node-0001");
    expect(at("{id}/r")).toBe("node-0001/r");
    expect(at("a/{id}/b")).toBe("a/node-0001/b");
    expect(at("{id}")).toBe("node-0001");
    expect(at("été/{id}")).toBe("été/node-0001");
    expect(fillId("no/placeholder", "x")).toBe("no/placeholder");
    expect(fillId("{ID}/{id", "x")).toBe("{ID}/{id");
  });

  it.each(["sensor_data", "sensor_data/{id}", "{id}", "{id}/readings", "a/{id}/b", "été/{id}", "{ID}", "x{id"])("accepts %j", (value) => {
    expect(check(value)).toBeUndefined();
  });

  it.each(["sensor_data/+", "sensor_data/#", "+/{id}", "a#b", "s/{id}/{id}", "{id}{id}", "sensor_{id}", "{id}x/s", "s/x{id}", "été{id}"])(
    "refuses %j, saying why",
    (value) => {
      expect(check(value)).toBe(REASON);
    },
  );

  it("keeps the length and type rules", () => {
    expect(check("")).toBe("must be a string of 1 to 32 bytes (UTF-8)");
    expect(check("x".repeat(33))).toBe("must be a string of 1 to 32 bytes (UTF-8)");
    expect(check(7)).toBe("must be a string of 1 to 32 bytes (UTF-8)");
  });

  it("leaves other text alone: + and # are fine in a password", () => {
    const password = findSpec("mqtt_password");
    expect(password !== undefined ? checkValue(password, "a+b#c{id}") : "missing").toBeUndefined();
  });

  it("falls back to the default for a bad stored template, and cannot be changed over MQTT", () => {
    const loaded = loadConfig({ topic_data: "sensor_data/{id}/{id}" });
    expect(loaded.config?.topic_data).toBe("sensor_data");
    expect(loaded.errors).toEqual([{ key: "topic_data", reason: REASON }]);
    expect(loadConfig({ topic_data: "sensor_data/{id}" }).config?.topic_data).toBe("sensor_data/{id}");
    const change = applyChange(defaultConfig(), { topic_data: "sensor_data/{id}" }, []);
    expect(change.config).toBeUndefined();
    expect(change.errors[0]).toMatchObject({ key: "topic_data", reason: "cannot be changed over MQTT; set it in config.json" });
  });
});
