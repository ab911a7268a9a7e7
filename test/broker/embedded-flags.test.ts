/** `espfleet run`'s options for the embedded broker (broker/embedded-flags.ts) and the drop count's format (broker/dropped.ts). Pure. */
import { describe, expect, it } from "vitest";
import { DEFAULT_BROKER_STORE, DEFAULT_QUEUE_LIMIT } from "../../broker/broker-store";
import { collectorTopics } from "../../broker/collector-session";
import { decodeDropCount, droppedTopic, encodeDropCount } from "../../broker/dropped";
import { embeddedBrokerOptions, refuseWithExternalBroker } from "../../broker/embedded-flags";
import { decodeMessage } from "../../ops/collect/messages";
import { operatorTopics } from "../../broker/topics";

const fleet = { prefix: "site1", topicData: "sensor_data", port: 1883 };

describe("embeddedBrokerOptions", () => {
  it("keeps the default port's sessions in .espfleet/broker (memory if another run holds it), another port's in memory", () => {
    expect(embeddedBrokerOptions({}, fleet)).toEqual({ store: { kind: "folder", folder: DEFAULT_BROKER_STORE, ifLocked: "memory" }, queueLimit: DEFAULT_QUEUE_LIMIT, sessions: [] });
    expect(embeddedBrokerOptions({}, { ...fleet, port: 1884 }).store).toEqual({ kind: "memory" });
    expect(embeddedBrokerOptions({ brokerStore: "memory" }, fleet).store).toEqual({ kind: "memory" });
    expect(embeddedBrokerOptions({ brokerStore: "/srv/broker", brokerQueue: 5 }, { ...fleet, port: 0 })).toMatchObject({ store: { kind: "folder", folder: "/srv/broker", ifLocked: "fail" }, queueLimit: 5 });
  });

  it("makes the collector's session with exactly the topics the collector subscribes to", () => {
    const { sessions } = embeddedBrokerOptions({ collectorSession: "c1" }, fleet);
    expect(sessions).toEqual([{ clientId: "c1", topics: collectorTopics("site1", "sensor_data", "c1") }]);
    expect(sessions?.[0].topics).toEqual(["site1/sensor_data", "site1/sensor_data/+", "site1/status/+", "site1/event/+", "site1/config_ack/+", "$SYS/espfleet/dropped/c1"]);
  });

  it("refuses them with --broker, naming them", () => {
    expect(() => refuseWithExternalBroker({})).not.toThrow();
    expect(() => refuseWithExternalBroker({ brokerQueue: 5 })).toThrow(/^--broker-queue sets up the embedded broker, which does not run with --broker; leave it out/);
    expect(() => refuseWithExternalBroker({ brokerStore: "x", collectorSession: "c" })).toThrow(/^--broker-store, --collector-session set up the embedded broker/);
  });
});

describe("the drop count on $SYS/espfleet/dropped/<client id>", () => {
  const count = { client: "espfleet-collect", dropped: 70, queueLimit: 50, lastDropMs: Date.UTC(2026, 11, 5, 10) };

  it("reads back what the broker writes; anything else there is not a count", () => {
    const payload = encodeDropCount(count);
    expect(JSON.parse(payload.toString())).toEqual({ client: "espfleet-collect", dropped: 70, queue_limit: 50, last_drop: "2026-12-05T10:00:00.000Z" });
    expect(decodeDropCount(droppedTopic("espfleet-collect"), payload)).toEqual(count);
    expect(decodeDropCount("site1/status/x", payload)).toBeUndefined();
    for (const bad of ["{", '{"dropped":-1,"queue_limit":5,"last_drop":"2026-12-05T10:00:00Z"}', '{"dropped":1,"queue_limit":5}', "[]"]) {
      expect(decodeDropCount(droppedTopic("c"), Buffer.from(bad))).toBeUndefined();
    }
  });

  it("reaches the collector as a drop count; another $SYS message is malformed, not a reading", () => {
    const topics = operatorTopics("site1");
    expect(decodeMessage(topics, droppedTopic("espfleet-collect"), encodeDropCount(count), 0)).toEqual({ type: "drops", count });
    expect(decodeMessage(topics, "$SYS/broker/uptime", Buffer.from("5"), 0).type).toBe("malformed");
  });
});
