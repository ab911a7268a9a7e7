/**
 * The collector against real parts in one process: the embedded aedes
 * broker (broker/embedded.ts), a simulated fleet (simulator/fleet.ts)
 * or plain mqtt.js publishers, and PGlite in a worker thread, as
 * `espfleet collect` runs it. Each test has its own topic prefix, client id
 * and in-memory database.
 */
import { PGlite } from "@electric-sql/pglite";
import mqtt, { type MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPgliteWorkerStore } from "../../ops/collect/pglite-worker-store";
import type { Store } from "../../ops/collect/store";
import { startEmbeddedBroker, type EmbeddedBroker } from "../../broker/embedded";
import type { BrokerTarget } from "../../broker/target";
import { startTestFleet, uniquePrefix } from "../e2e/support/test-fleet";
import { sleep, until } from "../e2e/support/observer";
import { readingPayload, startCollector } from "./support/collector-harness";

let broker: EmbeddedBroker;
let target: BrokerTarget;
let template: Blob;

beforeAll(async () => {
  broker = await startEmbeddedBroker({ port: 0 });
  target = { url: broker.url, host: broker.host, port: broker.port, secure: false, username: "", password: "", ca: undefined, embedded: true };
  const db = await PGlite.create();
  template = await db.dumpDataDir("none");
  await db.close();
});
afterAll(async () => {
  await broker?.close();
});

const freshStore = (): Promise<Store> => openPgliteWorkerStore({ loadDataDir: template });

async function publisher(): Promise<MqttClient> {
  return mqtt.connectAsync(broker.url, { clientId: `pub-${Math.random().toString(36).slice(2, 10)}`, protocolVersion: 4 });
}

async function stored(store: Store, node: string): Promise<number[]> {
  return (await store.readings({ node, fromMs: 0, toMs: Date.now() + 86_400_000, limit: 100_000 })).map((r) => r.seq);
}

describe("collect with the embedded broker", () => {
  it("stores every reading of a simulated fleet once, with the nodes' statuses", async () => {
    const prefix = uniquePrefix("collect-fleet");
    const store = await freshStore();
    const run = await startCollector({ target, store, prefix, clientId: `${prefix}-c` });
    const { fleet } = await startTestFleet({ name: "aedes", url: broker.url, target, stop: async () => undefined, start: async () => undefined, close: async () => undefined }, {
      nodes: 3,
      prefix,
      initial: { interval_ms: 100 },
    });
    await sleep(1500);
    await fleet.stop();
    await until(() => run.collector.waiting === 0, 5000, "the collector to commit");
    await sleep(300);
    expect(await run.stop()).toBe(true);
    const summary = await store.summary();
    expect(summary.map((s) => s.node)).toEqual(["node-0001", "node-0002", "node-0003"]);
    for (const s of summary) {
      // seq counts from 1 in the first boot: every one of them is there, once.
      expect(s.readings).toBeGreaterThan(5);
      expect(await stored(store, s.node)).toEqual(Array.from({ length: s.seq }, (_, i) => i + 1));
      expect([s.gaps, s.duplicates, s.reboots, s.state]).toEqual([0, 0, 0, "offline"]);
    }
    await store.close();
  });

  it("a reading delivered twice is stored once and counted as a duplicate; a seq jump is a gap; a new boot a reboot", async () => {
    const prefix = uniquePrefix("collect-dup");
    const store = await freshStore();
    const run = await startCollector({ target, store, prefix, clientId: `${prefix}-c` });
    const pub = await publisher();
    const send = (boot: number, seq: number) => pub.publishAsync(`${prefix}/sensor_data`, readingPayload("n1", boot, seq), { qos: 1 });
    for (const [boot, seq] of [[1, 1], [1, 2], [1, 2], [1, 1], [1, 5], [2, 1], [2, 2]]) {
      await send(boot, seq);
    }
    await until(() => run.collector.stats.totals.received === 7, 5000, "7 messages at the collector");
    await run.stop();
    await pub.endAsync();
    const [s] = await store.summary();
    // (1,2) again: a duplicate in memory; (1,1) again: stored already, the unique index says so.
    expect(s).toMatchObject({ node: "n1", readings: 5, duplicates: 2, gaps: 2, reboots: 1, boot: 2, seq: 2 });
    expect((await store.readings({ node: "n1", fromMs: 0, toMs: Date.now() + 1000, limit: 100 })).map((r) => `${r.boot}/${r.seq}`).sort()).toEqual(["1/1", "1/2", "1/5", "2/1", "2/2"]);
    expect(run.collector.stats.totals).toMatchObject({ stored: 5, duplicates: 2, gaps: 2, reboots: 1 });
    await store.close();
  });

  it("acknowledges a reading to the broker only once it is committed", async () => {
    const prefix = uniquePrefix("collect-ack");
    const inner = await freshStore();
    let release: () => void = () => undefined;
    const released = new Promise<void>((r) => (release = r));
    let writes = 0;
    // The store commits only when the test says so.
    const store: Store = Object.assign(Object.create(inner) as Store, {
      write: async (batch: Parameters<Store["write"]>[0]) => {
        writes++;
        await released;
        return inner.write(batch);
      },
    });
    const clientId = `${prefix}-c`;
    const acks: number[] = [];
    const onAck = (_packet: unknown, client: { id: string } | null): void => {
      if (client?.id === clientId) acks.push(Date.now());
    };
    broker.aedes.on("ack", onAck);
    const run = await startCollector({ target, store, prefix, clientId });
    const pub = await publisher();
    for (let seq = 1; seq <= 20; seq++) {
      await pub.publishAsync(`${prefix}/sensor_data`, readingPayload("n1", 1, seq), { qos: 1 });
    }
    await until(() => run.collector.stats.totals.received === 20, 5000, "20 messages at the collector");
    await sleep(300);
    expect(writes).toBeGreaterThan(0);
    expect(acks).toEqual([]);
    release();
    await until(() => acks.length === 20, 5000, "20 PUBACKs from the collector");
    expect(await stored(inner, "n1")).toHaveLength(20);
    broker.aedes.removeListener("ack", onAck);
    await run.stop();
    await pub.endAsync();
    await inner.close();
  });
});
