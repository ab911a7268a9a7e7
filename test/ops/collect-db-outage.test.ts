/**
 * The database goes away under the collector and comes back: a simulated
 * fleet keeps publishing to the embedded aedes broker while the test's
 * PostgreSQL server is stopped (pg_ctl stop -m immediate) and started again.
 * The collector says what happened, acknowledges nothing meanwhile, retries,
 * and in the end every reading the nodes published is stored once: the
 * same set an independent observer (a persistent MQTT session) heard.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPgStore } from "../../ops/collect/pg-store";
import { startAedes, type BrokerUnderTest } from "../e2e/support/brokers";
import { Observer, sleep, until } from "../e2e/support/observer";
import { startTestFleet, uniquePrefix } from "../e2e/support/test-fleet";
import { startCollector } from "./support/collector-harness";
import { PostgresServer, postgresMissing } from "./support/postgres-server";

const missing = postgresMissing();

describe.skipIf(missing !== undefined)(`a database outage${missing !== undefined ? ` (skipped: ${missing})` : ""}`, () => {
  let server: PostgresServer;
  let broker: BrokerUnderTest;
  beforeAll(async () => {
    server = await PostgresServer.start();
    broker = await startAedes();
  });
  afterAll(async () => {
    await broker?.close();
    await server?.close();
  });

  it("loses nothing: what arrives while PostgreSQL is down is committed once it is back", { timeout: 120_000 }, async () => {
    const prefix = uniquePrefix("outage");
    const store = await openPgStore({ url: await server.createDatabase("outage"), connectTimeoutMs: 2000 });
    const observer = await Observer.connect(broker.url, `${prefix}-obs`, prefix);
    const run = await startCollector({ target: broker.target, store, prefix, clientId: `${prefix}-c`.slice(0, 23), retryMaxMs: 1000 });
    const { fleet } = await startTestFleet(broker, { nodes: 3, prefix, initial: { interval_ms: 100 } });
    await until(() => run.collector.stats.totals.stored >= 30, 10_000, "readings stored before the outage");

    await server.stop();
    const storedAtStop = run.collector.stats.totals.stored;
    await until(() => run.log.some((l) => l.startsWith("database error")), 10_000, "the collector to report the database error");
    await sleep(3000);
    const waitingDuringOutage = run.collector.waiting;
    await server.restart();
    await until(() => run.log.some((l) => l.startsWith("database back")), 15_000, "the collector to report the database back");
    await sleep(500);
    await fleet.stop();
    await until(() => run.collector.waiting === 0, 15_000, "everything committed");
    await sleep(500);
    expect(await run.stop()).toBe(true);

    // Readings kept arriving during the outage, and none was committed (or acknowledged) then.
    expect(waitingDuringOutage).toBeGreaterThan(20);
    expect(run.collector.stats.totals.stored).toBeGreaterThan(storedAtStop + 20);
    const summary = await store.summary();
    expect(summary).toHaveLength(3);
    for (const s of summary) {
      const heard = [...new Set(observer.of(s.node).map((r) => r.seq))].sort((a, b) => a - b);
      const rows = await store.readings({ node: s.node, fromMs: 0, toMs: Date.now() + 86_400_000, limit: 100_000 });
      expect(rows.map((r) => r.seq)).toEqual(heard);
      expect([s.readings, s.gaps]).toEqual([heard.length, 0]);
    }
    expect(run.log.find((l) => l.startsWith("database error"))).toMatch(/messages wait uncommitted and unacknowledged/);
    await observer.close();
    await store.close();
  });
});
