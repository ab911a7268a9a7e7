/**
 * What a mosquitto run with docs/mosquitto's own mosquitto.conf (persistence
 * true, max_queued_messages, autosave_interval; paths and ports rewritten
 * only, see test/e2e/support/docs-mosquitto.ts) keeps for the collector's
 * persistent session, with its logins and ACL: a node publishing on its own
 * topic, the collector logged in as the operator.
 *
 * - A clean stop (SIGTERM, as systemctl restart does) and a start: every
 *   queued reading reaches the collector, in order.
 * - A crash (SIGKILL) keeps what the last autosave wrote and nothing after
 *   it: readings mosquitto had acknowledged with a PUBACK after that save
 *   are lost. The test waits for a save in mosquitto's log, publishes, kills
 *   it at once, and asserts exactly that: a PUBACK from mosquitto does not
 *   mean the message is on disk (the embedded broker's does:
 *   collect-broker-store.test.ts).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import mqtt, { type MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BrokerTarget } from "../../broker/target";
import { openPgliteStore } from "../../ops/collect/pglite-store";
import type { Store } from "../../ops/collect/store";
import { DOCS_DIR, DocsMosquitto } from "../e2e/support/docs-mosquitto";
import { MOSQUITTO } from "../e2e/support/mosquitto";
import { until } from "../e2e/support/observer";
import { TestPki } from "../e2e/support/pki";
import { readingPayload, startCollector } from "./support/collector-harness";

const PREFIX = "espfleet";
const TOPIC_DATA = "sensor_data/{id}";
const NODE = "node-0001";
const conf = readFileSync(join(DOCS_DIR, "mosquitto.conf"), "utf8");
const setting = (name: string): number => Number(new RegExp(`^${name} (\\d+)$`, "m").exec(conf)?.[1]);

let pki: TestPki;
let work: string;
let broker: DocsMosquitto;
let passwords: Record<string, string>;
let template: Blob;

beforeAll(async () => {
  pki = new TestPki();
  work = mkdtempSync(join(tmpdir(), "espfleet-mosquitto-persistence-"));
  const ca = pki.ca("ca");
  const server = pki.server("server", ca, { altNames: ["IP:127.0.0.1"] });
  execFileSync(join(DOCS_DIR, "make-passwd.sh"), ["--nodes", "1", "--operator", "operator", "--out", work], { encoding: "utf8", stdio: "pipe" });
  const lines = readFileSync(join(work, "credentials"), "utf8").trim().split("\n");
  passwords = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 1)]));
  broker = await DocsMosquitto.start({ ca: ca.cert, cert: server.cert, key: server.key, passwd: join(work, "passwd"), acl: join(work, "acl") });
  const db = await PGlite.create();
  template = await db.dumpDataDir("none");
  await db.close();
}, 120_000);

afterAll(async () => {
  await broker?.close();
  pki?.remove();
  rmSync(work, { recursive: true, force: true });
});

const operator = (): BrokerTarget => ({
  url: `mqtt://127.0.0.1:${broker.plainPort}`,
  host: "127.0.0.1",
  port: broker.plainPort,
  secure: false,
  username: "operator",
  password: passwords.operator,
  ca: undefined,
  embedded: false,
});

/** The node, logged in as itself, publishing readings `from`..`to` on its own topic (the ACL allows no other); resolves when all are PUBACKed. */
async function publish(from: number, to: number): Promise<void> {
  const node: MqttClient = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.plainPort}`, {
    clientId: NODE,
    username: NODE,
    password: passwords[NODE],
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
  for (let seq = from; seq <= to; seq += 100) {
    const last = Math.min(to, seq + 99);
    await Promise.all(Array.from({ length: last - seq + 1 }, (_, k) => node.publishAsync(`${PREFIX}/sensor_data/${NODE}`, readingPayload(NODE, 1, seq + k), { qos: 1 })));
  }
  await node.endAsync();
}

async function seqs(store: Store): Promise<number[]> {
  return (await store.readings({ node: NODE, fromMs: 0, toMs: Date.now() + 86_400_000, limit: 100_000 })).map((r) => r.seq).sort((a, b) => a - b);
}

/** The collector's session made, then left: what is published now is queued for it. */
async function sessionFor(clientId: string, store: Store): Promise<void> {
  const first = await startCollector({ target: operator(), store, prefix: PREFIX, topicData: TOPIC_DATA, clientId });
  await first.stop();
}

const saves = (): number => (broker.log().match(/Saving in-memory database/g) ?? []).length;
const oneTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

describe.skipIf(!existsSync(MOSQUITTO))("mosquitto with docs/mosquitto/mosquitto.conf, what it keeps for the collector", () => {
  it("ships persistence, a queue that holds a 10-minute outage of 1,000 nodes at 1 Hz, and a short autosave", () => {
    expect(conf).toMatch(/^persistence true$/m);
    expect(setting("max_queued_messages")).toBeGreaterThanOrEqual(600_000);
    expect(setting("autosave_interval")).toBeLessThanOrEqual(10);
  });

  it("a clean stop and a start (SIGTERM, as systemctl restart): every queued reading reaches the collector, in order", { timeout: 60_000 }, async () => {
    const store = await openPgliteStore({ loadDataDir: template });
    await sessionFor("persist-clean", store);
    await publish(1, 3000);
    await broker.restart();
    const back = await startCollector({ target: operator(), store, prefix: PREFIX, topicData: TOPIC_DATA, clientId: "persist-clean" });
    expect(back.log[0]).toBe("connected, session present: true");
    await until(() => back.collector.stats.totals.stored === 3000, 20_000, "3000 readings");
    await back.stop();
    expect(await seqs(store)).toEqual(oneTo(3000));
    await store.close();
  });

  it(
    "a crash (SIGKILL) keeps what the last autosave wrote: readings acknowledged after it are lost",
    { timeout: 60_000 },
    async () => {
      const store = await openPgliteStore({ loadDataDir: template });
      await sessionFor("persist-kill", store);
      // Saved by the next autosave (within autosave_interval).
      await publish(1, 1000);
      const before = saves();
      await until(() => saves() > before, setting("autosave_interval") * 1000 + 5000, "an autosave");
      // Acknowledged (every PUBACK received), then the broker dies before its next save.
      await publish(1001, 1300);
      const savesAtKill = saves();
      await broker.stop("SIGKILL");
      await broker.restart();
      const back = await startCollector({ target: operator(), store, prefix: PREFIX, topicData: TOPIC_DATA, clientId: "persist-kill" });
      expect(back.log[0]).toBe("connected, session present: true");
      await until(() => back.collector.stats.totals.stored >= 1000, 20_000, "the saved readings");
      await new Promise((r) => setTimeout(r, 1000));
      await back.stop();
      // Unless a save happened to fall between the PUBACKs and the kill (then more is kept), the 300 are gone.
      const kept = await seqs(store);
      expect(kept.slice(0, 1000)).toEqual(oneTo(1000));
      expect(kept.length === 1000 || savesAtKill > before + 1, `kept ${kept.length}`).toBe(true);
      await store.close();
    },
  );
});
