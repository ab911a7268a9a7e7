/**
 * `npm run bench:collect`'s ingest run: for each store, a fresh database;
 * the collector's session is created, the collector stops, a backlog of
 * readings is published to the broker; then the collector is started and
 * timed from its start until the last reading is committed and
 * acknowledged: MQTT delivery, decoding, dedupe, transactions and PUBACKs,
 * all in one process. Then the same rows go straight into another fresh
 * database with Store.write (the bulk insert, no MQTT).
 */
import mqtt from "mqtt";
import type { BrokerTarget } from "../../broker/target";
import { DedupeTracker } from "../../ops/collect/dedupe";
import { decodeReading } from "../../ops/collect/messages";
import { emptyBatch, type ReadingRecord, type Store } from "../../ops/collect/store";
import { readingPayload, startCollector } from "../../test/ops/support/collector-harness";
import { CpuWindow, type CpuShare } from "./proc-cpu";

export interface IngestOptions {
  target: BrokerTarget;
  nodes: number;
  perNode: number;
  /** Most readings per transaction. */
  batch: number;
  /** The broker's process, when it runs apart (mosquitto), for its CPU time. */
  brokerPid?: number;
}

export interface MqttIngest {
  /** Readings/s from the collector's start to the last commit. */
  rate: number;
  /** CPU seconds over the same time: the collector's process (its MQTT thread and the PGlite worker), the broker. */
  cpu: CpuShare[];
  seconds: number;
  /** Of those, until the first reading was committed: opening the session (connect, subscribe), the first small transaction. */
  firstCommitS: number;
}

function payloads(options: IngestOptions): { topic: string; payload: string }[] {
  const out: { topic: string; payload: string }[] = [];
  for (let seq = 1; seq <= options.perNode; seq++) {
    for (let n = 1; n <= options.nodes; n++) {
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

/** Readings/s through MQTT and the collector into a fresh store, and the CPU it took. */
export async function viaMqtt(options: IngestOptions, open: () => Promise<Store>, clientId: string): Promise<MqttIngest> {
  const total = options.nodes * options.perNode;
  const store = await open();
  try {
    const setup = await startCollector({ target: options.target, store, prefix: "bench", clientId });
    await setup.stop();
    await publishBacklog(options.target.url, payloads(options));
    const cpu = new CpuWindow([{ name: "collector", pids: [process.pid] }, ...(options.brokerPid !== undefined ? [{ name: "broker", pids: [options.brokerPid] }] : [])]);
    cpu.start();
    const started = performance.now();
    const run = await startCollector({ target: options.target, store, prefix: "bench", clientId, maxBatch: options.batch });
    let firstCommitS = Number.NaN;
    while (run.collector.stats.totals.stored < total) {
      await new Promise((r) => setTimeout(r, 2));
      if (Number.isNaN(firstCommitS) && run.collector.stats.totals.stored > 0) {
        firstCommitS = (performance.now() - started) / 1000;
      }
    }
    const seconds = (performance.now() - started) / 1000;
    const shares = cpu.stop();
    await run.stop();
    return { rate: total / seconds, cpu: shares, seconds, firstCommitS };
  } finally {
    await store.close();
  }
}

/** Readings/s of the same rows written with Store.write into a fresh store, no MQTT. */
export async function bulk(options: IngestOptions, open: () => Promise<Store>): Promise<number> {
  const total = options.nodes * options.perNode;
  const store = await open();
  try {
    const tracker = new DedupeTracker();
    const now = Date.now();
    const rows: ReadingRecord[] = payloads(options).map((m) => {
      const r = decodeReading(JSON.parse(m.payload) as Record<string, unknown>, now);
      if (typeof r === "string") throw new Error(r);
      const verdict = tracker.classify(r.node, r.boot, r.seq);
      return { ...r, gap: 0, reboot: false, fillsGap: false, ...(verdict.kind === "store" ? verdict : {}) };
    });
    const started = performance.now();
    for (let i = 0; i < rows.length; i += options.batch) {
      await store.write({ ...emptyBatch(), readings: rows.slice(i, i + options.batch) });
    }
    return total / ((performance.now() - started) / 1000);
  } finally {
    await store.close();
  }
}
