/**
 * ./flash.sh end to end, as a person runs it: a child process with settings
 * in the environment, against an aedes broker this test starts (which checks
 * the node's MQTT credentials). `--virtual --monitor`: build, upload
 * (verified) to a virtual ESP8266 on a pty, restart, readings arrive, the
 * node holds the fleet key (refuses an unsigned config_change, applies a
 * signed one), Ctrl-C ends it; no secret is ever printed. And the early
 * failures: missing settings, no such port, a malformed broker URL.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Aedes } from "aedes";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeConfigChange } from "../../../ops/config/signing";
import { Observer, waitFor } from "../../device/support/brokers";
import { envWith, flashSh } from "./support/cli-run";

const WIFI_PASSWORD = "wifi-Pw-7c1e9";
const FLEET_KEY = "fleet-key-3f9a0c2d";
const MQTT_PASSWORD = "mqtt-Pw-4b8d2";
const MQTT_USERNAME = "flash-e2e";
const PREFIX = "e2e";
const NODE_ID = `flash-${process.pid}`;
let work: string;
let emptyEnvFile: string;
let server: Server;
let broker: Aedes;
let brokerUrl: string;
const refusedLogins: string[] = [];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "espfleet-flash-e2e-"));
  emptyEnvFile = join(work, "none.env");
  writeFileSync(emptyEnvFile, "# nothing: the settings come from the environment\n");
  broker = await Aedes.createBroker({
    authenticate: (client, username, password, done) => {
      const ok = client.id.startsWith("observer-") || (username === MQTT_USERNAME && password?.toString() === MQTT_PASSWORD);
      if (!ok) {
        refusedLogins.push(`${client.id} as ${username ?? "(anonymous)"}`);
      }
      done(null, ok);
    },
  });
  server = createServer(broker.handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const address = server.address();
  brokerUrl = `mqtt://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`;
});

afterAll(async () => {
  server?.close();
  await new Promise<void>((resolve) => (broker ? broker.close(() => resolve()) : resolve()));
  rmSync(work, { recursive: true, force: true });
});

describe("./flash.sh", () => {
  it("without a TTY, fails listing the missing settings and the three ways to give them", async () => {
    // A port that exists: the port is checked first (issue 12), the settings after.
    const run = flashSh(["--port", "/dev/null", "--settings-file", emptyEnvFile], envWith({}));
    expect(await run.exited).toBe(2);
    const out = run.output();
    for (const expected of ["missing settings", "--ssid", "WIFI_SSID", "--wifi-password", "WIFI_PASSWORD", "--broker", "MQTT_URL", "environment variable", "KEY=VALUE"]) {
      expect(out).toContain(expected);
    }
  }, 60_000);

  it("with the settings but no such port, fails with the no-such-port advice and no secret", async () => {
    const env = envWith({ WIFI_SSID: "home", WIFI_PASSWORD, MQTT_URL: brokerUrl, MQTT_PASSWORD });
    const run = flashSh(["--port", "/dev/does-not-exist", "--settings-file", emptyEnvFile], env);
    expect(await run.exited).toBe(1);
    const out = run.output();
    expect(out).toMatch(/no such port \/dev\/does-not-exist.*plug the board in.*--port/s);
    expect(out).not.toContain(WIFI_PASSWORD);
    expect(out).not.toContain(MQTT_PASSWORD);
  }, 60_000);

  it("a malformed broker URL is reported without the password inside it", async () => {
    const env = envWith({ WIFI_SSID: "home", WIFI_PASSWORD, MQTT_URL: `mqtt//user:${MQTT_PASSWORD}@broker.lan` });
    // A port that exists: it is checked before the settings (issue 12).
    const run = flashSh(["--port", "/dev/null", "--settings-file", emptyEnvFile], env);
    expect(await run.exited).toBe(2);
    expect(run.output()).toMatch(/"mqtt\/\/user:\*\*\*@broker\.lan" is not a URL/);
    expect(run.output()).not.toContain(MQTT_PASSWORD);
  }, 60_000);

  it("--virtual --monitor: builds, uploads, restarts; the node publishes and applies a signed config_change; Ctrl-C stops it", async () => {
    const observer = await Observer.connect(brokerUrl);
    const env = envWith({
      WIFI_SSID: "e2e-net",
      WIFI_PASSWORD,
      MQTT_URL: brokerUrl,
      MQTT_USERNAME,
      MQTT_PASSWORD,
      NODE_ID,
      ESPFLEET_FLEET_KEY: FLEET_KEY,
    });
    const buildDir = join(work, "dist");
    // 921600 baud: the virtual board's console is paced 8x faster than NodeMCU's default, to keep the test short.
    const run = flashSh(["--virtual", "--monitor", "--baud", "921600", "--build-dir", buildDir, "--settings-file", emptyEnvFile, "--interval", "500ms", "--prefix", PREFIX], env);
    try {
      const readingsOf = (): Record<string, unknown>[] =>
        observer.messages
          .filter((m) => m.topic.startsWith(`${PREFIX}/sensor_data`))
          .map((m) => JSON.parse(m.payload) as Record<string, unknown>)
          .filter((r) => r.id === NODE_ID);
      const state = await waitFor(
        `readings from ${NODE_ID}`,
        () => (readingsOf().length >= 2 ? "publishing" : run.child.exitCode !== null ? "exited" : undefined),
        75_000,
      ).catch((error: Error) => `${error.message}`);
      if (state !== "publishing") {
        throw new Error(`${state === "exited" ? `flash.sh exited (${run.child.exitCode}) before the node published` : state}; it said:\n${run.output().slice(-3000)}`);
      }
      expect(existsSync(join(buildDir, "app.lc"))).toBe(true);
      expect(readingsOf()[0]).toMatchObject({ id: NODE_ID, boot: 1 });

      // The node got the fleet key: an unsigned change is refused, one signed with the key (counter above the flash time) applies.
      const acks = (req: string) => () => observer.json(`${PREFIX}/config_ack/${NODE_ID}`).find((a) => a.req === req);
      await observer.publish(`${PREFIX}/config_change`, JSON.stringify({ interval_ms: 1200, target: NODE_ID, req: "unsigned" }));
      expect(await waitFor("the unsigned change's acknowledgement", acks("unsigned"), 20_000)).toMatchObject({ result: "rejected" });
      const signed = encodeConfigChange({ interval_ms: 1500, target: NODE_ID, req: "signed" }, { key: FLEET_KEY, counter: Math.floor(Date.now() / 1000) + 5 });
      await observer.publish(`${PREFIX}/config_change`, signed);
      const ack = await waitFor("the signed change's acknowledgement", acks("signed"), 20_000);
      expect(ack).toMatchObject({ id: NODE_ID, result: "applied", config: { interval_ms: 1500 } });
      expect(refusedLogins).toEqual([]);

      // The console was followed: the node's own log line is in the output.
      await waitFor("the node's console in the output", () => run.output().includes(`node ${NODE_ID} boot`), 10_000);
      const portLine = /virtual ESP8266 on (\S+)/.exec(run.output());
      expect(portLine).not.toBeNull();

      run.child.kill("SIGINT");
      // Ctrl-C ends every command with 130 (issue 15; it was 0 here).
      expect(await run.exited).toBe(130);
      expect(existsSync((portLine as RegExpExecArray)[1] as string)).toBe(false);
      const out = run.output();
      expect(out).toMatch(/uploaded .* verified by (sha256|size)/);
      expect(out).not.toContain(WIFI_PASSWORD);
      expect(out).not.toContain(MQTT_PASSWORD);
      expect(out).not.toContain(FLEET_KEY);
      expect(out).toContain("fleet key: ***");
    } finally {
      run.kill();
      await observer.close();
    }
  }, 100_000);
});
