/**
 * Security on the broker side, against a real mosquitto running the
 * repository's docs/mosquitto/mosquitto.conf and acl (paths and ports
 * rewritten only), passwords and the acl made by docs/mosquitto/make-passwd.sh,
 * and a throwaway CA: the broker starts without a warning; anonymous clients
 * refused; a node confined to its own topics (it cannot change the fleet's
 * config nor publish in another node's name), which is why nodes behind this
 * ACL use topic_data `sensor_data/{id}`; a node's login cannot take another
 * node's client id and so cannot disconnect it (use_username_as_clientid on
 * the TLS port); operator tools side by side on the loopback port;
 * run-local.sh, the documented run as your own user; TLS with clear errors;
 * client certificates; and no password or key material in anything the
 * commands print.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BrokerTarget, connectClient, parseBrokerTarget } from "../../broker/target";
import { brokerFromFlags } from "../../broker/flags";
import { Fleet } from "../../simulator/fleet";
import { applyFleetLogins } from "../../simulator/fleet-logins";
import { DOCS_DIR, DocsMosquitto } from "./support/docs-mosquitto";
import { canConnect, freePort } from "./support/mosquitto";
import { until } from "./support/observer";
import { type KeyPair, TestPki } from "./support/pki";
import { CliRun, runCli } from "./support/cli-process";

const PREFIX = "espfleet";
/** docs/mosquitto: readings on a topic per node, which the ACL confines to that node. */
const TOPIC_DATA = "sensor_data/{id}";

interface Ack {
  id: string;
  req?: string;
  result: string;
  config?: { interval_ms?: number };
}

/** user -> password from make-passwd.sh's credentials file (read here without espfleet's parser). */
function readCredentials(file: string): Record<string, string> {
  const lines = readFileSync(file, "utf8").trim().split("\n");
  return Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 1)]));
}

/** Connect a raw client (no espfleet code in between) to a listener. */
function raw(url: string, options: mqtt.IClientOptions): Promise<MqttClient> {
  return mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 10_000, protocolVersion: 4, ...options });
}

/** The message of the error a promise rejects with ("" when it resolves). */
async function failureOf(promise: Promise<unknown>): Promise<string> {
  try {
    const value = await promise;
    if (value !== null && typeof value === "object" && "endAsync" in value) {
      await (value as MqttClient).endAsync();
    }
    return "";
  } catch (error) {
    return (error as Error).message;
  }
}

