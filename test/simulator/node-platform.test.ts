/**
 * The Node platform against the rules of firmware/core/platform.ts, on a
 * real (embedded) broker: callbacks never fire inside the call that
 * registered them, exactly one of connected/connectFailed per attempt,
 * publish refused while not connected, `done` only on the PUBACK, no
 * `offline` after mqttClose, inbound messages cut like NodeMCU's, no throws.
 */
import mqtt from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MqttEvents, MqttSession } from "../../firmware/core/platform";
import { startEmbeddedBroker, type EmbeddedBroker } from "../../broker/embedded";
import { FleetCounters } from "../../simulator/fleet-counters";
import { NodePlatform } from "../../simulator/node-platform";
import { NodeStorage } from "../../simulator/node-storage";
import { Prng } from "../../simulator/prng";
import { NO_FAULTS, SensorModel } from "../../simulator/sensor-model";
import { freePort } from "../e2e/support/mosquitto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

interface Recorded {
  events: string[];
  messages: [string, string][];
  handlers: MqttEvents;
}

function recorder(): Recorded {
  const r: Recorded = {
    events: [],
    messages: [],
    handlers: {
      connected: () => r.events.push("connected"),
      connectFailed: (reason) => r.events.push("connectFailed: " + reason),
      offline: () => r.events.push("offline"),
      message: (topic, payload) => r.messages.push([topic, payload]),
    },
  };
  return r;
}

function platform(counters = new FleetCounters(), logs: string[] = [], id = "node-0001"): NodePlatform {
  const storage = new NodeStorage(mkdtempSync(join(tmpdir(), "espfleet-unit-")));
  const sensors = new SensorModel(1, 1, 0, NO_FAULTS, { intervalMs: () => 1000 });
  return new NodePlatform(id, storage.forNode(id), sensors, new Prng(1, 2), {
    counters,
    dataTopic: "sensor_data",
    ackTopicPrefix: "config_ack/",
    tls: undefined,
    log: (nodeId, level, text) => logs.push(`${nodeId} ${level}: ${text}`),
  });
}

function session(port: number, host = "127.0.0.1", id = "node-0001"): MqttSession {
  return {
    clientId: id,
    host,
    port,
    secure: false,
    user: "",
    password: "",
    keepaliveSec: 60,
    willTopic: `status/${id}`,
    willPayload: `{"id":"${id}","state":"offline","boot":3}`,
  };
}

