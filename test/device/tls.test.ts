/**
 * The built firmware with `mqtt_secure` on a virtual device, against a real
 * mosquitto that speaks only TLS with a certificate from a throwaway CA:
 * init.lua pins ca.pem (tls.cert.verify) and the node connects; a ca.pem of
 * another CA makes the TLS handshake fail (the node never comes online); no
 * CA at all and the node refuses to connect rather than trust any server.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flashFirmware } from "../../device/flash";
import { Mosquitto } from "../e2e/support/mosquitto";
import { type KeyPair, TestPki, tlsListenerConfig } from "../e2e/support/pki";
import { waitFor } from "./support/brokers";
import { ConsoleDevice, DIST, removeDir, requireBuiltFirmware, tempDir } from "./support/harness";

describe("mqtt_secure on the built firmware", () => {
  let pki: TestPki;
  let ca: KeyPair;
  let otherCa: KeyPair;
  let broker: Mosquitto;
  let observer: MqttClient;
  const seen: string[] = [];
  const devices: { d: ConsoleDevice; dir: string }[] = [];

  beforeAll(async () => {
    requireBuiltFirmware();
    pki = new TestPki();
    ca = pki.ca("fleet");
    otherCa = pki.ca("other");
    const server = pki.server("broker", ca, { altNames: ["IP:127.0.0.1"] });
    broker = await Mosquitto.start({ extraConfig: tlsListenerConfig(ca, server) });
    observer = await mqtt.connectAsync(`mqtts://127.0.0.1:${broker.port}`, { ca: readFileSync(ca.cert), reconnectPeriod: 0 });
    observer.on("message", (topic) => seen.push(topic));
    await observer.subscribeAsync("#", { qos: 1 });
  });

  afterAll(async () => {
    for (const { d, dir } of devices) {
      d.device.stop();
      removeDir(dir);
    }
    await observer?.endAsync(true);
    await broker?.close();
    pki?.remove();
  });

  function boot(id: string, caPem: string | undefined): ConsoleDevice {
    const dir = tempDir(`tls-${id}`);
    flashFirmware(dir, DIST, { node_id: id, mqtt_host: "127.0.0.1", mqtt_port: broker.port, mqtt_secure: true, interval_ms: 300, wifi_ssid: "espfleet-lab" });
    if (caPem !== undefined) {
      writeFileSync(join(dir, "ca.pem"), caPem);
    }
    // A stock board's heap: the app runs from LFS (the first boot loads lfs.img and restarts).
    const d = new ConsoleDevice({ fsDir: dir, heapKb: 40, wifiJoinDelayMs: 50 });
    devices.push({ d, dir });
    d.device.start();
    return d;
  }

  it("pins ca.pem, connects over TLS, publishes, and stays pinned after a reboot", async () => {
    const d = boot("tls-right-ca", readFileSync(ca.cert, "utf8"));
    await d.expectConsole(/espfleet: pinned the broker CA from ca\.pem/);
    await waitFor("a reading over TLS", () => seen.find((t) => t === "sensor_data"), 10_000);
    expect(existsSync(join(d.device.fs.dir, "ca.pin"))).toBe(true);
    expect(existsSync(join(d.device.fs.dir, "ca.pem"))).toBe(false);
    const before = seen.length;
    const from = d.console.length;
    d.device.reset();
    await d.expectConsole(/espfleet: starting LFS/, 10_000, from);
    await waitFor("a reading after the reboot", () => seen.slice(before).find((t) => t === "sensor_data"), 10_000);
  });

  it("never comes online with the CA of another authority", async () => {
    const d = boot("tls-wrong-ca", readFileSync(otherCa.cert, "utf8"));
    await d.expectConsole(/espfleet: pinned the broker CA from ca\.pem/);
    // The node logs each failed attempt; wait for two, then check nothing got through.
    await d.expectConsole(/mqtt connect to 127\.0\.0\.1 failed[\s\S]*mqtt connect to 127\.0\.0\.1 failed/, 15_000);
    expect(seen.filter((t) => t.endsWith("/tls-wrong-ca"))).toEqual([]);
  });

  it("refuses a secure connection without a CA instead of trusting any server", async () => {
    const d = boot("tls-no-ca", undefined);
    await d.expectConsole(/mqtt_secure needs the broker CA: upload ca\.pem/, 10_000);
    expect(seen.filter((t) => t.endsWith("/tls-no-ca"))).toEqual([]);
  });
});
