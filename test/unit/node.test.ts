/**
 * Unit tests of the sensor-node core on the fake Platform with virtual time
 * (test/conformance/scenario-platform.ts): behaviour, not just sameness.
 */
import { afterEach, describe, expect, it } from "vitest";
import { SensorNode } from "../../firmware/core/node";
import { nodeCodec } from "../conformance/host-codec";
import { BROKER_DELAY_MS, ScenarioPlatform, TraceEntry } from "../conformance/scenario-platform";

interface Reading {
  id: string;
  seq: number;
  boot: number;
  up: number;
  ts?: number;
  temperature?: number;
  humidity?: number;
  failed?: string[];
  dropped?: number;
}

/** Every platform a test made: none may have seen a call the device would refuse (bad_module, bad_call). */
let platforms: ScenarioPlatform[] = [];
afterEach(() => {
  const complaints = platforms.flatMap((p) => p.trace.filter((e) => e.ev.startsWith("bad_")));
  platforms = [];
  expect(complaints).toEqual([]);
});

function setup(config: Record<string, unknown> = {}, files: Record<string, string> = {}) {
  const p = new ScenarioPlatform(nodeCodec);
  platforms.push(p);
  p.files = { ...files };
  p.files["config.json"] ??= JSON.stringify({ node_id: "n1", interval_ms: 1000, ...config });
  let t = 20;
  p.sensorScript = { temperature: [t], humidity: [50] };
  const node = new SensorNode(p);
  const online = () => {
    node.start();
    p.bringWifiUp();
    p.advance(BROKER_DELAY_MS + 1);
  };
  // A temperature that moves every read, so sensitivity never skips unless a test wants it.
  const moving = () => {
    const reads: number[] = [];
    for (let i = 0; i < 2000; i++) {
      reads.push(t);
      t += 1;
    }
    p.sensorScript.temperature = reads;
  };
  return { p, node, online, moving };
}

const publishes = (trace: TraceEntry[], topic: string) => trace.filter((e) => e.ev === "publish" && e.topic === topic);
const readings = (trace: TraceEntry[]) => publishes(trace, "sensor_data").map((e) => e.payload as Reading);
const acks = (trace: TraceEntry[]) => publishes(trace, "config_ack/n1").map((e) => e.payload as Record<string, unknown>);

describe("boot and publishing", () => {
  it("connects with a retained offline will, announces online, subscribes, then publishes at the interval", () => {
    const { p, online } = setup();
    online();
    p.advance(3000);
    const connect = p.trace.find((e) => e.ev === "connect");
    expect(connect?.will).toBe("status/n1");
    expect(connect?.willPayload).toMatchObject({ id: "n1", state: "offline" });
    const status = publishes(p.trace, "status/n1");
    expect(status[0]).toMatchObject({ retain: true, qos: 1, payload: { state: "online", boot: 1 } });
    expect(p.trace.some((e) => e.ev === "subscribe" && e.topic === "config_change")).toBe(true);
    const r = readings(p.trace);
    expect(r.map((x) => x.seq)).toEqual([1, 2, 3]);
    expect(r[0]).toMatchObject({ id: "n1", boot: 1, up: 1, temperature: 20, humidity: 50 });
    expect(r[0].ts).toBeUndefined();
  });

  it("adds wall-clock time only when the clock is synced, and rounds values to 2 decimals", () => {
    const { p, online } = setup();
    p.unixTime = 1_790_000_000;
    p.sensorScript.temperature = [21.456789];
    online();
    p.advance(1000);
    expect(readings(p.trace)[0]).toMatchObject({ ts: 1_790_000_001, temperature: 21.46 });
  });

  it("counts boots in storage so a reboot is distinguishable from loss", () => {
    const first = setup();
    first.online();
    const second = setup({}, first.p.files);
    second.online();
    second.p.advance(1000);
    expect(readings(second.p.trace)[0]).toMatchObject({ boot: 2, seq: 1 });
  });

  it("never publishes before the network is up", () => {
    const { p, node } = setup();
    node.start();
    p.advance(5000);
    expect(p.trace.filter((e) => e.ev === "publish" || e.ev === "publish_refused")).toEqual([]);
  });
});

