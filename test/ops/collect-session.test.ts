/**
 * The collector's persistent session, against both brokers (the embedded
 * aedes and a real mosquitto): what the collector had not committed comes
 * back to the next collector with the same client id, and what the broker
 * queued while it was away is stored — including messages that arrive in
 * the same TCP read as the CONNACK (mosquitto sends them at once: a handler
 * attached once 'connect' has fired loses them, acknowledged).
 */
import { PGlite } from "@electric-sql/pglite";
import mqtt, { type MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPgliteStore } from "../../ops/collect/pglite-store";
import type { Store } from "../../ops/collect/store";
import { startAedes, startMosquitto, type BrokerUnderTest } from "../e2e/support/brokers";
import { uniquePrefix } from "../e2e/support/test-fleet";
import { until } from "../e2e/support/observer";
import { readingPayload, startCollector } from "./support/collector-harness";

let template: Blob;
beforeAll(async () => {
  const db = await PGlite.create();
  template = await db.dumpDataDir("none");
  await db.close();
});

async function stored(store: Store, node: string): Promise<number[]> {
  return (await store.readings({ node, fromMs: 0, toMs: Date.now() + 86_400_000, limit: 100_000 })).map((r) => r.seq);
}

for (const [name, start] of [
  ["aedes (embedded)", startAedes],
  ["mosquitto", startMosquitto],
] as const) {
  describe(`the collector's session on ${name}`, () => {
    let broker: BrokerUnderTest;
    beforeAll(async () => {
      broker = await start();
    });
    afterAll(async () => {
      await broker?.close();
    });
    const publisher = (): Promise<MqttClient> => mqtt.connectAsync(broker.url, { clientId: `pub-${Math.random().toString(36).slice(2, 10)}`, protocolVersion: 4 });

    it("what was received but not committed is delivered again to the next collector (same client id), and stored once", async () => {
      const prefix = uniquePrefix("collect-redeliver");
      const clientId = `${prefix}-c`.slice(0, 23);
      const store = await openPgliteStore({ loadDataDir: template });
      // The first collector's database is down the whole time.
      const down: Store = Object.assign(Object.create(store) as Store, { write: () => Promise.reject(new Error("ECONNREFUSED")) });
      const first = await startCollector({ target: broker.target, store: down, prefix, clientId, retryMaxMs: 100 });
      const pub = await publisher();
      for (let seq = 1; seq <= 30; seq++) {
        await pub.publishAsync(`${prefix}/sensor_data`, readingPayload("n1", 1, seq), { qos: 1 });
      }
      await until(() => first.collector.stats.totals.received === 30, 5000, "30 messages at the first collector");
      expect(await first.stop(300)).toBe(false);
      expect(first.log.some((l) => l.startsWith("database error"))).toBe(true);
      const second = await startCollector({ target: broker.target, store, prefix, clientId });
      await until(() => second.collector.stats.totals.stored === 30, 10_000, "30 readings stored by the second collector");
      await second.stop();
      await pub.endAsync();
      expect(await stored(store, "n1")).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
      await store.close();
    });

    it("messages queued while the collector was away are all stored, even those that come with the CONNACK", async () => {
      const prefix = uniquePrefix("collect-queued");
      const clientId = `${prefix}-c`.slice(0, 23);
      const store = await openPgliteStore({ loadDataDir: template });
      const first = await startCollector({ target: broker.target, store, prefix, clientId });
      await first.stop();
      const pub = await publisher();
      for (let seq = 1; seq <= 300; seq++) {
        await pub.publishAsync(`${prefix}/sensor_data`, readingPayload(`n${seq % 3}`, 1, Math.ceil(seq / 3)), { qos: 1 });
      }
      const second = await startCollector({ target: broker.target, store, prefix, clientId });
      expect(second.log[0]).toBe("connected, session present: true");
      await until(() => second.collector.stats.totals.stored === 300, 10_000, "300 queued readings stored");
      await second.stop();
      await pub.endAsync();
      expect((await store.summary()).map((s) => [s.node, s.readings, s.gaps, s.duplicates])).toEqual([
        ["n0", 100, 0, 0],
        ["n1", 100, 0, 0],
        ["n2", 100, 0, 0],
      ]);
      await store.close();
    });
  });
}
