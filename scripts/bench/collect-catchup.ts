/**
 * `npm run bench:collect`'s catch-up run: the collector is away while N
 * simulated nodes publish at 1 Hz for the outage (its session queued by the
 * broker), then it starts, with the nodes still publishing. Measured: how
 * long until the whole backlog is committed, then until the collector is
 * live again (lag under 2 s); whether every node's readings arrived in
 * order; and, once the nodes stop, that every acknowledged reading is
 * stored once (counted in the database).
 */
import { join } from "node:path";
import type { BrokerTarget } from "../../broker/target";
import { formatCount, formatDuration } from "../../common/units";
import { openPgliteWorkerStore } from "../../ops/collect/pglite-worker-store";
import { startCollector } from "../../test/ops/support/collector-harness";
import { SimulatedNodes, stopWhenStored } from "./collect-bench-children";
import { countRows } from "./count-rows";
import { SendTimes, timedStore } from "./timed-store";

export interface CatchupOptions {
  /** A broker holding the collector's session (`clientId`) already. */
  target: BrokerTarget;
  clientId: string;
  prefix: string;
  dir: string;
  nodes: number;
  outageMs: number;
  processes: number;
  log: (line: string) => void;
}

export interface CatchupResult {
  nodes: number;
  outageS: number;
  backlog: number;
  /** From the collector's start until the backlog was committed. */
  drainS: number;
  /** From the collector's start until readings were committed within 2 s of their publish again. */
  liveS: number;
  /** Readings per transaction while draining: near the collector's --batch (1000), the database is the bottleneck; well under it, the broker. */
  perTransaction: number;
  outOfOrder: number;
  acked: number;
  stored: number;
  lost: number;
  duplicateRows: number;
}

/** Lag under which the collector counts as live again, ms. */
const LIVE_LAG_MS = 2000;

export async function runCatchup(options: CatchupOptions): Promise<CatchupResult> {
  const dataDir = join(options.dir, "catchup-pglite");
  // Opened first: creating the database takes seconds, which is not the catch-up.
  const db = await openPgliteWorkerStore({ dataDir });
  let liveAt: number | undefined = undefined;
  const sendTimes = new SendTimes();
  const store = timedStore(db, (readings, at) => {
    const lags = sendTimes.lags(readings, at);
    if (liveAt === undefined && lags.length > 0 && Math.max(...lags) < LIVE_LAG_MS) {
      liveAt = performance.now();
    }
  });
  try {
    options.log(`  connecting ${formatCount(options.nodes)} simulated nodes…`);
    const nodes = await SimulatedNodes.start({ port: options.target.port, prefix: options.prefix, intervalMs: 1000, connectRate: 2000 }, options.nodes, options.processes);
    options.log(`  the collector is away; the nodes publish at 1 Hz for ${formatDuration(options.outageMs)}…`);
    nodes.publish();
    await sleep(options.outageMs);
    const backlog = (await nodes.stats()).acked;
    options.log(`  ${formatCount(backlog)} readings queued; the collector starts (the nodes go on publishing)`);

    // Each node's readings must come in seq order: a lower seq after a higher one is out of order.
    const lastSeq = new Map<string, number>();
    let outOfOrder = 0;
    const tap = (topic: string, payload: Buffer): void => {
      if (!topic.endsWith("/sensor_data")) {
        return;
      }
      sendTimes.tap(topic, payload);
      const { id, seq } = JSON.parse(payload.toString()) as { id: string; seq: number };
      if (seq <= (lastSeq.get(id) ?? 0)) {
        outOfOrder++;
      }
      lastSeq.set(id, Math.max(seq, lastSeq.get(id) ?? 0));
    };
    const started = performance.now();
    const collector = await startCollector({ target: options.target, store, prefix: options.prefix, clientId: options.clientId, tap });
    while (collector.collector.stats.totals.stored < backlog) {
      await sleep(20);
    }
    const drainS = (performance.now() - started) / 1000;
    const totals = collector.collector.stats.totals;
    const perTransaction = totals.stored / Math.max(1, totals.transactions);
    options.log(`  backlog committed after ${drainS.toFixed(1)} s; waiting for the lag to fall under ${LIVE_LAG_MS / 1000} s`);
    const liveDeadline = performance.now() + 120_000;
    while (liveAt === undefined && performance.now() < liveDeadline) {
      await sleep(100);
    }
    const liveS = ((liveAt ?? Number.NaN) - started) / 1000;
    await sleep(3000);
    const final = await nodes.stop();
    // Drained: everything the broker acknowledged is committed (at most a minute more).
    await stopWhenStored(collector, final.acked);
    // Reconnects and what the collector had to say (database trouble) explain a slow drain.
    for (const line of collector.log) {
      options.log(`  collector: ${line}`);
    }
    options.log(`  collector: ${formatCount(collector.collector.stats.totals.duplicates)} duplicates (redelivered after a reconnect, stored once)`);
    await db.close();
    const counted = await countRows(dataDir);
    return {
      nodes: options.nodes,
      outageS: options.outageMs / 1000,
      backlog,
      drainS,
      liveS,
      perTransaction,
      outOfOrder,
      acked: final.acked,
      stored: counted.rows,
      lost: Math.max(0, final.acked - counted.distinct),
      duplicateRows: counted.rows - counted.distinct,
    };
  } finally {
    await db.close().catch(() => undefined);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
