/** Decoding what the collector hears (ops/collect/messages.ts): both readings layouts, statuses, events, acks, and what is refused. */
import { describe, expect, it } from "vitest";
import { decodeMessage } from "../../ops/collect/messages";
import { operatorTopics } from "../../broker/topics";

const NOW = Date.UTC(2026, 11, 5, 10, 0, 0);
const shared = operatorTopics("site1");
const perNode = operatorTopics("", "sensor_data/{id}");
const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

describe("decodeMessage", () => {
  it("a reading on the shared topic: fields to columns, the rest to extra, time from ts", () => {
    const d = decodeMessage(shared, "site1/sensor_data", json({ id: "node-0001", seq: 42, boot: 3, up: 420, ts: NOW / 1000 - 5, temperature: 21.5, humidity: 40.25, failed: ["adc"], dropped: 2, co2: 400 }), NOW);
    expect(d).toEqual({
      type: "reading",
      reading: { node: "node-0001", boot: 3, seq: 42, timeMs: NOW - 5000, up: 420, ts: NOW / 1000 - 5, values: { temperature: 21.5, humidity: 40.25 }, extra: { failed: ["adc"], dropped: 2, co2: 400 } },
    });
  });

  it("without a (plausible) ts the reading's time is when it was received", () => {
    const noTs = decodeMessage(shared, "site1/sensor_data", json({ id: "a", seq: 1, boot: 1 }), NOW);
    const future = decodeMessage(shared, "site1/sensor_data", json({ id: "a", seq: 1, boot: 1, ts: NOW / 1000 + 7 * 86_400 }), NOW);
    const unsynced = decodeMessage(shared, "site1/sensor_data", json({ id: "a", seq: 1, boot: 1, ts: 12 }), NOW);
    for (const d of [noTs, future, unsynced]) {
      expect(d.type === "reading" && d.reading.timeMs).toBe(NOW);
    }
  });

  it("a per-node topic (sensor_data/<id>) is heard by default too, and a payload naming another node there is forged", () => {
    expect(decodeMessage(shared, "site1/sensor_data/a", json({ id: "a", seq: 1, boot: 1 }), NOW).type).toBe("reading");
    expect(decodeMessage(perNode, "sensor_data/b", json({ id: "a", seq: 1, boot: 1 }), NOW)).toEqual({ type: "forged", topicId: "b", claimed: "a" });
  });

  it("readings without an id or a whole seq, or not JSON, are malformed", () => {
    const kinds = [json({ seq: 1 }), json({ id: "a", seq: 1.5 }), json({ id: "a", seq: -1 }), json({ id: "a", seq: 1, boot: "x" }), Buffer.from("{oops"), json([1])].map(
      (p) => decodeMessage(shared, "site1/sensor_data", p, NOW).type,
    );
    expect(kinds).toEqual(["malformed", "malformed", "malformed", "malformed", "malformed", "malformed"]);
  });

  it("a ts or up out of range goes to extra, not to its column (it would fail the whole batch there)", () => {
    const d = decodeMessage(shared, "site1/sensor_data", json({ id: "a", seq: 1, boot: 1, ts: 1e300, up: -5 }), NOW);
    expect(d.type === "reading" && [d.reading.ts, d.reading.up, d.reading.timeMs, d.reading.extra]).toEqual([null, null, NOW, { ts: 1e300, up: -5 }]);
  });

  it("a sensor value that is not a number goes to extra, not to its column", () => {
    const d = decodeMessage(shared, "site1/sensor_data", json({ id: "a", seq: 1, boot: 1, temperature: "hot" }), NOW);
    expect(d.type === "reading" && [d.reading.values, d.reading.extra]).toEqual([{}, { temperature: "hot" }]);
  });

  it("statuses, events and acks carry the node id in the topic", () => {
    expect(decodeMessage(shared, "site1/status/a", json({ id: "a", state: "online", boot: 2, fw: "1.0" }), NOW)).toEqual({
      type: "status",
      status: { node: "a", state: "online", fw: "1.0", timeMs: NOW },
    });
    expect(decodeMessage(shared, "site1/event/a", json({ code: "sensor_read_failed", level: "warn" }), NOW)).toMatchObject({ type: "message", message: { node: "a", kind: "event", code: "sensor_read_failed" } });
    expect(decodeMessage(shared, "site1/config_ack/a", json({ id: "a", result: "applied" }), NOW)).toMatchObject({ type: "message", message: { node: "a", kind: "ack", code: "applied" } });
  });

  it("an emptied retained status and other topics are ignored", () => {
    expect(decodeMessage(shared, "site1/status/a", Buffer.alloc(0), NOW).type).toBe("ignored");
    expect(decodeMessage(shared, "site1/config_change", json({}), NOW).type).toBe("ignored");
    expect(decodeMessage(shared, "other/sensor_data", json({ id: "a", seq: 1 }), NOW).type).toBe("ignored");
  });
});
