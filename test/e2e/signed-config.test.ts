/**
 * Signed config changes end to end: a fleet whose nodes hold a fleet key,
 * on a real mosquitto. Unsigned, wrongly signed and replayed changes are
 * rejected by every node (nothing changes); a change signed by the operator
 * command is applied by every node; the key never shows in any output.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { operatorTopics } from "../../broker/topics";
import { sendConfigChange, type ConfigOutcome } from "../../ops/config/change";
import type { Fleet } from "../../simulator/fleet";
import { nodeId } from "../../simulator/node-ids";
import { type BrokerUnderTest, startMosquitto } from "./support/brokers";
import { runCli } from "./support/cli-process";
import { startTestFleet, uniquePrefix } from "./support/test-fleet";

const KEY = "5d1e0f2a7c9b4e8d6a3f1c0b9e8d7c6b";
const NODES = 4;
const ids = Array.from({ length: NODES }, (_, i) => nodeId(i + 1));


const reasons = (o: ConfigOutcome) => o.rejected.map((a) => `${a.errors?.[0]?.key} ${a.errors?.[0]?.reason}`);

describe("signed config changes on mosquitto", () => {
  let broker: BrokerUnderTest;
  let fleet: Fleet;
  let operator: MqttClient;
  let prefix: string;
  let logs: string[];
  const dir = mkdtempSync(join(tmpdir(), "espfleet-signed-"));
  const keyFile = join(dir, "fleet.key");
  const counterFile = join(dir, "counter");
  /** Every config_change text that crossed the broker, as sent. */
  const wire: string[] = [];

  beforeAll(async () => {
    writeFileSync(keyFile, KEY + "\n");
    broker = await startMosquitto();
    prefix = uniquePrefix("signed");
    const started = await startTestFleet(broker, { nodes: NODES, prefix, initial: { interval_ms: 5000 }, fixed: { fleet_key: KEY } });
    fleet = started.fleet;
    logs = started.logs;
    operator = await mqtt.connectAsync(broker.url, { clientId: `op-signed-${process.pid}`, reconnectPeriod: 0 });
    operator.on("message", (topic, payload) => {
      if (topic === operatorTopics(prefix).config) {
        wire.push(payload.toString());
      }
    });
    await operator.subscribeAsync(operatorTopics(prefix).config, { qos: 1 });
  });
  afterAll(async () => {
    await fleet?.stop();
    await operator?.endAsync(true);
    await broker?.close();
  });

  it("every node rejects an unsigned change and keeps its config", async () => {
    const o = await sendConfigChange(operator, prefix, { interval_ms: 700, req: "unsigned" }, { ids }, 8000);
    expect(o.missing).toEqual([]);
    expect(o.applied).toEqual([]);
    expect(reasons(o)).toEqual(ids.map(() => "sig required: this node applies only config changes signed with the fleet key"));
    // Kept: the live config, and the stored one a reboot would load, still have the initial interval.
    for (const id of ids) {
      const node = fleet.node(id);
      expect(node?.core.currentConfig().interval_ms, id).toBe(5000);
      expect(JSON.parse(node?.files.read("config.json") ?? "{}"), id).toMatchObject({ interval_ms: 5000, fleet_key: KEY, config_counter: 0 });
    }
  });

  it("every node rejects a change signed with another key", async () => {
    const o = await sendConfigChange(operator, prefix, { interval_ms: 700, req: "wrong-key" }, { ids }, 8000, { key: "not-the-fleet-key", counter: 2_000_000_000 });
    expect(o.applied).toEqual([]);
    expect(o.rejected.map((a) => a.id)).toEqual(ids);
    expect(reasons(o).every((r) => r.startsWith("sig does not match"))).toBe(true);
  });

  it("the operator command signs: every node applies, then rejects the same message replayed", async () => {
    const run = await runCli(
      ["config", "--broker", broker.url, "--prefix", prefix, "--all", "--expect", String(NODES), "--interval", "900ms", "--req", "signed-1", "--fleet-key-file", keyFile, "--counter-file", counterFile],
    );
    expect(run.out).toMatch(/signed, ctr \d+/);
    expect(run.out).toMatch(new RegExp(`applied by ${NODES}`));
    expect(run.code).toBe(0);
    expect(run.out).not.toContain(KEY);
    await new Promise((r) => setTimeout(r, 200));
    const signed = wire.find((text) => text.includes('"signed-1"'));
    expect(signed).toMatch(/^\{"sig":"[0-9a-f]{64}",/);

    // An eavesdropper replays the captured message, byte for byte.
    const acks: Record<string, unknown>[] = [];
    const onAck = (topic: string, payload: Buffer) => {
      if (topic.startsWith(`${prefix}/config_ack/`)) {
        acks.push(JSON.parse(payload.toString()) as Record<string, unknown>);
      }
    };
    operator.on("message", onAck);
    await operator.subscribeAsync(`${prefix}/config_ack/+`, { qos: 1 });
    await operator.publishAsync(operatorTopics(prefix).config, signed as string, { qos: 1 });
    const deadline = Date.now() + 8000;
    while (acks.length < NODES && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    operator.removeListener("message", onAck);
    expect(acks.map((a) => a.result)).toEqual(ids.map(() => "rejected"));
    expect(acks.map((a) => (a.errors as { key: string }[])[0].key)).toEqual(ids.map(() => "ctr"));

    // Every node still runs the signed interval, not anything since.
    const query = await sendConfigChange(operator, prefix, { req: "query" }, { ids }, 8000, { key: KEY, counter: 2_100_000_000 });
    expect(query.applied.map((a) => a.config?.interval_ms)).toEqual(ids.map(() => 900));
  });

  it("without the key, the operator command says each node's reason and exits 1", async () => {
    const run = await runCli(["config", "--broker", broker.url, "--prefix", prefix, "--target", ids[0], "--interval", "2s", "--timeout", "8s"]);
    expect(run.code).toBe(1);
    expect(run.out).toContain("sig required");
  });

  it("an unreadable key file is a clear error before anything is sent", async () => {
    const run = await runCli(["config", "--broker", broker.url, "--prefix", prefix, "--all", "--fleet-key-file", join(dir, "missing.key")]);
    expect(run.code).toBe(2);
    expect(run.out).toMatch(/cannot read --fleet-key-file .*missing\.key: ENOENT; make one with: openssl rand -hex 32/);
  });

  it("no node logged the key", () => {
    // Every level is in `logs` (test-fleet.ts), info too: the boot lines and "config applied" are there.
    expect(logs.some((line) => line.includes(" info: node ") && line.includes(" boot "))).toBe(true);
    // Applied twice per node: the operator command's change, then the signed query.
    expect(logs.filter((line) => line.includes(" info: config applied: interval 900 ms"))).toHaveLength(2 * NODES);
    expect(logs.filter((line) => line.includes(" warn: config change rejected: sig required")).length).toBeGreaterThanOrEqual(NODES);
    expect(logs.join("\n")).not.toContain(KEY);
  });
});
