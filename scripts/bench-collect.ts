/**
 * npm run bench:collect — how fast the collector stores readings, into the
 * embedded PGlite and into PostgreSQL, against a bulk insert of the same
 * rows without MQTT (Store.write in batches, the collector's own SQL).
 *
 * For each store: a fresh database; the collector's session is created,
 * the collector stops, a backlog of readings is published to a mosquitto
 * this script starts on loopback (aedes in this process when mosquitto is
 * missing); then the collector is started and timed from its start until
 * the last reading is committed and acknowledged: MQTT delivery, decoding,
 * dedupe, transactions and PUBACKs, all in one process. Then the same rows
 * go straight into another fresh database with Store.write.
 *
 *   npm run bench:collect                      20 nodes x 1,000 readings
 *   npm run bench:collect -- --nodes 50 --readings 2000
 *   npm run bench:collect -- --stores pglite   only one store (pglite, postgres)
 *
 * PostgreSQL is started by the script (initdb + pg_ctl in a temp folder,
 * fsync off, as the tests do); skipped, saying why, without its binaries.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { DedupeTracker } from "../ops/collect/dedupe";
import { decodeReading } from "../ops/collect/messages";
import { openPgStore } from "../ops/collect/pg-store";
import { openPgliteStore } from "../ops/collect/pglite-store";
import type { ReadingRecord, Store } from "../ops/collect/store";
import type { BrokerTarget } from "../broker/target";
import { startEmbeddedBroker } from "../broker/embedded";
import { formatCount } from "../common/units";
import { MOSQUITTO, Mosquitto } from "../test/e2e/support/mosquitto";
import { readingPayload, startCollector } from "../test/ops/support/collector-harness";
import { PostgresServer, postgresMissing } from "../test/ops/support/postgres-server";

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && at + 1 < process.argv.length ? process.argv[at + 1] : fallback;
}

const NODES = Number(option("nodes", "20"));
const PER_NODE = Number(option("readings", "1000"));
const TOTAL = NODES * PER_NODE;
const STORES = option("stores", "pglite,postgres").split(",");
const BATCH = 1000;

function payloads(): { topic: string; payload: string }[] {
  const out: { topic: string; payload: string }[] = [];
  for (let seq = 1; seq <= PER_NODE; seq++) {
    for (let n = 1; n <= NODES; n++) {
      out.push({ topic: "bench/sensor_data", payload: readingPayload(`node-${String(n).padStart(4, "0")}`, 1, seq, { vdd: 3.3 }) });
    }
  }
  return out;
}

async function publishBacklog(url: string, messages: { topic: string; payload: string }[]): Promise<void> {
  const pub = await mqtt.connectAsync(url, { clientId: `bench-pub-${process.pid}`, protocolVersion: 4 });
  for (let i = 0; i < messages.length; i += 200) {
    await Promise.all(messages.slice(i, i + 200).map((m) => pub.publishAsync(m.topic, m.payload, { qos: 1 })));
  }
  await pub.endAsync();
}

async function viaMqtt(target: BrokerTarget, open: () => Promise<Store>, clientId: string): Promise<number> {
  const store = await open();
  try {
    const setup = await startCollector({ target, store, prefix: "bench", clientId });
    await setup.stop();
    await publishBacklog(target.url, payloads());
    const started = performance.now();
    const run = await startCollector({ target, store, prefix: "bench", clientId, maxBatch: BATCH });
    while (run.collector.stats.totals.stored < TOTAL) {
      await new Promise((r) => setTimeout(r, 2));
    }
    const seconds = (performance.now() - started) / 1000;
    await run.stop();
    return TOTAL / seconds;
  } finally {
    await store.close();
  }
}

async function bulk(open: () => Promise<Store>): Promise<number> {
  const store = await open();
  try {
    const tracker = new DedupeTracker();
    const now = Date.now();
    const rows: ReadingRecord[] = payloads().map((m) => {
      const r = decodeReading(JSON.parse(m.payload) as Record<string, unknown>, now);
      if (typeof r === "string") throw new Error(r);
      const verdict = tracker.classify(r.node, r.boot, r.seq);
      return { ...r, gap: 0, reboot: false, fillsGap: false, ...(verdict.kind === "store" ? verdict : {}) };
    });
    const started = performance.now();
    for (let i = 0; i < rows.length; i += BATCH) {
      await store.write({ readings: rows.slice(i, i + BATCH), duplicates: {}, statuses: [], messages: [] });
    }
    return TOTAL / ((performance.now() - started) / 1000);
  } finally {
    await store.close();
  }
}

async function main(): Promise<void> {
  const useMosquitto = existsSync(MOSQUITTO);
  const mosquitto = useMosquitto ? await Mosquitto.start() : undefined;
  const aedes = useMosquitto ? undefined : await startEmbeddedBroker({ port: 0 });
  const port = mosquitto?.port ?? aedes?.port ?? 0;
  const target: BrokerTarget = { url: `mqtt://127.0.0.1:${port}`, host: "127.0.0.1", port, secure: false, username: "", password: "", ca: undefined, embedded: aedes !== undefined };
  const dir = mkdtempSync(join(tmpdir(), "espfleet-bench-collect-"));
  process.stdout.write(
    `bench:collect: ${formatCount(TOTAL)} readings (${NODES} nodes x ${formatCount(PER_NODE)}), broker ${useMosquitto ? "mosquitto" : "aedes (embedded; mosquitto not installed)"}, transactions of up to ${BATCH}\n`,
  );
  const results: { store: string; mqtt: number; bulk: number }[] = [];
  let folders = 0;
  const pgliteFolder = (): Promise<Store> => openPgliteStore({ dataDir: join(dir, `pglite-${++folders}`) });
  try {
    if (STORES.includes("pglite")) {
      process.stdout.write("  PGlite (embedded, a folder on disk; each fresh database takes seconds to create)…\n");
      results.push({ store: "PGlite", mqtt: await viaMqtt(target, pgliteFolder, "bench-pglite"), bulk: await bulk(pgliteFolder) });
    }
    if (STORES.includes("postgres")) {
      const missing = postgresMissing();
      if (missing !== undefined) {
        process.stdout.write(`  PostgreSQL: skipped: ${missing}\n`);
      } else {
        process.stdout.write("  PostgreSQL (a server this script starts)…\n");
        const server = await PostgresServer.start();
        try {
          const open = async (): Promise<Store> => openPgStore({ url: await server.createDatabase("bench") });
          results.push({ store: "PostgreSQL", mqtt: await viaMqtt(target, open, "bench-pg"), bulk: await bulk(open) });
        } finally {
          await server.close();
        }
      }
    }
  } finally {
    await mosquitto?.close();
    await aedes?.close();
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write("\n| store | collector (MQTT -> commit -> PUBACK) | bulk insert, no MQTT | collector / bulk |\n|---|---|---|---|\n");
  for (const r of results) {
    process.stdout.write(`| ${r.store} | ${formatCount(r.mqtt)} readings/s | ${formatCount(r.bulk)} readings/s | ${Math.round((100 * r.mqtt) / r.bulk)} % |\n`);
  }
  process.exit(0);
}

await main();
