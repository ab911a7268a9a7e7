/**
 * A fleet against a broker that wants TLS and a login, as a production
 * mosquitto or cluster would: `mqtts://` with a private CA (`--ca`) and
 * `--username`/`--password`; and the advice printed when either is missing.
 */
import { execFileSync, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BrokerTarget } from "../../simulator/broker-target";
import { Fleet } from "../../simulator/fleet";
import { Mosquitto } from "./support/mosquitto";
import { until } from "./support/observer";

const BIN = join(import.meta.dirname, "..", "..", "bin", "espfleet.js");

/** A CA and a server certificate for 127.0.0.1, made with openssl. */
function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
  ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=espfleet test CA", "-keyout", "ca.key", "-out", "ca.pem");
  ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr");
  writeFileSync(join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n");
  ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-out", "server.pem", "-extfile", "san.ext");
  // mosquitto started as root drops to its own user, which must be able to read the (test-only) key.
  chmodSync(dir, 0o755);
  chmodSync(join(dir, "server.key"), 0o644);
  return { ca: join(dir, "ca.pem"), cert: join(dir, "server.pem"), key: join(dir, "server.key") };
}

function espfleet(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.on("exit", (code) => resolve({ code, out }));
  });
}

describe("a broker with TLS and a login", () => {
  let broker: Mosquitto;
  let certs: { ca: string; cert: string; key: string };

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "espfleet-tls-"));
    certs = makeCertificates(dir);
    execFileSync("mosquitto_passwd", ["-b", "-c", join(dir, "passwd"), "fleet", "s3cret"]);
    chmodSync(join(dir, "passwd"), 0o644);
    broker = await Mosquitto.start({
      anonymous: false,
      extraConfig: [`cafile ${certs.ca}`, `certfile ${certs.cert}`, `keyfile ${certs.key}`, `password_file ${join(dir, "passwd")}`],
    });
  });
  afterAll(async () => {
    await broker?.close();
  });

  it("runs nodes over mqtts:// with the CA and the credentials", async () => {
    const ca = readFileSync(certs.ca);
    const target: BrokerTarget = { url: `mqtts://127.0.0.1:${broker.port}`, host: "127.0.0.1", port: broker.port, secure: true, username: "fleet", password: "s3cret", ca, embedded: false };
    const observer = await mqtt.connectAsync({ protocol: "mqtts", host: "127.0.0.1", port: broker.port, ca, username: "fleet", password: "s3cret", reconnectPeriod: 0 });
    const readings: string[] = [];
    observer.on("message", (_t, p) => readings.push(p.toString()));
    await observer.subscribeAsync("tls/sensor_data/+");
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
    const untrusted = await espfleet(["run", "--broker", url, "--username", "fleet", "--password", "s3cret", "--nodes", "1"]);
    expect(untrusted.out).toMatch(new RegExp(`TLS to ${url.replace(/\./g, "\\.")} failed: .*pass the broker's CA certificate with --ca <file.pem>`));
    expect(untrusted.code).toBe(1);
    const refused = await espfleet(["config", "--broker", url, "--ca", certs.ca, "--username", "fleet", "--password", "wrong", "--all", "--interval", "2s"]);
    expect(refused.out).toContain(`${url} refused the login`);
    expect(refused.out).toContain("check --username and --password");
    expect(refused.code).toBe(1);
  });
});