describe("a broker secured with docs/mosquitto (ACL, per-node passwords, TLS)", () => {
  let pki: TestPki;
  let ca: KeyPair;
  let otherCa: KeyPair;
  let serverCert: KeyPair;
  let clientCert: KeyPair;
  let strangerCert: KeyPair;
  let passwords: Record<string, string>;
  let credentials: string;
  let broker: DocsMosquitto;
  let expiredBroker: DocsMosquitto;
  let certBroker: DocsMosquitto;
  let makePasswdOutput: string;
  const work = mkdtempSync(join(tmpdir(), "espfleet-security-"));

  beforeAll(async () => {
    pki = new TestPki();
    ca = pki.ca("ca");
    otherCa = pki.ca("other");
    const server = pki.server("server", ca, { altNames: ["IP:127.0.0.1"] });
    serverCert = server;
    const expired = pki.server("expired", ca, { altNames: ["IP:127.0.0.1"], expired: true });
    clientCert = pki.client("client", ca);
    strangerCert = pki.client("stranger", otherCa);
    makePasswdOutput = execFileSync(join(DOCS_DIR, "make-passwd.sh"), ["--nodes", "3", "--operator", "operator", "--out", work], { encoding: "utf8" });
    credentials = join(work, "credentials");
    passwords = readCredentials(credentials);
    const passwd = join(work, "passwd");
    const acl = join(work, "acl");
    const started = await Promise.allSettled([
      DocsMosquitto.start({ ca: ca.cert, cert: server.cert, key: server.key, passwd, acl }),
      DocsMosquitto.start({ ca: ca.cert, cert: expired.cert, key: expired.key, passwd, acl }),
      DocsMosquitto.start({ ca: ca.cert, cert: server.cert, key: server.key, passwd, acl, requireCertificate: true }),
    ]);
    const brokers = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
    const failed = started.find((s) => s.status === "rejected");
    if (failed !== undefined) {
      await Promise.all(brokers.map((b) => b.close()));
      throw failed.reason;
    }
    [broker, expiredBroker, certBroker] = brokers;
  });

  afterAll(async () => {
    await Promise.all([broker?.close(), expiredBroker?.close(), certBroker?.close()]);
    pki?.remove();
    rmSync(work, { recursive: true, force: true });
  });

  const plainUrl = (): string => `mqtt://127.0.0.1:${broker.plainPort}`;
  const tlsUrl = (b: DocsMosquitto = broker, host = "127.0.0.1"): string => `mqtts://${host}:${b.tlsPort}`;
  const login = (user: string): mqtt.IClientOptions => ({ username: user, password: passwords[user] });

  it("make-passwd.sh writes a private plain credentials file and a hashed passwd, printing no password", () => {
    expect(Object.keys(passwords).sort()).toEqual(["node-0001", "node-0002", "node-0003", "operator"]);
    expect(statSync(credentials).mode & 0o777).toBe(0o600);
    expect(statSync(join(work, "passwd")).mode & 0o077).toBe(0o040);
    const passwd = readFileSync(join(work, "passwd"), "utf8");
    for (const [user, password] of Object.entries(passwords)) {
      expect(password.length).toBeGreaterThanOrEqual(20);
      expect(passwd).toMatch(new RegExp(`^${user}:\\$7\\$`, "m"));
      expect(passwd).not.toContain(password);
      expect(makePasswdOutput).not.toContain(password);
    }
  });

  it("make-passwd.sh adds a node and rotates a password, keeping every other user", () => {
    const dir = join(work, "rotate");
    mkdirSync(dir);
    copyFileSync(credentials, join(dir, "credentials"));
    copyFileSync(join(work, "passwd"), join(dir, "passwd"));
    execFileSync(join(DOCS_DIR, "make-passwd.sh"), ["--ids", "node-0002,node-0004", "--out", dir]);
    const after = readCredentials(join(dir, "credentials"));
    expect(Object.keys(after).sort()).toEqual(["node-0001", "node-0002", "node-0003", "node-0004", "operator"]);
    expect(after["node-0002"]).not.toBe(passwords["node-0002"]);
    expect([after["node-0001"], after["node-0003"], after.operator]).toEqual([passwords["node-0001"], passwords["node-0003"], passwords.operator]);
    const hashed = readFileSync(join(dir, "passwd"), "utf8").trim().split("\n");
    expect(hashed.map((line) => line.slice(0, line.indexOf(":"))).sort()).toEqual(Object.keys(after).sort());
  });

  it("make-passwd.sh creates its folder private (700) and an acl with a section per node, none for the operator", () => {
    const dir = join(work, "fresh", "fleet-secrets");
    execFileSync(join(DOCS_DIR, "make-passwd.sh"), ["--nodes", "2", "--operator", "operator", "--out", dir]);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(work, "fresh")).mode & 0o077).toBe(0);
    const acl = readFileSync(join(dir, "acl"), "utf8");
    expect(acl.startsWith(readFileSync(join(DOCS_DIR, "acl"), "utf8"))).toBe(true);
    const sections = acl.split("\n").filter((line) => /^(user|topic|pattern) /.test(line));
    expect(sections.filter((line) => line.startsWith("user "))).toEqual(["user operator", "user node-0001", "user node-0002"]);
    expect(acl).toContain("\nuser node-0001\ntopic read espfleet/config_change\n");
    // Every pattern names the client (%u): mosquitto warns at each start about one that does not.
    expect(sections.filter((line) => line.startsWith("pattern ") && !line.includes("%u"))).toEqual([]);
    // Adding a node writes the acl again with it.
    execFileSync(join(DOCS_DIR, "make-passwd.sh"), ["--ids", "node-0003", "--out", dir]);
    expect(readFileSync(join(dir, "acl"), "utf8")).toContain("\nuser node-0003\ntopic read espfleet/config_change\n");
  });

  it("starts the shipped conf and acl without a warning or an error", async () => {
    await until(() => /mosquitto version [\d.]+ running/.test(broker.messages()), 10_000, "the broker's start in its log");
    // What it said while starting (later lines are clients, such as the start-up probe's bare TCP connect to the TLS port).
    const said = broker.messages();
    const starting = said.slice(0, said.search(/mosquitto version [\d.]+ running/));
    expect(starting).toMatch(/Config loaded from/);
    expect(starting).not.toMatch(/Warning|Error/);
  });

  it("refuses anonymous clients and wrong passwords, on both listeners", async () => {
    expect(await failureOf(raw(plainUrl(), { clientId: "anon-plain" }))).toMatch(/Not authorized/i);
    expect(await failureOf(raw(tlsUrl(), { clientId: "anon-tls", ca: readFileSync(ca.cert) }))).toMatch(/Not authorized/i);
    expect(await failureOf(raw(plainUrl(), { clientId: "wrong-pw", username: "node-0001", password: passwords["node-0002"] }))).toMatch(/Not authorized/i);
    const advice = await failureOf(connectClient(brokerFromFlags({ broker: plainUrl() }, {}), "anon-espfleet"));
    expect(advice).toContain("does not accept anonymous clients: pass --username and --password");
    const client = await raw(plainUrl(), { clientId: "operator-ok", ...login("operator") });
    await client.endAsync();
  });

  it("lets only the operator change the fleet's config: a node's credentials reach no node", { timeout: 45_000 }, async () => {
    const target = parseBrokerTarget({ broker: plainUrl() });
    applyFleetLogins(target, { user: "node-{id}", credentials }, { first: 1, count: 3 }, {});
    const fleet = new Fleet({
      broker: target,
      first: 1,
      count: 3,
      stateDir: join(work, "acl-fleet"),
      fresh: true,
      seed: 7,
      initial: { interval_ms: 500 },
      fixed: { topic_prefix: PREFIX, topic_data: TOPIC_DATA },
      connectRate: 100,
    });
    const operator = await raw(plainUrl(), { clientId: "acl-operator", ...login("operator") });
    const acks: Ack[] = [];
    const readingTopics = new Set<string>();
    operator.on("message", (topic, payload) => {
      if (topic.startsWith(`${PREFIX}/config_ack/`)) {
        acks.push(JSON.parse(payload.toString()) as Ack);
      } else if (topic.startsWith(`${PREFIX}/sensor_data`)) {
        readingTopics.add(`${topic} ${(JSON.parse(payload.toString()) as { id: string }).id}`);
      }
    });
    await operator.subscribeAsync([`${PREFIX}/config_ack/+`, `${PREFIX}/sensor_data`, `${PREFIX}/sensor_data/+`], { qos: 1 });
    const intruder = await raw(plainUrl(), { clientId: "acl-intruder", ...login("node-0001") });
    const acksFor = (req: string): Ack[] => acks.filter((a) => a.req === req);
    try {
      await fleet.start();
      await until(() => fleet.counters.connected === 3, 20_000, "3 nodes connected with their own credentials");
      // Each node's readings pass the ACL on its own topic, its id in the payload too.
      await until(() => readingTopics.size === 3, 15_000, "a reading of each node on its own topic");
      expect([...readingTopics].sort()).toEqual(["node-0001", "node-0002", "node-0003"].map((id) => `${PREFIX}/sensor_data/${id} ${id}`));

      // node-0001's login publishes a change for every node; mosquitto acks and drops it.
      await intruder.publishAsync(`${PREFIX}/config_change`, JSON.stringify({ interval_ms: 2000, req: "intruder" }), { qos: 1 });
      // Published after the intruder's was handled: had that one been delivered, each node would have seen it first.
      await operator.publishAsync(`${PREFIX}/config_change`, JSON.stringify({ req: "query-1" }), { qos: 1 });
      await until(() => acksFor("query-1").length === 3, 15_000, "3 answers to the operator's query");
      expect(acksFor("intruder")).toEqual([]);
      expect(acksFor("query-1").map((a) => a.config?.interval_ms)).toEqual([500, 500, 500]);

      await operator.publishAsync(`${PREFIX}/config_change`, JSON.stringify({ interval_ms: 1500, req: "operator-1" }), { qos: 1 });
      await until(() => acksFor("operator-1").length === 3, 15_000, "3 acks of the operator's change");
      expect(acksFor("operator-1").map((a) => a.result)).toEqual(["applied", "applied", "applied"]);
      expect(fleet.nodes.map((n) => n.core.settings().interval_ms)).toEqual([1500, 1500, 1500]);
      expect(acksFor("intruder")).toEqual([]);
    } finally {
      await fleet.stop();
      await Promise.all([operator.endAsync(), intruder.endAsync()]);
    }
  });

  it("keeps a node to its own topics: it cannot publish as another node nor read the fleet's readings", async () => {
    const operator = await raw(plainUrl(), { clientId: "own-operator", ...login("operator") });
    const seenByOperator: string[] = [];
    operator.on("message", (topic, payload) => seenByOperator.push(`${topic} ${payload.toString()}`));
    await operator.subscribeAsync([`${PREFIX}/sensor_data`, `${PREFIX}/sensor_data/+`, `${PREFIX}/status/+`], { qos: 1 });
    const snoop = await raw(plainUrl(), { clientId: "own-snoop", ...login("node-0003") });
    const seenBySnoop: string[] = [];
    snoop.on("message", (topic) => seenBySnoop.push(topic));
    await snoop.subscribeAsync(`${PREFIX}/sensor_data/+`, { qos: 1 });
    const node2 = await raw(plainUrl(), { clientId: "own-node-0002", ...login("node-0002") });
    try {
      const forged = JSON.stringify({ id: "node-0003", seq: 999_999, boot: 1, up: 1, temperature: 99, marker: "forged" });
      await node2.publishAsync(`${PREFIX}/sensor_data/node-0003`, forged, { qos: 1 });
      // The shared default topic is not writable under this ACL: there any node could speak for any other.
      await node2.publishAsync(`${PREFIX}/sensor_data`, forged, { qos: 1 });
      await node2.publishAsync(`${PREFIX}/status/node-0003`, JSON.stringify({ id: "node-0003", state: "offline", marker: "forged" }), { qos: 1, retain: true });
      await node2.publishAsync(`${PREFIX}/sensor_data/node-0002`, JSON.stringify({ id: "node-0002", seq: 1, boot: 1, up: 1, marker: "own" }), { qos: 1 });
      await until(() => seenByOperator.some((m) => m.includes('"own"')), 10_000, "node-0002's reading on its own topic");
      expect(seenByOperator.filter((m) => m.includes("forged"))).toEqual([]);
      expect(seenBySnoop).toEqual([]);
    } finally {
      await Promise.all([operator.endAsync(), snoop.endAsync(), node2.endAsync()]);
    }
  });

  it("a node speaks only for itself: node-0001's login with client id node-0002 does not disconnect node-0002 (no offline will)", { timeout: 30_000 }, async () => {
    const tls = { ca: readFileSync(ca.cert) };
    const statusTopic = `${PREFIX}/status/node-0002`;
    const operator = await raw(plainUrl(), { clientId: "takeover-operator", ...login("operator") });
    const statuses: string[] = [];
    // Statuses published from now on (retained ones of earlier tests' nodes aside).
    operator.on("message", (topic, payload, packet) => packet.retain || statuses.push(`${topic} ${payload.toString()}`));
    await operator.subscribeAsync(`${PREFIX}/status/+`, { qos: 1 });
    // The real node-0002 as NodeMCU connects: its id as client id and user name, an offline last will, over TLS.
    const node2 = await raw(tlsUrl(), {
      ...tls,
      clientId: "node-0002",
      ...login("node-0002"),
      will: { topic: statusTopic, payload: Buffer.from(JSON.stringify({ id: "node-0002", state: "offline" })), qos: 1, retain: false },
    });
    let node2Closed = false;
    node2.on("close", () => (node2Closed = true));
    const intruders: MqttClient[] = [];
    try {
      // node-0001's password (read from its flash, say) and node-0002's client id.
      intruders.push(await raw(tlsUrl(), { ...tls, clientId: "node-0002", ...login("node-0001") }));
      // Again with a clean session off and MQTT 5, the ways a takeover keeps or drops the old session.
      intruders.push(await raw(tlsUrl(), { ...tls, clientId: "node-0002", clean: false, ...login("node-0001") }));
      intruders.push(await raw(tlsUrl(), { ...tls, clientId: "node-0002", protocolVersion: 5, ...login("node-0001") }));
      await new Promise((r) => setTimeout(r, 1000));
      expect(node2Closed).toBe(false);
      expect(node2.connected).toBe(true);
      expect(statuses.filter((m) => m.includes("offline"))).toEqual([]);
      // The broker knows each of them as node-0001, the user name, whatever id it sent.
      await until(() => (broker.log().match(/ as node-0001 \(/g) ?? []).length >= 3, 10_000, "the intruders logged as node-0001");
      // Its session is up: it still publishes, and the operator gets it.
      await node2.publishAsync(statusTopic, JSON.stringify({ id: "node-0002", state: "online", marker: "still-up" }), { qos: 1 });
      await until(() => statuses.some((m) => m.includes("still-up")), 10_000, "node-0002's status after the attempts");
      expect(broker.log()).not.toMatch(/Client node-0002 already connected, closing old connection/);
    } finally {
      await Promise.all([...intruders, node2, operator].map((c) => c.endAsync(true)));
    }
  });

  it("operator tools: on the loopback port several connect side by side with their own ids (one with none, as mosquitto_sub); on TLS the id is the user name", { timeout: 30_000 }, async () => {
    // espfleet watch and config each send an id of their own (espfleet-watch-..., espfleet-config-<pid>); mosquitto_sub without -i sends none.
    const tools = await Promise.all([
      raw(plainUrl(), { clientId: "espfleet-watch-1", ...login("operator") }),
      raw(plainUrl(), { clientId: "espfleet-config-1", ...login("operator") }),
      raw(plainUrl(), { clientId: "", clean: true, ...login("operator") }),
    ]);
    const closed = tools.map(() => false);
    tools.forEach((c, i) => c.on("close", () => (closed[i] = true)));
    // Over TLS one login is one session: the second connection as operator replaces the first (README).
    const tls = { ca: readFileSync(ca.cert) };
    const remoteWatch = await raw(tlsUrl(), { ...tls, clientId: "espfleet-watch-2", ...login("operator") });
    let remoteWatchClosed = false;
    remoteWatch.on("close", () => (remoteWatchClosed = true));
    const remoteSub = await raw(tlsUrl(), { ...tls, clientId: "", clean: true, ...login("operator") });
    try {
      await until(() => remoteWatchClosed, 10_000, "the first TLS operator session replaced by the second");
      await new Promise((r) => setTimeout(r, 500));
      expect(closed).toEqual([false, false, false]);
      expect(remoteSub.connected).toBe(true);
    } finally {
      await Promise.all([...tools, remoteWatch, remoteSub].map((c) => c.endAsync(true)));
    }
  });

  it("run-local.sh, the documented local run, starts the shipped conf as the user who runs it (no pid file, no warning)", { timeout: 60_000 }, async () => {
    /** Runs run-local.sh on `dir` (as `asUser` through runuser when given) until both ports answer and an operator logs in. */
    const runLocal = async (dir: string, asUser?: string): Promise<string> => {
      const port = await freePort();
      const tlsPort = await freePort();
      const script = join(DOCS_DIR, "run-local.sh");
      const args = [dir, "--port", String(port), "--tls-port", String(tlsPort)];
      const child = asUser === undefined ? spawn(script, args) : spawn("runuser", ["-u", asUser, "--", script, ...args]);
      let said = "";
      child.stdout.on("data", (d: Buffer) => (said += d.toString()));
      child.stderr.on("data", (d: Buffer) => (said += d.toString()));
      try {
        const deadline = Date.now() + 15_000;
        while (!((await canConnect(port)) && (await canConnect(tlsPort)))) {
          if (child.exitCode !== null || Date.now() > deadline) {
            throw new Error(`run-local.sh did not listen on ${port}/${tlsPort} (exit ${child.exitCode}): ${said}`);
          }
          await new Promise((r) => setTimeout(r, 50));
        }
        const client = await raw(`mqtt://127.0.0.1:${port}`, { clientId: "", ...login("operator") });
        await client.endAsync();
        const overTls = await raw(`mqtts://127.0.0.1:${tlsPort}`, { ca: readFileSync(ca.cert), clientId: "x", ...login("node-0001") });
        await overTls.endAsync();
      } finally {
        if (child.exitCode === null) {
          await new Promise<void>((resolve) => {
            child.once("exit", () => resolve());
            child.kill("SIGTERM");
          });
        }
      }
      return said;
    };
    const dir = join(work, "local");
    mkdirSync(dir, { mode: 0o700 });
    for (const [from, to] of [
      [join(work, "passwd"), "passwd"],
      [join(work, "acl"), "acl"],
      [ca.cert, "ca.crt"],
      [serverCert.cert, "server.crt"],
      [serverCert.key, "server.key"],
    ] as const) {
      copyFileSync(from, join(dir, to));
    }
    const said = await runLocal(dir);
    expect(said).toMatch(/mosquitto version [\d.]+ running/);
    /** What mosquitto said, less the TLS errors of the probes above (a bare TCP connect to the TLS port). */
    const startup = (text: string): string =>
      text
        .split("\n")
        .filter((line) => !line.includes("OpenSSL Error"))
        .join("\n");
    expect(startup(said)).not.toMatch(/pid file|Warning: ACL|Error/);
    const settings = readFileSync(join(dir, "mosquitto.local.conf"), "utf8").split("\n").filter((line) => !line.startsWith("#"));
    expect(settings.filter((line) => /\/etc\/|\/var\/|\/run\//.test(line))).toEqual([]);

    // As a user who is not root, the case that used to stop at "Unable to write pid file".
    const canSwitch = process.getuid?.() === 0 && spawnSync("runuser", ["-u", "nobody", "--", "test", "-r", join(DOCS_DIR, "run-local.sh")]).status === 0;
    if (canSwitch) {
      const parent = mkdtempSync(join(tmpdir(), "espfleet-local-nobody-"));
      try {
        chmodSync(parent, 0o755);
        const nobodyDir = join(parent, "fleet");
        mkdirSync(nobodyDir, { mode: 0o700 });
        for (const name of ["passwd", "acl", "ca.crt", "server.crt", "server.key"]) {
          copyFileSync(join(dir, name), join(nobodyDir, name));
          chownSync(join(nobodyDir, name), 65534, 65534);
        }
        chownSync(nobodyDir, 65534, 65534);
        const saidAsNobody = await runLocal(nobodyDir, "nobody");
        expect(saidAsNobody).toMatch(/mosquitto version [\d.]+ running/);
        expect(startup(saidAsNobody)).not.toMatch(/pid file|Warning|Error/);
      } finally {
        rmSync(parent, { recursive: true, force: true });
      }
    }
  });

  it("connects over TLS with the broker's CA, and says clearly why it cannot otherwise", async () => {
    const operator = { username: "operator", password: passwords.operator };
    const connectWith = (flags: Parameters<typeof brokerFromFlags>[0]): Promise<string> => failureOf(connectClient(brokerFromFlags({ ...operator, ...flags }, {}), `tls-${Math.random().toString(36).slice(2, 10)}`));

    expect(await connectWith({ broker: tlsUrl(), ca: ca.cert })).toBe("");
    expect(await connectWith({ broker: tlsUrl() })).toMatch(/cannot verify the broker's certificate.*no CA this host trusts signed it; pass the broker's CA certificate with --ca/);
    expect(await connectWith({ broker: tlsUrl(), ca: otherCa.cert })).toContain(`the CA in --ca ${otherCa.cert} did not sign it; pass the broker's CA certificate with --ca`);
    expect(await connectWith({ broker: tlsUrl(expiredBroker), ca: ca.cert })).toContain("the broker's certificate expired on 2020-01-02 00:00:00 UTC; renew it");
    expect(await connectWith({ broker: tlsUrl(broker, "localhost"), ca: ca.cert })).toContain(
      "the certificate is for 127.0.0.1, not localhost; connect by a name it lists or reissue it",
    );
  });

  it("sends a client certificate when the broker requires one, and explains a missing or refused one", { timeout: 45_000 }, async () => {
    const operator = { username: "operator", password: passwords.operator, broker: tlsUrl(certBroker), ca: ca.cert };
    const connectWith = (flags: { cert?: string; key?: string }): Promise<string> =>
      failureOf(connectClient(brokerFromFlags({ ...operator, ...flags }, {}), `cc-${Math.random().toString(36).slice(2, 10)}`));

    expect(await connectWith({})).toContain("the broker requires a client certificate; pass --cert <file.pem> and --key <file.pem>");
    expect(await connectWith({ cert: strangerCert.cert, key: strangerCert.key })).toContain(`the broker rejected the client certificate --cert ${strangerCert.cert}`);
    expect(await connectWith({ cert: clientCert.cert, key: clientCert.key })).toBe("");
    expect(() => brokerFromFlags({ ...operator, cert: clientCert.cert, key: strangerCert.key }, {})).toThrow(/do not belong together/);

    // Simulated nodes present the certificate too.
    const target: BrokerTarget = brokerFromFlags({ broker: tlsUrl(certBroker), ca: ca.cert, cert: clientCert.cert, key: clientCert.key }, {});
    applyFleetLogins(target, { user: "node-{id}", credentials }, { first: 1, count: 2 }, {});
    const fleet = new Fleet({ broker: target, first: 1, count: 2, stateDir: join(work, "cert-fleet"), fresh: true, seed: 3, fixed: { topic_prefix: PREFIX }, connectRate: 100 });
    try {
      await fleet.start();
      await until(() => fleet.counters.connected === 2, 20_000, "2 nodes connected with a client certificate");
    } finally {
      await fleet.stop();
    }
  });

  it("runs, watches and configures a fleet over mqtts with per-node logins, never printing a password or a key", { timeout: 60_000 }, async () => {
    const stateDir = join(work, "cli-state");
    const tls = ["--broker", tlsUrl(), "--ca", ca.cert, "--prefix", PREFIX];
    // The fleet key too: nodes apply only signed changes, and it must not show anywhere either.
    const fleetKey = "9c1f0e2d3b4a59687766554433221100ffeeddccbbaa99887766554433221100";
    const fleetKeyFile = join(work, "fleet.key");
    writeFileSync(fleetKeyFile, fleetKey + "\n", { mode: 0o600 });
    const run = CliRun.start(["run", ...tls, "--topic-data", TOPIC_DATA, "--user", "node-{id}", "--credentials", credentials, "--fleet-key-file", fleetKeyFile, "--nodes", "3", "--interval", "500ms", "--state-dir", stateDir, "--fresh", "--verbose", "--log-level", "info", "--connect-rate", "100/s"]);
    // On the broker host's loopback port, where config (over mqtts) does not replace its session: on the TLS port a client's id is its user name.
    const watch = CliRun.start(["watch", "--broker", plainUrl(), "--prefix", PREFIX, "--topic-data", TOPIC_DATA, "--username", "operator", "--credentials", credentials, "--lines", "--duration", "45s"]);
    let results: { code: number | null; out: string }[];
    try {
      await until(() => /node-0001 info: mqtt connected/.test(run.out) && /node-0003 info: mqtt connected/.test(run.out), 40_000, "the run's nodes connected");
      await until(() => /node-0003 #\d+ boot \d+/.test(watch.out), 20_000, "watch shows a reading of node-0003");
      const operatorEnv = { MQTT_USERNAME: "operator", MQTT_PASSWORD: passwords.operator };
      results = await Promise.all([
        runCli(["config", ...tls, "--all", "--expect", "3", "--interval", "2s", "--timeout", "20s", "--fleet-key-file", fleetKeyFile, "--counter-file", join(work, "counter")], operatorEnv),
        // A wrong password, a password inside a URL that does not parse, and a fleet larger than the credentials.
        runCli(["config", ...tls, "--username", "operator", "--password", "Wr0ngPassw0rdXYZ", "--all", "--timeout", "2s"]),
        runCli(["run", "--broker", `mqtt://node-0001:${passwords["node-0001"]}@bad host:1883`, "--nodes", "1"]),
        runCli(["run", ...tls, "--user", "node-{id}", "--credentials", credentials, "--nodes", "5", "--state-dir", join(work, "unused")]),
      ]);
    } finally {
      await Promise.all([run.interrupt(), watch.interrupt()]);
    }
    const [config, wrongPassword, badUrl, missing] = results;
    expect(config.code, config.out).toBe(0);
    expect(config.out).toMatch(/applied by 3/);
    expect(run.out).toContain("nodes log in as node-{id}");
    expect(run.out).toContain(`readings on ${PREFIX}/sensor_data/<id>, a topic per node (subscribe to ${PREFIX}/sensor_data/+)`);
    expect(watch.out).toMatch(/watched 3 nodes: [1-9]\d* readings, .* 0 forged/);
    expect(wrongPassword.out).toContain('refused the login of user "operator"');
    expect(badUrl.out).toContain("mqtt://node-0001:***@bad host:1883");
    expect(missing.code).toBe(2);
    expect(missing.out).toMatch(/2 of 5 nodes have no password in --credentials .*: no user "node-0004", "node-0005"/);
    expect(missing.out).not.toContain("starting");

    const outputs = { run: run.out, watch: watch.out, config: config.out, wrongPassword: wrongPassword.out, badUrl: badUrl.out, missing: missing.out };
    const secrets = [...Object.values(passwords), "Wr0ngPassw0rdXYZ", fleetKey];
    const keyLines = [ca.key, clientCert.key, strangerCert.key].flatMap((file) =>
      readFileSync(file, "utf8")
        .split("\n")
        .filter((line) => line.length > 40 && !line.startsWith("-----")),
    );
    for (const [name, text] of Object.entries(outputs)) {
      for (const secret of secrets) {
        expect(text.includes(secret), `${name} output shows a password`).toBe(false);
      }
      expect(text, `${name} output`).not.toContain("PRIVATE KEY");
      expect(keyLines.some((line) => text.includes(line)), `${name} output shows key material`).toBe(false);
    }

    // The node files hold each node's own login (as a flashed node would) and only its owner may read them.
    const nodeDirs = readdirSync(stateDir).sort();
    expect(nodeDirs).toEqual(["node-0001", "node-0002", "node-0003"]);
    for (const id of nodeDirs) {
      expect(statSync(join(stateDir, id)).mode & 0o077).toBe(0);
      const file = join(stateDir, id, "config.json");
      expect(statSync(file).mode & 0o077).toBe(0);
      const stored = JSON.parse(readFileSync(file, "utf8")) as { mqtt_user: string; mqtt_password: string };
      expect(stored.mqtt_user).toBe(id);
      expect(stored.mqtt_password).toBe(passwords[id]);
    }
  });
});
