import { describe, expect, it } from "vitest";
import { buildChange } from "../../ops/config/command";
import { topicMatches, operatorTopics, readingTopic } from "../../broker/topics";

describe("espfleet config: the config_change it sends (ops/config/command.ts)", () => {
  it("puts human options on the wire in the contract's units", () => {
    const body = buildChange({ prefix: "", interval: 2000, sensitivity: 0.5, heartbeat: 300_000, target: ["node-0003"], timeout: 10_000, req: "r1" });
    expect(body).toEqual({ req: "r1", interval_ms: 2000, sensitivity: 0.5, heartbeat_ms: 300_000, target: "node-0003" });
    const many = buildChange({ prefix: "", buffer: 20, qos: 0, flushGap: 10, sensors: ["adc"], target: ["node-0001", "node-0002", "node-0001"], timeout: 1 });
    expect(many).toMatchObject({ buffer_capacity: 20, qos: 0, flush_gap_ms: 10, sensors: ["adc"], target: ["node-0001", "node-0002"] });
    expect(many.req).toMatch(/^cfg-/);
    expect(many.req.length).toBeLessThanOrEqual(32);
  });

  it("needs exactly one of --target and --all, and --expect only with --all", () => {
    expect(() => buildChange({ prefix: "", interval: 1000, timeout: 1 })).toThrow(/--target .* or --all/);
    expect(() => buildChange({ prefix: "", interval: 1000, all: true, target: ["x"], timeout: 1 })).toThrow(/not both/);
    expect(() => buildChange({ prefix: "", interval: 1000, target: ["x"], expect: 3, timeout: 1 })).toThrow(/--expect is for --all/);
    expect(buildChange({ prefix: "", interval: 1000, all: true, timeout: 1 }).target).toBeUndefined();
    expect(() => buildChange({ prefix: "", all: true, req: "x".repeat(33), timeout: 1 })).toThrow(/at most 32/);
  });

  it("uses the fleet's topics, with the prefix", () => {
    expect(operatorTopics("site1")).toEqual({
      config: "site1/config_change",
      acks: "site1/config_ack/+",
      data: "site1/sensor_data",
      readings: ["site1/sensor_data", "site1/sensor_data/+"],
      status: "site1/status/+",
      events: "site1/event/+",
    });
    expect(topicMatches("site1/config_ack/+", "site1/config_ack/node-0001")).toBe(true);
    expect(topicMatches("site1/config_ack/+", "config_ack/node-0001")).toBe(false);
    expect(topicMatches("site1/config_ack/+", "site1/config_ack/node-0001/x")).toBe(false);
    expect(topicMatches("site1/config_ack/+", "site1/config_ack")).toBe(false);
    expect(topicMatches("+/status/+", "a/status/b")).toBe(true);
    expect(topicMatches("site1/sensor_data/+", "site1/sensor_datax/n")).toBe(false);
    expect(topicMatches("a/b", "a/b")).toBe(true);
    expect(topicMatches("a/b", "a/bc")).toBe(false);
  });

  it("hears readings on the shared topic and on per-node topics, and says which id a topic carries (issue 11)", () => {
    const shared = operatorTopics("");
    expect(readingTopic(shared, "sensor_data")).toEqual({});
    expect(readingTopic(shared, "sensor_data/node-0001")).toEqual({ id: "node-0001" });
    expect(readingTopic(shared, "sensor_data/a/b")).toBeUndefined();
    expect(readingTopic(shared, "status/node-0001")).toBeUndefined();
    expect(readingTopic(shared, "sensor_datax")).toBeUndefined();

    const perNode = operatorTopics("espfleet", "sensor_data/{id}");
    expect(perNode.data).toBe("espfleet/sensor_data/+");
    expect(perNode.readings).toEqual(["espfleet/sensor_data/+"]);
    expect(readingTopic(perNode, "espfleet/sensor_data/node-0002")).toEqual({ id: "node-0002" });
    expect(readingTopic(perNode, "espfleet/sensor_data")).toBeUndefined();

    const inner = operatorTopics("", "site/{id}/r");
    expect(inner.readings).toEqual(["site/+/r"]);
    expect(readingTopic(inner, "site/n7/r")).toEqual({ id: "n7" });
  });
});
