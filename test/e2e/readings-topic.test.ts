/**
 * Issue 11, part 1: readings go on `sensor_data`, exactly, by default. The
 * real `espfleet run` on its embedded broker, and plain mqtt.js clients (no
 * espfleet code) as the consumers a user would run: one subscribed to
 * exactly `sensor_data` hears every node; with `--topic-data
 * 'sensor_data/{id}'` each node has its own topic; `watch` hears both layouts
 * and does not show a reading whose id is not its topic's.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import { CliRun, runCli } from "./support/cli-process";
import { freePort } from "./support/mosquitto";

const NODES = ["node-0001", "node-0002", "node-0003"];

async function waitFor(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A plain consumer: every message on `filters`, as "topic id" (the payload's id). */
async function consumer(port: number, filters: string[]): Promise<{ client: MqttClient; seen: string[] }> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: `consumer-${Math.random().toString(36).slice(2, 10)}`, protocolVersion: 4 });
  const seen: string[] = [];
  client.on("message", (topic, payload) => seen.push(`${topic} ${(JSON.parse(payload.toString()) as { id?: string }).id ?? "?"}`));
  await client.subscribeAsync(filters, { qos: 1 });
  return { client, seen };
}

const ids = (seen: string[]): string[] => [...new Set(seen.map((s) => s.split(" ")[1]))].sort();
const topics = (seen: string[]): string[] => [...new Set(seen.map((s) => s.split(" ")[0]))].sort();

describe("the readings topic (issue 11)", () => {
  const runs: CliRun[] = [];
  const clients: MqttClient[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.endAsync()));
    for (const run of runs.splice(0)) await run.interrupt();
  });

  const startFleet = async (extra: string[]): Promise<{ port: number; fleet: CliRun }> => {
    const port = await freePort();
    const stateDir = mkdtempSync(join(tmpdir(), "espfleet-topic-"));
    const fleet = CliRun.start(["run", "--nodes", "3", "--port", String(port), "--interval", "200ms", "--state-dir", stateDir, "--seed", "5", ...extra]);
    runs.push(fleet);
    await waitFor(() => /all 3\/3 nodes connected/.test(fleet.out), "the fleet to connect");
    return { port, fleet };
  };

  it("by default every node publishes on exactly sensor_data, its id in the payload", async () => {
    const { port, fleet } = await startFleet([]);
    expect(fleet.out).toContain("readings on sensor_data, the node id in each (subscribe to sensor_data)");
    const exact = await consumer(port, ["sensor_data"]);
    const perNode = await consumer(port, ["sensor_data/+"]);
    clients.push(exact.client, perNode.client);
    await waitFor(() => ids(exact.seen).length === 3, "a reading of each node on sensor_data");
    expect(ids(exact.seen)).toEqual(NODES);
    expect(topics(exact.seen)).toEqual(["sensor_data"]);
    expect(perNode.seen).toEqual([]);
  });

  it("with --topic-data 'sensor_data/{id}' each node publishes on its own topic, and watch hears it", async () => {
    const { port, fleet } = await startFleet(["--topic-data", "sensor_data/{id}"]);
    expect(fleet.out).toContain("readings on sensor_data/<id>, a topic per node (subscribe to sensor_data/+)");
    const exact = await consumer(port, ["sensor_data"]);
    const perNode = await consumer(port, ["sensor_data/+"]);
    clients.push(exact.client, perNode.client);
    await waitFor(() => ids(perNode.seen).length === 3, "a reading of each node on its own topic");
    // The topic's last level is the payload's id, for every reading.
    expect(perNode.seen.every((s) => s === `sensor_data/${s.split(" ")[1]} ${s.split(" ")[1]}`)).toBe(true);
    expect(topics(perNode.seen)).toEqual(NODES.map((id) => `sensor_data/${id}`));
    expect(exact.seen).toEqual([]);

    // watch by default listens on both layouts; a reading on node-0002's topic that claims to be node-0001's is not shown.
    const forger = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: "forger", protocolVersion: 4 });
    clients.push(forger);
    const watching = runCli(["watch", "--broker", `mqtt://127.0.0.1:${port}`, "--lines", "--duration", "3s"]);
    await new Promise((r) => setTimeout(r, 1500));
    await forger.publishAsync("sensor_data/node-0002", JSON.stringify({ id: "node-0001", seq: 999999, boot: 1, up: 1, temperature: 99.5 }), { qos: 1 });
    const watched = await watching;
    expect(watched.code).toBe(0);
    expect(watched.out).toContain("watching sensor_data, sensor_data/+, status/+, event/+");
    expect(watched.out).toMatch(/node-0003 #\d+ boot 1 {2}temperature/);
    expect(watched.out).toContain('node-0002 FORGED a reading on its topic claims to be from "node-0001"; ignored');
    expect(watched.out).not.toContain("99.5");
    expect(watched.out).not.toContain("#999999");
    expect(watched.out).toMatch(/watched 3 nodes: [1-9]\d* readings, .*, 1 forged/);
  });

  it("refuses a --topic-data the nodes would refuse, saying why", async () => {
    for (const args of [["run", "--port", "0"], ["watch"]]) {
      const bad = await runCli([...args, "--topic-data", "sensor_data/+", "--duration", "1s"]);
      expect(bad.code, bad.out).toBe(2);
      expect(bad.out).not.toContain("listening");
      expect(bad.out).toContain("--topic-data: topic_data must have no + or #, and {id} once at most, as a whole level: e.g. sensor_data/{id}");
    }
  });
});
