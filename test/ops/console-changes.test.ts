/**
 * Config changes sent from the console (ops/console/config-changes.ts):
 * checked with the node's own code, split to fit the node's 512-byte limit,
 * signed per message when a fleet key is set, and tallied from the acks.
 */
import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { configChange, defaultConfig, MAX_CONFIG_BYTES } from "../../firmware/core/config";
import type { Platform } from "../../firmware/core/platform";
import { checkSettings, ConfigChanges } from "../../ops/console/config-changes";

/** What configChange needs of a node's platform. */
const platform = {
  decodeJson: (t: string): unknown => JSON.parse(t) as unknown,
  encodeJson: (v: object) => JSON.stringify(v),
  hmacSha256Hex: (key: string, message: string) => createHmac("sha256", key).update(message).digest("hex"),
  writeFile: () => true,
  log: () => undefined,
} as unknown as Platform;

function changes(options: { key?: string; timeoutMs?: number } = {}): { changes: ConfigChanges; sent: string[]; timedOut: string[] } {
  const sent: string[] = [];
  const timedOut: string[] = [];
  let counter = 1_800_000_000;
  const c = new ConfigChanges({
    publish: async (payload) => void sent.push(payload),
    signing: () => (options.key !== undefined ? { key: options.key, counter: ++counter } : undefined),
    ackTimeoutMs: options.timeoutMs ?? 60_000,
    onTimeout: (req) => timedOut.push(req),
  });
  return { changes: c, sent, timedOut };
}

describe("checking", () => {
  it("uses the node's schema: bounds, settable keys, unknown keys; the envelope is the console's", () => {
    expect(checkSettings({ interval_ms: 2000, sensors: ["temperature", "vdd"] })).toEqual([]);
    expect(checkSettings({ interval_ms: 50 }).map((e) => e.key)).toEqual(["interval_ms"]);
    expect(checkSettings({ mqtt_host: "x" })).toEqual([{ key: "mqtt_host", reason: "cannot be changed over MQTT; set it in config.json" }]);
    expect(checkSettings({ colour: "red" })[0].reason).toMatch(/^unknown key; settable keys are interval_ms, sensitivity/);
    expect(checkSettings({ target: "node-0001", sig: "x" }).map((e) => [e.key, e.reason])).toEqual([
      ["target", "is not a setting (the console sets it)"],
      ["sig", "is not a setting (the console sets it)"],
    ]);
    expect(checkSettings([1])).toEqual([{ key: "", reason: "settings must be a JSON object of config keys" }]);
  });

  it("refuses to send what the schema refuses, and a target that is no list of ids", async () => {
    const { changes: c, sent } = changes();
    expect(await c.send({ settings: { qos: 2 }, target: "all" })).toEqual({ errors: [{ key: "qos", reason: "must be a whole number from 0 to 1" }] });
    expect(await c.send({ settings: {}, target: [] })).toEqual({ errors: [{ key: "target", reason: 'must be "all" or a non-empty list of node ids' }] });
    expect(sent).toEqual([]);
  });
});

describe("sending", () => {
  it("every node: one message without target; one node: target is its id", async () => {
    const { changes: c, sent } = changes();
    const all = await c.send({ settings: { interval_ms: 2000 }, target: "all" });
    const one = await c.send({ settings: { interval_ms: 3000 }, target: ["node-0001"] });
    expect(sent.map((s) => JSON.parse(s) as Record<string, unknown>)).toEqual([
      { interval_ms: 2000, req: "summary" in all ? all.summary.req : "" },
      { interval_ms: 3000, target: "node-0001", req: "summary" in one ? one.summary.req : "" },
    ]);
  });

  it("a long selection goes as several messages of at most 512 bytes, one req, each node named once", async () => {
    const { changes: c, sent } = changes();
    const ids = Array.from({ length: 300 }, (_, i) => `node-${String(i + 1).padStart(4, "0")}`);
    const result = await c.send({ settings: { sensitivity: 0.5, sensors: ["temperature", "humidity", "vdd"] }, target: ids });
    expect(sent.length).toBeGreaterThan(10);
    expect(sent.every((s) => Buffer.byteLength(s) <= MAX_CONFIG_BYTES)).toBe(true);
    const bodies = sent.map((s) => JSON.parse(s) as { target: string[]; req: string });
    expect(new Set(bodies.map((b) => b.req)).size).toBe(1);
    expect(bodies.flatMap((b) => b.target)).toEqual(ids);
    expect("summary" in result && result.summary.messages).toBe(sent.length);
  });

  it("signed with the fleet key, each message its own counter: a node with the key applies it", async () => {
    const key = "f".repeat(32);
    const { changes: c, sent } = changes({ key });
    const ids = Array.from({ length: 60 }, (_, i) => `node-${String(i + 1).padStart(4, "0")}`);
    await c.send({ settings: { interval_ms: 1500 }, target: ids });
    const counters = sent.map((s) => (JSON.parse(s) as { ctr: number }).ctr);
    expect(new Set(counters).size).toBe(sent.length);
    for (const s of sent) {
      const rest = s.slice(74);
      expect(s.slice(8, 72)).toBe(createHmac("sha256", key).update("{" + rest).digest("hex"));
    }
    // The node's own check (firmware/core/config.ts), on the message naming node-0042.
    const message = sent.find((s) => s.includes('"node-0042"')) as string;
    const outcome = configChange(platform, { ...defaultConfig(), fleet_key: key }, "node-0042", message);
    expect(outcome.apply?.interval_ms).toBe(1500);
  });

  it("tallies acks per change: applied, rejected by reason, waiting; ignores acks of other changes and nodes", async () => {
    const { changes: c, timedOut } = changes({ timeoutMs: 20 });
    const sent = await c.send({ settings: { interval_ms: 2000 }, target: ["a", "b", "c", "d"] });
    const req = "summary" in sent ? sent.summary.req : "";
    expect(c.ack({ id: "a", req, result: "applied", config: { interval_ms: 2000 } })).toBe(req);
    c.ack({ id: "b", req, result: "rejected", errors: [{ key: "sig", reason: "required" }] });
    c.ack({ id: "c", req, result: "rejected", errors: [{ key: "sig", reason: "required" }] });
    expect(c.ack({ id: "z", req, result: "applied" })).toBeUndefined();
    expect(c.ack({ id: "d", req: "other", result: "applied" })).toBeUndefined();
    await new Promise((r) => setTimeout(r, 50));
    expect(c.get(req)).toMatchObject({ applied: 1, rejected: 2, reasons: [{ reason: "sig required", count: 2, ids: ["b", "c"] }], waiting: 1, waitingIds: ["d"], timedOut: true });
    expect(timedOut).toEqual([req]);
  });
});
