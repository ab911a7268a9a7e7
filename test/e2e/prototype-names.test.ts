/**
 * Issue 15, defect 1: names from the wire must never meet an object's
 * prototype. `{"sensors":["constructor"]}` used to be acked `applied` by the
 * TypeScript engine and then kill the whole simulator (every node and the
 * embedded broker) at the next sample, and again at every restart. Here the
 * real `espfleet run` on its embedded broker gets each such message, and the
 * fleet must reject it and keep publishing.
 */
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import { CliRun, runCli } from "./support/cli-process";
import { freePort } from "./support/mosquitto";

const PROTOTYPE_NAMES = ["constructor", "toString", "__proto__", "hasOwnProperty", "valueOf", "isPrototypeOf", "propertyIsEnumerable", "toLocaleString", "__defineGetter__"];

async function waitFor(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("prototype names from the wire (issue 15, defect 1)", () => {
  const runs: CliRun[] = [];
  afterEach(async () => {
    for (const run of runs.splice(0)) await run.interrupt();
  });

  it("every node rejects them, and the fleet and its broker keep running", async () => {
    const port = await freePort();
    const stateDir = mkdtempSync(join(tmpdir(), "espfleet-proto-"));
    const fleet = CliRun.start(["run", "--nodes", "2", "--port", String(port), "--interval", "200ms", "--state-dir", stateDir, "--seed", "3"]);
    runs.push(fleet);
    await waitFor(() => /all 2\/2 nodes connected/.test(fleet.out), "the fleet to connect");

    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: "proto-test", protocolVersion: 4 });
    const acks: Record<string, unknown>[] = [];
    let readings = 0;
    client.on("message", (topic, payload) => {
      if (topic.startsWith("sensor_data")) readings++;
      else acks.push(JSON.parse(payload.toString()) as Record<string, unknown>);
    });
    await client.subscribeAsync(["config_ack/+", "sensor_data/+", "sensor_data"], { qos: 1 });
    for (const name of PROTOTYPE_NAMES) {
      await client.publishAsync("config_change", JSON.stringify({ sensors: [name], req: name }), { qos: 1 });
    }
    await waitFor(() => acks.length >= 2 * PROTOTYPE_NAMES.length, "an ack for every message from both nodes");
    for (const ack of acks) {
      expect(ack.result, JSON.stringify(ack)).toBe("rejected");
      expect(JSON.stringify(ack.errors)).toContain("sensors");
    }
    // Samples after the messages: the fleet is alive and still reads its sensors.
    const before = readings;
    await waitFor(() => readings >= before + 6, "readings after the messages");
    await client.endAsync();

    // Ctrl-C: 130 (issue 15); a crash would have ended it long before.
    expect(await fleet.interrupt()).toBe(130);
    expect(fleet.out).not.toMatch(/TypeError|walkTauMin/);
    // Nothing of it was stored: a restart cannot crash on it.
    for (const node of ["node-0001", "node-0002"]) {
      const file = join(stateDir, node, "config.json");
      const stored = existsSync(file) ? readFileSync(file, "utf8") : "";
      for (const name of PROTOTYPE_NAMES) expect(stored).not.toContain(`"${name}"`);
    }
  }, 60_000);

  it("the CLI refuses them before anything is sent or started", async () => {
    const config = await runCli(["config", "--sensors", "toString", "--all", "--broker", "mqtt://127.0.0.1:1"]);
    expect(config.out).toMatch(/sensors must be a list of 1 to 4 of: temperature, humidity, adc, vdd/);
    expect(config.code).toBe(2);
    const run = await runCli(["run", "--sensors", "constructor", "--port", "0", "--duration", "1s"]);
    expect(run.out).toMatch(/sensors must be a list of 1 to 4 of: temperature, humidity, adc, vdd/);
    expect(run.code).toBe(2);
  }, 30_000);
});