describe("sensitivity and heartbeat", () => {
  it("skips readings that moved less than the sensitivity, but sends a heartbeat", () => {
    const { p, online } = setup({ sensitivity: 1, heartbeat_ms: 5000 });
    p.sensorScript.temperature = [20, 20.2, 20.4, 20.6, 20.8, 21.0, 21.1, 21.2];
    online();
    p.advance(8000);
    const temps = readings(p.trace).map((r) => r.temperature);
    // 20 first; 21.0 moved 1.0; then a heartbeat 5 s after the last one (t=11 s) is past the run.
    expect(temps).toEqual([20, 21]);
  });

  it("heartbeat goes out even when nothing changes", () => {
    const { p, online } = setup({ sensitivity: 5, heartbeat_ms: 3000 });
    online();
    p.advance(10000);
    expect(readings(p.trace).map((r) => r.up)).toEqual([1, 4, 7, 10]);
  });
});

describe("config_change", () => {
  it("applies a valid change all at once, stores it, acknowledges with the effective config", () => {
    const { p, online } = setup();
    online();
    p.advance(500);
    p.deliver("config_change", JSON.stringify({ interval_ms: 200, sensitivity: 0.5, req: "abc" }));
    p.advance(1);
    expect(acks(p.trace)[0]).toMatchObject({ result: "applied", req: "abc", config: { interval_ms: 200, sensitivity: 0.5 } });
    expect(JSON.parse(p.files["config.json"])).toMatchObject({ interval_ms: 200, sensitivity: 0.5, node_id: "n1" });
    // At once: the next reading comes 200 ms after the change, not at the old 1000 ms mark.
    const before = readings(p.trace).length;
    p.advance(200);
    expect(readings(p.trace).length).toBe(before + 1);
  });

  it("rejects everything when one key is bad, naming each key and reason", () => {
    const { p, online } = setup();
    online();
    p.deliver("config_change", JSON.stringify({ interval_ms: 50, sensitivity: 0.5, colour: "red" }));
    p.advance(1);
    const ack = acks(p.trace)[0];
    expect(ack.result).toBe("rejected");
    expect(ack.errors).toEqual([
      { key: "interval_ms", reason: "must be a whole number from 100 to 86400000 ms" },
      { key: "colour", reason: expect.stringContaining("unknown key") },
    ]);
    expect(JSON.parse(p.files["config.json"])).not.toHaveProperty("sensitivity");
  });

  it.each([
    ["{oops", "not valid JSON"],
    ["[1]", "must be a JSON object"],
    [JSON.stringify({ pad: "x".repeat(600) }), "message is larger than 512 bytes"],
  ])("rejects a bad message (%#) and keeps running", (payload, reason) => {
    const { p, online, node } = setup();
    online();
    p.deliver("config_change", payload);
    p.advance(2000);
    expect(acks(p.trace)[0]).toMatchObject({ result: "rejected", errors: [{ key: "", reason }] });
    expect(node.currentConfig().interval_ms).toBe(1000);
    expect(readings(p.trace).length).toBe(2);
  });

  it("obeys targets: own id, a list holding it, or nobody else's", () => {
    const { p, online } = setup();
    online();
    p.deliver("config_change", JSON.stringify({ interval_ms: 300, target: "n2" }));
    p.deliver("config_change", JSON.stringify({ interval_ms: 400, target: ["n2", "n3"] }));
    p.advance(1);
    expect(acks(p.trace)).toEqual([]);
    p.deliver("config_change", JSON.stringify({ interval_ms: 500, target: ["n2", "n1"] }));
    p.advance(1);
    expect(acks(p.trace)).toHaveLength(1);
    expect(acks(p.trace)[0]).toMatchObject({ result: "applied", config: { interval_ms: 500 } });
  });

  it("keeps an applied change across a reboot", () => {
    const a = setup();
    a.online();
    a.p.deliver("config_change", JSON.stringify({ interval_ms: 2500, heartbeat_ms: 9000 }));
    a.p.advance(1);
    const b = setup({}, a.p.files);
    b.online();
    expect(b.node.currentConfig()).toMatchObject({ interval_ms: 2500, heartbeat_ms: 9000 });
  });

  it("rejects a change it cannot store and keeps the old config", () => {
    const { p, online, node } = setup();
    online();
    p.fileSystemFull = true;
    p.deliver("config_change", JSON.stringify({ interval_ms: 2500 }));
    p.advance(1);
    expect(acks(p.trace)[0]).toMatchObject({ result: "rejected" });
    expect(node.currentConfig().interval_ms).toBe(1000);
  });

  it("falls back to defaults for bad stored values and still boots", () => {
    const { p, online, node } = setup({ interval_ms: 5, sensitivity: "high" });
    online();
    expect(node.currentConfig()).toMatchObject({ interval_ms: 10000, sensitivity: 0, node_id: "n1" });
    p.advance(10000);
    expect(readings(p.trace)).toHaveLength(1);
  });
});

