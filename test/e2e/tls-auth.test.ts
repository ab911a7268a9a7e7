/**
 * A fleet against a broker that wants TLS and a login, as a production
 * mosquitto or cluster would: `mqtts://` with a private CA (`--ca`) and
 * `--username`/`--password`; and the advice printed when either is missing.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BrokerTarget } from "../../broker/target";
import { Fleet } from "../../simulator/fleet";
import { runCli } from "./support/cli-process";
import { Mosquitto } from "./support/mosquitto";
import { TestPki, tlsListenerConfig } from "./support/pki";
import { until } from "./support/observer";

describe("a broker with TLS and a login", () => {
  let broker: Mosquitto;
  let pki: TestPki;
  let certs: { ca: string };

  beforeAll(async () => {
    pki = new TestPki();
    const ca = pki.ca("tls-auth");
    certs = { ca: ca.cert };
    const passwd = join(pki.dir, "passwd");
    execFileSync("mosquitto_passwd", ["-b", "-c", passwd, "fleet", "s3cret"]);
    chmodSync(passwd, 0o644);
    broker = await Mosquitto.start({
      anonymous: false,
      extraConfig: [...tlsListenerConfig(ca, pki.server("broker", ca, { altNames: ["IP:127.0.0.1"] })), `password_file ${passwd}`],
    });
  });
  afterAll(async () => {
    await broker?.close();
    pki?.remove();
  });

  it("runs nodes over mqtts:// with the CA and the credentials", async () => {
    const ca = readFileSync(certs.ca);
    const target: BrokerTarget = { url: `mqtts://127.0.0.1:${broker.port}`, host: "127.0.0.1", port: broker.port, secure: true, username: "fleet", password: "s3cret", ca, embedded: false };
    const observer = await mqtt.connectAsync({ protocol: "mqtts", host: "127.0.0.1", port: broker.port, ca, username: "fleet", password: "s3cret", reconnectPeriod: 0 });
    const readings: string[] = [];
    observer.on("message", (_t, p) => readings.push(p.toString()));
    await observer.subscribeAsync("tls/sensor_data");
    const fleet = new Fleet({
      broker: target,
      first: 1,
      count: 2,
      stateDir: mkdtempSync(join(tmpdir(), "espfleet-state-")),
      seed: 1,
      initial: { interval_ms: 200 },
      fixed: { topic_prefix: "tls" },
      connectRate: 100,
    });
    try {
      await fleet.start();
      await until(() => fleet.counters.connected === 2, 10_000, "2 nodes connected over TLS");
      await until(() => readings.some((r) => r.includes('"node-0002"')), 5000, "a reading of node-0002");
      expect(fleet.counters.connectFailures).toBe(0);
    } finally {
      await fleet.stop();
      await observer.endAsync();
    }
  });

  it("says to pass --ca when the certificate is not trusted, and to check the login when refused", async () => {
    const url = `mqtts://127.0.0.1:${broker.port}`;
    const untrusted = await runCli(["run", "--broker", url, "--username", "fleet", "--password", "s3cret", "--nodes", "1"]);
    expect(untrusted.out).toMatch(new RegExp(`TLS to ${url.replace(/\./g, "\\.")} failed: .*pass the broker's CA certificate with --ca <file.pem>`));
    expect(untrusted.code).toBe(1);
    const refused = await runCli(["config", "--broker", url, "--ca", certs.ca, "--username", "fleet", "--password", "wrong", "--all", "--interval", "2s"]);
    expect(refused.out).toContain(`${url} refused the login`);
    expect(refused.out).toContain("check --username and --password");
    expect(refused.code).toBe(1);
  });
});
