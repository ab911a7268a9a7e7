/**
 * The Home Assistant discovery payloads (ops/homeassistant/discovery.ts),
 * field by field: what the README promises and Home Assistant reads.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { announce, removal, slug, valueTemplate, type AnnouncedNode, type DiscoveryOptions } from "../../ops/homeassistant/discovery";

const node: AnnouncedNode = { id: "node-0001", stateTopic: "site1/sensor_data", statusTopic: "site1/status/node-0001", sensors: ["temperature", "humidity", "vdd"], fw: "0.1.0" };
const options: DiscoveryOptions = { style: "sensor", prefix: "homeassistant", fleet: "site1", version: "0.1.0" };

describe("one config per entity (homeassistant/sensor/<unique_id>/config)", () => {
  it("announces one entity per sensor, each with device, ids, state topic, template, class, unit, state class and availability", () => {
    const published = announce(node, options);
    expect(published.map((p) => p.topic)).toEqual([
      "homeassistant/sensor/espfleet_site1_node-0001_temperature/config",
      "homeassistant/sensor/espfleet_site1_node-0001_humidity/config",
      "homeassistant/sensor/espfleet_site1_node-0001_vdd/config",
    ]);
    expect(JSON.parse(published[0].payload)).toEqual({
      name: "Temperature",
      unique_id: "espfleet_site1_node-0001_temperature",
      default_entity_id: "sensor.espfleet_site1_node_0001_temperature",
      device_class: "temperature",
      unit_of_measurement: "°C",
      state_class: "measurement",
      value_template: '{% if value_json.id == "node-0001" and value_json.temperature is defined %}{{ value_json.temperature }}{% endif %}',
      state_topic: "site1/sensor_data",
      availability_topic: "site1/status/node-0001",
      availability_template: "{{ value_json.state }}",
      payload_available: "online",
      payload_not_available: "offline",
      device: { identifiers: ["espfleet_site1_node-0001"], name: "node-0001", manufacturer: "espfleet", model: "ESP8266 sensor node", sw_version: "0.1.0" },
      origin: { name: "espfleet", sw_version: "0.1.0" },
    });
    expect([JSON.parse(published[1].payload).device_class, JSON.parse(published[1].payload).unit_of_measurement]).toEqual(["humidity", "%"]);
    expect([JSON.parse(published[2].payload).device_class, JSON.parse(published[2].payload).unit_of_measurement]).toEqual(["voltage", "V"]);
  });

  it("the adc has a unit and no device class (raw counts are no physical quantity)", () => {
    const [adc] = announce({ ...node, sensors: ["adc"] }, options).map((p) => JSON.parse(p.payload) as Record<string, unknown>);
    expect([adc.device_class, adc.unit_of_measurement, adc.state_class]).toEqual([undefined, "counts", "measurement"]);
  });

  it("without a topic prefix the ids have no fleet part; without a known firmware, no sw_version", () => {
    const [config] = announce({ ...node, fw: "" }, { ...options, fleet: "" }).map((p) => JSON.parse(p.payload) as { unique_id: string; device: Record<string, unknown> });
    expect(config.unique_id).toBe("espfleet_node-0001_temperature");
    expect(config.device.sw_version).toBeUndefined();
  });

  it("removal: an empty payload on every topic announced", () => {
    expect(removal(node, options)).toEqual(announce(node, options).map((p) => ({ topic: p.topic, payload: "" })));
  });
});

describe("one config per node (homeassistant/device/<id>/config, Home Assistant 2024.11+)", () => {
  it("holds the device, origin, shared state topic and availability, and one component per sensor", () => {
    const [published] = announce(node, { ...options, style: "device" });
    expect(published.topic).toBe("homeassistant/device/espfleet_site1_node-0001/config");
    const payload = JSON.parse(published.payload) as Record<string, unknown> & { components: Record<string, Record<string, unknown>> };
    expect(Object.keys(payload.components)).toEqual(["espfleet_site1_node-0001_temperature", "espfleet_site1_node-0001_humidity", "espfleet_site1_node-0001_vdd"]);
    expect(payload.components["espfleet_site1_node-0001_vdd"]).toEqual({
      platform: "sensor",
      name: "Supply voltage",
      unique_id: "espfleet_site1_node-0001_vdd",
      default_entity_id: "sensor.espfleet_site1_node_0001_vdd",
      device_class: "voltage",
      unit_of_measurement: "V",
      state_class: "measurement",
      value_template: valueTemplate("node-0001", "vdd"),
    });
    expect([payload.state_topic, payload.availability_topic, payload.availability_template, (payload.device as { name: string }).name, (payload.origin as { name: string }).name]).toEqual([
      "site1/sensor_data",
      "site1/status/node-0001",
      "{{ value_json.state }}",
      "node-0001",
      "espfleet",
    ]);
    expect(removal(node, { ...options, style: "device" })).toEqual([{ topic: published.topic, payload: "" }]);
  });
});

describe("ids", () => {
  it("keep letters, digits, _ and -; anything else becomes _ plus a hash of the original, so two ids stay two", () => {
    expect(slug("node-0001")).toBe("node-0001");
    expect(slug("node.1")).toMatch(/^node_1_[0-9a-f]{6}$/);
    expect(slug("node.1")).not.toBe(slug("node_1"));
    expect(slug("a/b+#")).toMatch(/^a_b___[0-9a-f]{6}$/);
  });

  it("a node id with a quote cannot break out of the template's string", () => {
    expect(valueTemplate('x" or 1 or "', "humidity")).toContain('value_json.id == "x\\" or 1 or \\""');
  });
});

it("the README's example payload is what is published", () => {
  const readme = readFileSync(join(import.meta.dirname, "..", "..", "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("\n## Home Assistant\n"));
  const example = /```json\n([\s\S]*?)\n```/.exec(section)?.[1] ?? "{}";
  const [temperature] = announce({ ...node, fw: "0.1.0" }, { ...options, version: "0.1.0" });
  expect(JSON.parse(example)).toEqual(JSON.parse(temperature.payload));
});
