/**
 * Home Assistant discovery against a real broker (aedes in this process):
 * the announcer, wired as collect and console wire it (every message of the
 * fleet's topics handed to observe()), with simulated nodes and a client in
 * Home Assistant's place reading the retained configs.
 */
import mqtt, { type MqttClient } from "mqtt";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startEmbeddedBroker, type EmbeddedBroker } from "../../broker/embedded";
import type { BrokerTarget } from "../../broker/target";
import { operatorTopics } from "../../broker/topics";
import { HomeAssistantAnnouncer } from "../../ops/homeassistant/announcer";
import { startTestFleet, uniquePrefix } from "../e2e/support/test-fleet";
import { sleep, until } from "../e2e/support/observer";

let broker: EmbeddedBroker;
let target: BrokerTarget;

beforeAll(async () => {
  broker = await startEmbeddedBroker({ port: 0 });
  target = { url: broker.url, host: broker.host, port: broker.port, secure: false, username: "", password: "", ca: undefined, embedded: true };
});
afterAll(async () => {
  await broker?.close();
});

async function client(name: string): Promise<MqttClient> {
  return mqtt.connectAsync(broker.url, { clientId: `${name}-${Math.random().toString(36).slice(2, 8)}`, protocolVersion: 4 });
}

/** What a fresh subscriber gets retained under `filter`: topic -> payload (an empty payload is no retained message). */
async function retained(filter: string): Promise<Map<string, string>> {
  const seen = new Map<string, string>();
  const c = await client("ha-look");
  c.on("message", (topic, payload, packet) => {
    if (packet.retain) {
      seen.set(topic, payload.toString("utf8"));
    }
  });
  await c.subscribeAsync(filter, { qos: 1 });
  await sleep(300);
  await c.endAsync();
  return seen;
}

it("each node heard gets retained configs, one per sensor; they come again on homeassistant/status online; a cleared status removes them", async () => {
  const prefix = uniquePrefix("ha");
  const discovery = `${prefix}-ha`;
  const topics = operatorTopics(prefix);
  const announcer = await HomeAssistantAnnouncer.start({
    target,
    clientId: `${prefix}-announcer`,
    topics,
    discovery: { style: "sensor", prefix: discovery, fleet: prefix, version: "test" },
    log: () => undefined,
  });
  // As collect does: every message of the fleet's topics goes to the announcer too.
  const tap = await client("tap");
  tap.on("message", (topic, payload) => announcer.observe(topic, payload));
  await tap.subscribeAsync([...topics.readings, topics.status], { qos: 1 });

  const { fleet } = await startTestFleet(
    { name: "aedes", url: broker.url, target, stop: async () => undefined, start: async () => undefined, close: async () => undefined },
    { nodes: 2, prefix, initial: { interval_ms: 200, sensors: ["temperature", "humidity", "vdd"] } },
  );
  try {
    await until(() => announcer.published >= 6, 10_000, "6 configs published");
    await announcer.idle();
    const configs = await retained(`${discovery}/sensor/+/config`);
    expect([...configs.keys()].sort()).toEqual(
      ["node-0001", "node-0002"].flatMap((n) => ["humidity", "temperature", "vdd"].map((s) => `${discovery}/sensor/espfleet_${prefix}_${n}_${s}/config`)).sort(),
    );
    const temperature = JSON.parse(configs.get(`${discovery}/sensor/espfleet_${prefix}_node-0002_temperature/config`) ?? "{}") as Record<string, unknown>;
    expect([temperature.state_topic, temperature.availability_topic, temperature.unit_of_measurement, (temperature.device as { sw_version?: string }).sw_version]).toEqual([
      `${prefix}/sensor_data`,
      `${prefix}/status/node-0002`,
      "°C",
      "0.1.0",
    ]);

    // Home Assistant restarted: it says online, and gets every config again.
    const before = announcer.published;
    const ha = await client("ha");
    await ha.publishAsync(`${discovery}/status`, "online", { qos: 1 });
    await until(() => announcer.published >= before + 6, 5000, "the configs announced again");

    // node-0002 is removed: its retained status cleared; its configs are cleared too.
    await fleet.stop();
    await ha.publishAsync(`${prefix}/status/node-0002`, "", { qos: 1, retain: true });
    await until(() => announcer.nodes === 1, 5000, "node-0002 forgotten");
    await announcer.idle();
    const left = await retained(`${discovery}/sensor/+/config`);
    expect([...left.keys()].every((t) => t.includes("node-0001"))).toBe(true);
    expect(left.size).toBe(3);
    await ha.endAsync();
  } finally {
    await fleet.stop();
    await tap.endAsync();
    await announcer.close();
  }
});

it("device-based discovery: one retained config per node, updated when a new sensor shows up", async () => {
  const prefix = uniquePrefix("ha-dev");
  const discovery = `${prefix}-ha`;
  const announcer = await HomeAssistantAnnouncer.start({
    target,
    clientId: `${prefix}-announcer`,
    topics: operatorTopics(prefix),
    discovery: { style: "device", prefix: discovery, fleet: "", version: "test" },
    log: () => undefined,
  });
  try {
    announcer.reading("n1", `${prefix}/sensor_data/n1`, ["temperature"]);
    await until(() => announcer.published === 1, 5000, "the device announced");
    // Only temperature so far; then a reading with vdd too (a failed humidity read counts as a sensor the node has).
    announcer.reading("n1", `${prefix}/sensor_data/n1`, ["temperature"]);
    announcer.reading("n1", `${prefix}/sensor_data/n1`, ["vdd", "humidity"]);
    await announcer.idle();
    const configs = await retained(`${discovery}/device/+/config`);
    const payload = JSON.parse(configs.get(`${discovery}/device/espfleet_n1/config`) ?? "{}") as { components: Record<string, unknown>; state_topic: string };
    expect(Object.keys(payload.components)).toEqual(["espfleet_n1_temperature", "espfleet_n1_humidity", "espfleet_n1_vdd"]);
    expect(payload.state_topic).toBe(`${prefix}/sensor_data/n1`);
    expect(announcer.published).toBe(2);
    announcer.remove("n1");
    await announcer.idle();
    expect((await retained(`${discovery}/device/+/config`)).size).toBe(0);
  } finally {
    await announcer.close();
  }
});