describe("store-and-forward", () => {
  it("buffers while offline and flushes in order with no sequence gap", () => {
    const { p, online, moving } = setup({ buffer_capacity: 20, reconnect_min_ms: 1000, reconnect_max_ms: 4000 });
    moving();
    online();
    p.advance(2500);
    p.brokerUp = false;
    p.dropConnection();
    p.advance(10000);
    expect(p.trace.filter((e) => e.ev === "publish_refused")).toEqual([]);
    p.brokerUp = true;
    p.advance(10000);
    const seqs = readings(p.trace).map((r) => r.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    expect(seqs.length).toBe(22);
  });

  it("drops the oldest when full and reports the exact count", () => {
    const { p, online, moving } = setup({ buffer_capacity: 3, reconnect_min_ms: 1000, reconnect_max_ms: 1000 });
    moving();
    online();
    p.advance(1500);
    p.brokerUp = false;
    p.dropConnection();
    p.advance(8000); // readings 2..9 taken offline: 8 readings, 3 kept, 5 dropped
    p.brokerUp = true;
    p.advance(2000);
    const seqs = readings(p.trace).map((r) => r.seq);
    expect(seqs.slice(0, 4)).toEqual([1, 7, 8, 9]);
    const dropped = publishes(p.trace, "event/n1").map((e) => e.payload);
    // Once: announced when the session is back, not again with each flushed reading.
    expect(dropped).toEqual([{ id: "n1", level: "warn", code: "readings_dropped", count: 5, total: 5 }]);
    expect(readings(p.trace).at(-1)?.dropped).toBe(5);
  });

  it("keeps the drop count exact when the session dies with a full buffer and a reading on the wire", () => {
    const { p, online, moving } = setup({ buffer_capacity: 3, reconnect_min_ms: 1000, reconnect_max_ms: 1000 });
    moving();
    online();
    p.advance(1000); // seq 1 sent and acked
    p.brokerAcks = false;
    p.advance(4000); // seq 2 on the wire (it reached the broker, the PUBACK never comes); 3, 4, 5 fill the buffer
    p.brokerAcks = true;
    p.dropConnection();
    p.advance(3000);
    const seqs = new Set(readings(p.trace).map((r) => r.seq));
    const highest = Math.max(...seqs);
    const missing = Array.from({ length: highest }, (_, i) => i + 1).filter((s) => !seqs.has(s));
    expect(missing).toEqual([3]);
    expect(readings(p.trace).at(-1)?.dropped).toBe(missing.length);
  });

  it("resends a reading whose acknowledgement never came", () => {
    const { p, online, moving } = setup();
    moving();
    online();
    p.advance(1000);
    p.brokerAcks = false;
    p.advance(1000); // seq 2 is sent but not acked; seq 3 waits behind it
    p.brokerAcks = true;
    p.dropConnection();
    p.advance(5000);
    const seqs = readings(p.trace).map((r) => r.seq);
    expect(seqs.filter((s) => s === 2).length).toBe(2);
    expect([...new Set(seqs)]).toEqual(Array.from({ length: Math.max(...seqs) }, (_, i) => i + 1));
  });
});

describe("reconnect", () => {
  it("backs off exponentially with jitter up to the cap", () => {
    const { p, online } = setup({ reconnect_min_ms: 1000, reconnect_max_ms: 8000 });
    p.randomValue = 0.999;
    online();
    p.brokerUp = false;
    p.dropConnection();
    p.advance(60000);
    const delays = p.trace.filter((e) => e.ev === "timer" && e.name === "retry").map((e) => e.ms as number);
    expect(delays.slice(0, 5)).toEqual([999, 1999, 3998, 7996, 7996]);
    p.randomValue = 0;
    p.brokerUp = true;
    p.advance(10000);
    expect(publishes(p.trace, "status/n1")).toHaveLength(2);
  });

  it("stops MQTT while WiFi is down and resumes when it returns", () => {
    const { p, online } = setup();
    online();
    p.takeWifiDown("beacon timeout");
    p.advance(30000);
    expect(p.trace.filter((e) => e.ev === "connect")).toHaveLength(1);
    p.bringWifiUp();
    p.advance(100);
    expect(p.trace.filter((e) => e.ev === "connect")).toHaveLength(2);
  });

  it("says goodbye with a retained offline status on stop", () => {
    const { p, online, node } = setup();
    online();
    node.stop();
    expect(publishes(p.trace, "status/n1").at(-1)).toMatchObject({ retain: true, payload: { state: "offline" } });
    p.advance(5000);
    expect(readings(p.trace)).toEqual([]);
  });
});

describe("sensor failures", () => {
  it("marks failed reads and warns once per failure, then on recovery", () => {
    const { p, online } = setup();
    p.sensorScript.temperature = [20, "DHT timeout", "DHT timeout", 21];
    online();
    p.advance(4000);
    const r = readings(p.trace);
    expect(r[1]).toMatchObject({ failed: ["temperature"], humidity: 50 });
    expect(r[1].temperature).toBeUndefined();
    const events = publishes(p.trace, "event/n1").map((e) => (e.payload as { code: string }).code);
    expect(events).toEqual(["sensor_read_failed", "sensor_recovered"]);
  });
});

describe("what a host sees", () => {
  it("has no id until started, then the configured one; settings() is the live config, currentConfig() a copy", () => {
    const { p, node, online } = setup({ sensors: ["temperature"] });
    expect(node.nodeId()).toBe("");
    online();
    expect(node.nodeId()).toBe("n1");
    expect(node.settings().interval_ms).toBe(1000);
    const copy = node.currentConfig();
    copy.sensors.push("adc");
    copy.interval_ms = 5;
    expect(node.currentConfig()).toMatchObject({ sensors: ["temperature"], interval_ms: 1000 });
    p.deliver("config_change", JSON.stringify({ interval_ms: 2000 }));
    p.advance(1);
    expect(node.settings().interval_ms).toBe(2000);
  });
});

describe("boot log", () => {
  it("says when config.json is no JSON, and which stored keys fall back to their defaults", () => {
    const bad = setup({}, { "config.json": "{not json" });
    bad.node.start();
    expect(bad.p.logs.slice(0, 2)).toEqual(["warn: config.json is not valid JSON; using defaults", "info: node esp8266-00c0ffee boot 1, sampling every 10000 ms"]);
    const keys = setup({ interval_ms: 5, qos: 2, reconnect_min_ms: 5000, reconnect_max_ms: 2000 });
    keys.node.start();
    expect(keys.p.logs).toEqual([
      "warn: config.json: interval_ms must be a whole number from 100 to 86400000 ms; using the default",
      "warn: config.json: qos must be a whole number from 0 to 1; using the default",
      "warn: config.json: reconnect_min_ms must not exceed reconnect_max_ms; using the default",
      "info: node n1 boot 1, sampling every 10000 ms",
    ]);
    const fine = setup();
    fine.node.start();
    expect(fine.p.logs).toEqual(["info: node n1 boot 1, sampling every 1000 ms"]);
    // No config.json at all is no bad JSON: defaults, quietly.
    const none = setup();
    delete none.p.files["config.json"];
    none.node.start();
    expect(none.p.logs).toEqual(["info: node esp8266-00c0ffee boot 1, sampling every 10000 ms"]);
  });
});
