/**
 * The collector on the embedded broker when the broker keeps its sessions in
 * a folder (`espfleet run --broker-store`, broker/broker-store.ts):
 *
 * - the broker stopped and started again on the same folder under a running
 *   collector while readings keep coming: every reading stored, once;
 * - `espfleet run` (the process holding the embedded broker) killed with
 *   SIGKILL right after its PUBACKs: every acknowledged reading is still
 *   delivered to the collector after a restart on the same folder;
 * - the bounded queue: a collector away longer than --broker-queue allows
 *   gets the oldest readings, and `collect` and `query --summary` say how
 *   many the broker dropped.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import mqtt, { type MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmbeddedBroker, type EmbeddedBroker } from "../../broker/embedded";
import { MAX_INFLIGHT } from "../../broker/session-queues";
import type { BrokerTarget } from "../../broker/target";
import { openPgliteStore } from "../../ops/collect/pglite-store";
import type { Store } from "../../ops/collect/store";
import { freePort } from "../e2e/support/mosquitto";
import { until } from "../e2e/support/observer";
import { EspfleetProcess, runEspfleet } from "./support/collect-process";
import { readingPayload, startCollector } from "./support/collector-harness";

let dir: string;
let template: Blob;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "espfleet-collect-broker-"));
  const db = await PGlite.create();
  template = await db.dumpDataDir("none");
  await db.close();
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const targetAt = (port: number): BrokerTarget => ({ url: `mqtt://127.0.0.1:${port}`, host: "127.0.0.1", port, secure: false, username: "", password: "", ca: undefined, embedded: true });

async function seqsOf(store: Store, node: string): Promise<number[]> {
  return (await store.readings({ node, fromMs: 0, toMs: Date.now() + 86_400_000, limit: 1_000_000 })).map((r) => r.seq).sort((a, b) => a - b);
}

const oneToN = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("the collector and the embedded broker's folder", () => {
  it("the broker stopped and started again on its folder under a running collector: every reading stored, none twice", { timeout: 60_000 }, async () => {
    const store = { kind: "folder", folder: join(dir, "restart"), ifLocked: "fail" } as const;
    let broker: EmbeddedBroker = await startEmbeddedBroker({ port: 0, store });
    const port = broker.port;
    const db = await openPgliteStore({ loadDataDir: template });
    const collector = await startCollector({ target: targetAt(port), store: db, prefix: "restart", clientId: "restart-c" });
    // A node-like publisher: QoS 1, clean session; mqtt.js keeps what is not acknowledged and sends it again after reconnecting.
    const pub = await mqtt.connectAsync(broker.url, { clientId: "restart-pub", protocolVersion: 4, reconnectPeriod: 100 });
    pub.on("error", () => undefined);
    const TOTAL = 3000;
    const publishing = (async () => {
      for (let seq = 1; seq <= TOTAL; seq += 50) {
        await Promise.all(oneToN(50).map((k) => pub.publishAsync("restart/sensor_data", readingPayload("n1", 1, seq + k - 1), { qos: 1 })));
      }
    })();
    await until(() => collector.collector.stats.totals.stored >= 1000, 20_000, "1000 readings stored");
    await broker.close();
    await new Promise((r) => setTimeout(r, 300));
    broker = await startEmbeddedBroker({ port, store });
    await publishing;
    await until(() => collector.collector.stats.totals.stored >= TOTAL, 30_000, `${TOTAL} readings stored`);
    expect(await collector.stop()).toBe(true);
    expect(collector.log.filter((l) => l.startsWith("connected")).slice(-1)).toEqual(["connected, session present: true"]);
    expect(await seqsOf(db, "n1")).toEqual(oneToN(TOTAL));
    const [n1] = await db.summary();
    expect([n1.readings, n1.gaps]).toEqual([TOTAL, 0]);
    await pub.endAsync(true);
    await db.close();
    await broker.close();
  });

  it("espfleet run killed with SIGKILL right after its PUBACKs: every acknowledged reading reaches the collector after a restart", { timeout: 120_000 }, async () => {
    const port = await freePort();
    const args = ["run", "--nodes", "1", "--port", String(port), "--prefix", "kill9", "--broker-store", join(dir, "kill9"), "--state-dir", join(dir, "kill9-nodes"), "--collector-session", "kill9-c"];
    const first = new EspfleetProcess(args);
    await first.waitFor(/listening on mqtt:/, 60_000);
    const pub: MqttClient = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: "kill9-pub", protocolVersion: 4, reconnectPeriod: 0 });
    pub.on("error", () => undefined);
    // Readings in flight all the time; the kill comes after 2,000 acknowledgements, in the middle of the stream.
    const acked: number[] = [];
    let seq = 0;
    let killed = false;
    void (async () => {
      while (!killed) {
        const batch = oneToN(50).map(() => ++seq);
        const results = await Promise.allSettled(batch.map((s) => pub.publishAsync("kill9/sensor_data", readingPayload("pub-1", 1, s), { qos: 1 })));
        results.forEach((r, i) => r.status === "fulfilled" && !killed && acked.push(batch[i]));
      }
    })();
    await until(() => acked.length >= 2000, 30_000, "2000 acknowledged readings");
    expect((await first.stop("SIGKILL")).signal).toBe("SIGKILL");
    // What was acknowledged before the kill is what must survive it.
    killed = true;
    pub.end(true);

    const second = new EspfleetProcess(args);
    await second.waitFor(/found [\d,]+ messages? queued/, 60_000);
    const db = await openPgliteStore({ loadDataDir: template });
    const collector = await startCollector({ target: targetAt(port), store: db, prefix: "kill9", clientId: "kill9-c" });
    await until(() => collector.log.length > 0, 10_000, "the collector's connection");
    expect(collector.log[0]).toBe("connected, session present: true");
    const want = Math.max(...acked);
    let stored: number[] = [];
    await waitUntil(
      async () => {
        stored = await seqsOf(db, "pub-1");
        return stored.length >= acked.length;
      },
      60_000,
      "the acknowledged readings",
    ).catch((error: Error) => {
      const missing = acked.filter((s) => !stored.includes(s));
      throw new Error(
        `${error.message}: ${stored.length} stored of ${acked.length} acknowledged, missing ${missing.length} (${missing.slice(0, 10).join(",")}…); ` +
          `collector ${JSON.stringify(collector.collector.stats.totals)} ${collector.log.join(" | ")}; broker: ${second.out.slice(-2000)}`,
      );
    });
    await collector.stop();
    stored = await seqsOf(db, "pub-1");
    // Every acknowledged reading; beyond them, readings the broker wrote but whose PUBACK the kill cut off may be there too.
    expect(acked.filter((s) => !stored.includes(s))).toEqual([]);
    expect(stored.slice(0, want)).toEqual(oneToN(want));
    await db.close();
    await second.stop("SIGINT");
  });

  it("a backlog beyond the 65,535 MQTT packet ids, the database stalled: at most MAX_INFLIGHT unacknowledged at a time, every reading stored, none delivered twice", { timeout: 180_000 }, async () => {
    // The broker in a process of its own, as under npm start (in this one, PGlite's commits would hold up its every send).
    const port = await freePort();
    const run = new EspfleetProcess(["run", "--nodes", "1", "--port", String(port), "--prefix", "ids", "--broker-store", "memory", "--state-dir", join(dir, "ids-nodes"), "--collector-session", "ids-c"]);
    await run.waitFor(/listening on mqtt:/, 60_000);
    const db = await openPgliteStore({ loadDataDir: template });
    const TOTAL = 70_000;
    const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: "ids-pub", protocolVersion: 4 });
    for (let seq = 1; seq <= TOTAL; seq += 500) {
      await Promise.all(oneToN(500).map((k) => pub.publishAsync("ids/sensor_data", readingPayload(`n${k % 10}`, 1, Math.ceil((seq + k - 1) / 10)), { qos: 1 })));
    }
    // The database holds every transaction until released: nothing is acknowledged meanwhile.
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const stalled: Store = new Proxy(db, {
      get: (target, property) =>
        property === "write" ? async (batch: Parameters<Store["write"]>[0]) => (await gate, target.write(batch)) : (Reflect.get(target, property) as unknown),
    });
    const collector = await startCollector({ target: targetAt(port), store: stalled, prefix: "ids", clientId: "ids-c" });
    await until(() => collector.collector.stats.totals.received >= MAX_INFLIGHT, 30_000, `${MAX_INFLIGHT} messages received`);
    await new Promise((r) => setTimeout(r, 1000));
    // (A message counts once aedes gave it its packet id; a stream's buffer of 16, and node-0001's statuses, may be on the way.)
    expect(collector.collector.stats.totals.received).toBeLessThanOrEqual(MAX_INFLIGHT + 20);
    release();
    const ours = async (): Promise<number> => (await db.summary()).filter((s) => s.node !== "node-0001").reduce((n, s) => n + s.readings, 0);
    await waitUntil(async () => (await ours()) === TOTAL, 120_000, `${TOTAL} readings stored`);
    await collector.stop();
    expect([collector.collector.stats.totals.duplicates, collector.log.length]).toEqual([0, 1]);
    await pub.endAsync();
    await db.close();
    await run.stop("SIGINT");
  });

  it("a collector away longer than the broker's queue allows gets the oldest readings; collect and query --summary say how many were dropped", { timeout: 120_000 }, async () => {
    const broker = await startEmbeddedBroker({ port: 0, queueLimit: 50 });
    const dbFolder = join(dir, "bounded-db");
    const args = ["collect", "--broker", broker.url, "--prefix", "bounded", "--client-id", "bounded-c", "--db", dbFolder, "--report", "0"];
    const setup = new EspfleetProcess(args);
    await setup.waitFor(/connected to/, 90_000);
    expect((await setup.stop("SIGINT")).code).toBe(130);

    const pub = await mqtt.connectAsync(broker.url, { clientId: "bounded-pub", protocolVersion: 4 });
    for (let seq = 1; seq <= 120; seq++) {
      await pub.publishAsync("bounded/sensor_data", readingPayload("n1", 1, seq), { qos: 1 });
    }
    const back = new EspfleetProcess(args);
    await back.waitFor(/the broker dropped 70 messages for this session \(bounded-c\) while the collector was away: its queue holds at most 50/, 60_000);
    // The next live reading shows the hole as a gap of the node.
    await pub.publishAsync("bounded/sensor_data", readingPayload("n1", 1, 121), { qos: 1 });
    await new Promise((r) => setTimeout(r, 1500));
    expect((await back.stop("SIGTERM")).code).toBe(0);
    expect(back.out).toMatch(/collected for .*: 51 readings stored .* 70 gaps .*, 70 dropped by the broker \(its queue for this session was full\)/);

    const summary = await runEspfleet(["query", "--summary", "--db", dbFolder]);
    expect(summary.code, summary.out).toBe(0);
    expect(summary.out).toMatch(/^n1 +51 +70 /m);
    expect(summary.out).toContain("the broker dropped 70 messages for the session bounded-c (its queue was full at 50 messages;");
    const readings = await runEspfleet(["query", "--node", "n1", "--db", dbFolder, "--since", "1h", "--format", "jsonl"]);
    const seqs = readings.out
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => (JSON.parse(l) as { seq: number }).seq)
      .sort((a, b) => a - b);
    expect(seqs).toEqual([...oneToN(50), 121]);
    await pub.endAsync();
    await broker.close();
  });
});