const until = async (condition: () => boolean, what: string): Promise<void> => {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error("timed out waiting for " + what);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe("NodePlatform (simulator) keeps the Platform contract", () => {
  let broker: EmbeddedBroker;
  beforeAll(async () => {
    broker = await startEmbeddedBroker({ port: 0 });
  });
  afterAll(async () => {
    await broker.close();
  });

  it("connects asynchronously, exactly once, and counts the session", async () => {
    const counters = new FleetCounters();
    const p = platform(counters);
    const r = recorder();
    p.mqttConnect(session(broker.port), r.handlers);
    expect(r.events).toEqual([]);
    await until(() => r.events.length > 0, "connected");
    await new Promise((res) => setTimeout(res, 50));
    expect(r.events).toEqual(["connected"]);
    expect(counters.connected).toBe(1);
    p.mqttClose();
    expect(counters.connected).toBe(0);
    await p.closed();
  });

  it("reports a refused connection once, with the reason, and refuses publish and subscribe", async () => {
    const p = platform();
    const r = recorder();
    const closedPort = await freePort();
    p.mqttConnect(session(closedPort), r.handlers);
    expect(p.mqttPublish("sensor_data", "{}", 1, false, () => undefined)).toBe(false);
    expect(p.mqttSubscribe("config_change", 1)).toBe(false);
    await until(() => r.events.length > 0, "connectFailed");
    await new Promise((res) => setTimeout(res, 50));
    expect(r.events).toHaveLength(1);
    expect(r.events[0]).toMatch(/^connectFailed: .*ECONNREFUSED/);
  });

  it("does not throw on a host that cannot resolve; the attempt fails instead", async () => {
    const p = platform();
    const r = recorder();
    expect(() => p.mqttConnect(session(1883, "no-such-host.invalid"), r.handlers)).not.toThrow();
    await until(() => r.events.length > 0, "connectFailed");
    expect(r.events[0]).toMatch(/^connectFailed: /);
  });

  it("fires done only when the broker acknowledged a QoS 1 publish, never before", async () => {
    // This broker holds every publish until the test releases it, so the PUBACK waits too.
    const held: (() => void)[] = [];
    const slow = await startEmbeddedBroker({
      port: 0,
      aedes: { authorizePublish: (_client, packet, callback) => (packet.topic === "sensor_data" ? held.push(() => callback(null)) : callback(null)) },
    });
    const counters = new FleetCounters();
    const p = platform(counters);
    const r = recorder();
    p.mqttConnect(session(slow.port), r.handlers);
    await until(() => r.events.includes("connected"), "connected");
    let done = 0;
    expect(p.mqttPublish("sensor_data", '{"seq":1}', 1, false, () => done++)).toBe(true);
    expect(done).toBe(0);
    expect(counters.published).toBe(1);
    await until(() => held.length === 1, "the broker to receive the publish");
    await new Promise((res) => setTimeout(res, 100));
    expect(done).toBe(0);
    held[0]();
    await until(() => done === 1, "PUBACK");
    expect(counters.acked).toBe(1);
    p.mqttClose();
    await p.closed();
    await slow.close();
  });

  it("fires offline when the broker goes away, but not after mqttClose", async () => {
    const own = await startEmbeddedBroker({ port: 0 });
    const p = platform();
    const r = recorder();
    p.mqttConnect(session(own.port), r.handlers);
    await until(() => r.events.includes("connected"), "connected");
    await own.close();
    await until(() => r.events.includes("offline"), "offline");
    expect(r.events).toEqual(["connected", "offline"]);
    expect(p.mqttPublish("sensor_data", "{}", 1, false, () => undefined)).toBe(false);

    const r2 = recorder();
    p.mqttConnect(session(broker.port), r2.handlers);
    await until(() => r2.events.includes("connected"), "connected again");
    p.mqttClose();
    await p.closed();
    await new Promise((res) => setTimeout(res, 100));
    expect(r2.events).toEqual(["connected"]);
  });

  it("delivers subscribed messages, cut to NodeMCU's 1024 bytes", async () => {
    const p = platform();
    const r = recorder();
    p.mqttConnect(session(broker.port), r.handlers);
    await until(() => r.events.includes("connected"), "connected");
    expect(p.mqttSubscribe("config_change", 1)).toBe(true);
    await new Promise((res) => setTimeout(res, 100));
    const operator = await mqtt.connectAsync(broker.url);
    await operator.publishAsync("config_change", '{"interval_ms":500}', { qos: 1 });
    await operator.publishAsync("config_change", "x".repeat(5000), { qos: 1 });
    await until(() => r.messages.length === 2, "two messages");
    expect(r.messages[0]).toEqual(["config_change", '{"interval_ms":500}']);
    // NodeMCU's limit, written out: the first 1024 bytes of the text, not a value taken from the code under test.
    expect(r.messages[1]).toEqual(["config_change", "x".repeat(1024)]);
    await operator.endAsync();
    p.mqttClose();
    await p.closed();
  });

  it("calls wifi up from the event loop, decodes bad JSON as undefined, and has a seeded random", async () => {
    const p = platform();
    let up = 0;
    p.wifiConnect("", "", () => up++, () => undefined);
    expect(up).toBe(0);
    await new Promise((res) => setImmediate(res));
    expect(up).toBe(1);
    expect(p.decodeJson("{bad")).toBeUndefined();
    expect(p.decodeJson('{"a":1}')).toEqual({ a: 1 });
    expect(platform().random()).toBe(platform().random());
    expect(p.unixTimeSec()).toBeGreaterThan(1_600_000_000);
  });

  it("reads and writes the node's files, visible at once", () => {
    const p = platform();
    expect(p.readFile("config.json")).toBeUndefined();
    expect(p.writeFile("config.json", '{"a":1}')).toBe(true);
    expect(p.readFile("config.json")).toBe('{"a":1}');
  });

  it("group commit: what a node publishes after a write waits until the write is on disk; an ack is never sent for a change that is not", async () => {
    const dir = mkdtempSync(join(tmpdir(), "espfleet-unit-"));
    const storage = new NodeStorage(dir);
    const counters = new FleetCounters();
    const logs: string[] = [];
    const p = new NodePlatform("node-0001", storage.forNode("node-0001"), new SensorModel(1, 1, 0, NO_FAULTS, { intervalMs: () => 1000 }), new Prng(1, 2), {
      counters,
      dataTopic: "sensor_data",
      ackTopicPrefix: "config_ack/",
      tls: undefined,
      log: (nodeId, level, text) => logs.push(`${nodeId} ${level}: ${text}`),
    });
    const r = recorder();
    p.mqttConnect(session(broker.port), r.handlers);
    await until(() => r.events.includes("connected"), "connected");
    const operator = await mqtt.connectAsync(broker.url);
    const acks: { body: string; onDisk: string }[] = [];
    operator.on("message", (_topic, payload) => acks.push({ body: payload.toString(), onDisk: readFileSync(join(dir, "node-0001", "config.json"), "utf8") }));
    await operator.subscribeAsync("config_ack/#", { qos: 1 });

    // As the core does: store, then ack at once.
    expect(p.writeFile("config.json", '{"interval_ms":500}')).toBe(true);
    expect(p.mqttPublish("config_ack/node-0001", '{"id":"node-0001","result":"applied","req":"a"}', 1, false, () => undefined)).toBe(true);
    // Held, not sent: the file is not on disk yet.
    expect(counters.configApplied).toBe(0);
    await storage.flush();
    expect(counters.configApplied).toBe(1);
    await until(() => acks.length === 1, "the ack");
    expect(acks[0]).toEqual({ body: '{"id":"node-0001","result":"applied","req":"a"}', onDisk: '{"interval_ms":500}' });

    // The disk fails after the write returned true: the "applied" ack is dropped and said in the log; a reading after it still goes out.
    expect(p.writeFile("config.json", '{"interval_ms":700}')).toBe(true);
    storage.refuseWrites("node-0001", "config.json", true);
    expect(p.mqttPublish("config_ack/node-0001", '{"id":"node-0001","result":"applied","req":"b"}', 1, false, () => undefined)).toBe(true);
    let readingAcked = false;
    expect(p.mqttPublish("sensor_data", '{"seq":1}', 1, false, () => (readingAcked = true))).toBe(true);
    await storage.flush();
    await until(() => readingAcked, "the reading's PUBACK");
    await new Promise((res) => setTimeout(res, 200));
    expect(acks).toHaveLength(1);
    expect(counters.configApplied).toBe(1);
    expect(logs).toEqual(["node-0001 error: config change applied but not acknowledged: it could not be stored durably"]);
    expect(readFileSync(join(dir, "node-0001", "config.json"), "utf8")).toBe('{"interval_ms":500}');
    // Refused at the write itself: false at once, so the core sends its rejected ack (as before the group commit).
    expect(p.writeFile("config.json", '{"interval_ms":900}')).toBe(false);
    expect(p.mqttPublish("config_ack/node-0001", '{"id":"node-0001","result":"rejected","req":"c"}', 1, false, () => undefined)).toBe(true);
    await until(() => acks.length === 2, "the rejected ack, not held");
    expect(JSON.parse(acks[1].body)).toMatchObject({ result: "rejected", req: "c" });
    await operator.endAsync();
    p.mqttClose();
    await p.closed();
  });

  it.skipIf(process.platform !== "linux" || !existsSync("/dev/shm"))("in RAM (tmpfs): a write is in place when writeFile returns, and the ack right after it goes out at once, nothing held", async () => {
    const dir = mkdtempSync(join("/dev/shm", "espfleet-unit-"));
    try {
      const storage = new NodeStorage(dir);
      const counters = new FleetCounters();
      const p = new NodePlatform("node-0001", storage.forNode("node-0001"), new SensorModel(1, 1, 0, NO_FAULTS, { intervalMs: () => 1000 }), new Prng(1, 2), {
        counters,
        dataTopic: "sensor_data",
        ackTopicPrefix: "config_ack/",
        tls: undefined,
        log: () => undefined,
      });
      const r = recorder();
      p.mqttConnect(session(broker.port), r.handlers);
      await until(() => r.events.includes("connected"), "connected");
      expect(p.writeFile("config.json", '{"interval_ms":500}')).toBe(true);
      expect(readFileSync(join(dir, "node-0001", "config.json"), "utf8")).toBe('{"interval_ms":500}');
      expect(storage.pendingWrites()).toBe(0);
      let acked = false;
      expect(p.mqttPublish("config_ack/node-0001", '{"id":"node-0001","result":"applied","req":"a"}', 1, false, () => (acked = true))).toBe(true);
      // Sent in the call, not held for a commit: counted at once.
      expect(counters.configApplied).toBe(1);
      await until(() => acked, "the ack's PUBACK");
      p.mqttClose();
      await p.closed();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("group commit: a goodbye held for the disk still goes out when the node closes its session right after it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "espfleet-unit-"));
    const storage = new NodeStorage(dir);
    const p = new NodePlatform("node-0007", storage.forNode("node-0007"), new SensorModel(1, 7, 0, NO_FAULTS, { intervalMs: () => 1000 }), new Prng(1, 14), {
      counters: new FleetCounters(),
      dataTopic: "sensor_data",
      ackTopicPrefix: "config_ack/",
      tls: undefined,
      log: () => undefined,
    });
    const r = recorder();
    p.mqttConnect(session(broker.port, "127.0.0.1", "node-0007"), r.handlers);
    await until(() => r.events.includes("connected"), "connected");
    // As the core's stop() right after a write: the retained goodbye, then the close, in one go.
    expect(p.writeFile("boot.txt", '{"boot":2}')).toBe(true);
    expect(p.mqttPublish("status/node-0007", '{"id":"node-0007","state":"offline","boot":2}', 1, true, () => undefined)).toBe(true);
    p.mqttClose();
    await p.closed();
    const viewer = await mqtt.connectAsync(broker.url);
    const statuses: string[] = [];
    viewer.on("message", (_topic, payload) => statuses.push(payload.toString()));
    await viewer.subscribeAsync("status/node-0007", { qos: 1 });
    await until(() => statuses.length > 0, "the retained status");
    expect(JSON.parse(statuses[0])).toEqual({ id: "node-0007", state: "offline", boot: 2 });
    expect(readFileSync(join(dir, "node-0007", "boot.txt"), "utf8")).toBe('{"boot":2}');
    await viewer.endAsync();
  });

  it("keeps an exception in a node's MQTT path to that node (issue 15): faulted, counted, logged once, retained status faulted", async () => {
    const counters = new FleetCounters();
    const logs: string[] = [];
    const sick = platform(counters, logs, "node-0001");
    const well = platform(counters, logs, "node-0002");
    const r = recorder();
    let messages = 0;
    sick.mqttConnect(session(broker.port), {
      ...r.handlers,
      message: () => {
        messages++;
        throw new TypeError("cannot read properties of undefined (reading 'interval_ms')");
      },
    });
    const r2 = recorder();
    well.mqttConnect(session(broker.port, "127.0.0.1", "node-0002"), r2.handlers);
    await until(() => r.events.includes("connected") && r2.events.includes("connected"), "both connected");
    expect(sick.mqttSubscribe("config_change", 1)).toBe(true);
    expect(well.mqttSubscribe("config_change", 1)).toBe(true);
    await new Promise((res) => setTimeout(res, 100));
    const operator = await mqtt.connectAsync(broker.url);
    await operator.publishAsync("config_change", "{}", { qos: 1 });
    await operator.publishAsync("config_change", "{}", { qos: 1 });
    // Nothing escaped to the process (vitest fails a test on an uncaught exception); the node is marked instead.
    await until(() => sick.faulted() !== undefined && r2.messages.length === 2, "the fault and the other node's messages");
    expect(sick.faulted()).toMatch(/^cannot read properties of undefined \(reading 'interval_ms'\) \(at node-platform\.test\.ts:\d+\)$/);
    expect(messages).toBe(1);
    expect(counters.faulted).toBe(1);
    expect(logs.filter((l) => l.includes("faulted"))).toEqual([`node-0001 error: faulted in mqtt message: ${sick.faulted()}; this node stops, the rest of the fleet runs on`]);
    expect(sick.mqttPublish("sensor_data", "{}", 1, false, () => undefined)).toBe(false);
    await sick.closed();
    // The retained status says so (not the will's "offline": the session ended with a DISCONNECT).
    const viewer = await mqtt.connectAsync(broker.url);
    const statuses: string[] = [];
    viewer.on("message", (_topic, payload) => statuses.push(payload.toString()));
    await viewer.subscribeAsync("status/node-0001", { qos: 1 });
    await until(() => statuses.length > 0, "the retained status");
    expect(JSON.parse(statuses[0])).toMatchObject({ id: "node-0001", state: "faulted", boot: 3, error: sick.faulted() });
    // The other node is untouched.
    expect(well.faulted()).toBeUndefined();
    let acked = false;
    expect(well.mqttPublish("sensor_data", "{}", 1, false, () => (acked = true))).toBe(true);
    await until(() => acked, "the healthy node's PUBACK");
    await Promise.all([viewer.endAsync(), operator.endAsync()]);
    well.mqttClose();
    await well.closed();
  });

  it("faults a node whose timer callback throws, and stops its timers; other callbacks are dropped", async () => {
    const counters = new FleetCounters();
    const logs: string[] = [];
    const p = platform(counters, logs);
    const sample = p.createTimer("sample");
    const retry = p.createTimer("retry");
    let samples = 0;
    let retries = 0;
    sample.start(5, true, () => {
      samples++;
      throw new Error("sensor model bug");
    });
    retry.start(60, true, () => retries++);
    await until(() => p.faulted() !== undefined, "the fault");
    await new Promise((res) => setTimeout(res, 150));
    expect(samples).toBe(1);
    expect(retries).toBe(0);
    expect(counters.faulted).toBe(1);
    expect(logs).toEqual([`node-0001 error: faulted in timer sample: ${p.faulted()}; this node stops, the rest of the fleet runs on`]);
    let up = 0;
    p.wifiConnect("", "", () => up++, () => undefined);
    await new Promise((res) => setImmediate(res));
    expect(up).toBe(0);
  });
});
