/**
 * ./flash.sh --virtual against a mosquitto that speaks only TLS, with a
 * certificate from a throwaway CA: --ca uploads ca.pem, init.lua pins it,
 * and the node publishes over mqtts://.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../../device/support/brokers";
import { removeDir, tempDir } from "../../device/support/harness";
import { Mosquitto } from "../../e2e/support/mosquitto";
import { type KeyPair, TestPki, tlsListenerConfig } from "../../e2e/support/pki";
import { envWith, flashSh } from "./support/cli-run";

const NODE_ID = `flash-tls-${process.pid}`;

let pki: TestPki;
let ca: KeyPair;
let broker: Mosquitto;
let observer: MqttClient;
let work: string;
const readings: string[] = [];

beforeAll(async () => {
  work = tempDir("flash-tls");
  pki = new TestPki();
  ca = pki.ca("fleet");
  const server = pki.server("broker", ca, { altNames: ["IP:127.0.0.1"] });
  broker = await Mosquitto.start({ extraConfig: tlsListenerConfig(ca, server) });
  observer = await mqtt.connectAsync(`mqtts://127.0.0.1:${broker.port}`, { ca: readFileSync(ca.cert), reconnectPeriod: 0 });
  observer.on("message", (topic, payload) => {
    if (topic.startsWith("sensor_data")) {
      readings.push(payload.toString("utf8"));
    }
  });
  await observer.subscribeAsync(["sensor_data", "sensor_data/+"], { qos: 1 });
});

afterAll(async () => {
  await observer?.endAsync(true);
  await broker?.close();
  pki?.remove();
  removeDir(work);
});

describe("./flash.sh with an mqtts:// broker", () => {
  it("--ca uploads the broker CA, the node pins it and publishes over TLS", async () => {
    const envFile = join(work, "local.env");
    // This time the settings come from the env file.
    writeFileSync(envFile, `MQTT_URL=mqtts://127.0.0.1:${broker.port}\nMQTT_CA=${ca.cert}\nNODE_ID=${NODE_ID}\nSAMPLE_INTERVAL=500ms\n`);
    const run = flashSh(["--virtual", "--monitor", "--baud", "921600", "--build-dir", join(work, "dist"), "--settings-file", envFile], envWith({}));
    try {
      const state = await waitFor(
        "a reading over TLS",
        () => (readings.some((r) => r.includes(`"id":"${NODE_ID}"`)) ? "publishing" : run.child.exitCode !== null ? "exited" : undefined),
        75_000,
      ).catch((error: Error) => error.message);
      if (state !== "publishing") {
        throw new Error(`${state}; flash.sh said:\n${run.output().slice(-3000)}`);
      }
      expect(run.output()).toContain("ca.pem");
      run.child.kill("SIGINT");
      // Ctrl-C ends every command with 130 (issue 15; it was 0 here).
      expect(await run.exited).toBe(130);
    } finally {
      run.kill();
    }
  }, 100_000);
});
