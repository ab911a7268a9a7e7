/**
 * `npm run bench:collect`'s end-to-end run: N simulated nodes at 1 Hz into a
 * broker, the collector storing into a fresh PGlite folder (or PostgreSQL), for a window
 * after a warm-up; the lag of every reading sent in the window, from its
 * publish to its commit; then the nodes stop, the collector drains, and the
 * database is counted: every acknowledged reading stored, none twice.
 */
import { join } from "node:path";
import type { BrokerTarget } from "../../broker/target";
import { formatCount } from "../../common/units";
import { openPgStore } from "../../ops/collect/pg-store";
import { COLLECT_DEBUG, debugLine, startLoopMonitor } from "../../ops/collect/debug-timing";
import { openPgliteWorkerStore } from "../../ops/collect/pglite-worker-store";
import { startCollector } from "../../test/ops/support/collector-harness";
import { SimulatedNodes, stopWhenStored } from "./collect-bench-children";
import { countPgRows, countRows } from "./count-rows";
import { CpuWindow, type CpuShare } from "./proc-cpu";
import { Lags, SendTimes, timedStore } from "./timed-store";

export interface E2eOptions {
  target: BrokerTarget;
  dir: string;
  /** A PostgreSQL database URL; default a fresh PGlite folder in `dir`. */
  postgres?: string;
  nodes: number;
  windowMs: number;
  warmupMs: number;
  /** Processes the nodes are spread over. */
  processes: number;
  /** The broker's process, when it runs apart (mosquitto), for its CPU time. */
  brokerPid?: number;
  log: (line: string) => void;
}

export interface E2eResult {
  nodes: number;
  windowS: number;
  /** Readings stored per second during the window. */
  rate: number;
  p50: number;
  p99: number;
  max: number;
  acked: number;
  stored: number;
  lost: number;
  duplicateRows: number;
  duplicateDeliveries: number;
  gaps: number;
  /** CPU seconds of each part during the window (Linux): the nodes, the broker, the collector (both its threads). */
  cpu: CpuShare[];
}

const PREFIX = "bench-e2e";

export async function runE2e(options: E2eOptions): Promise<E2eResult> {
  const lags = new Lags();
  const sendTimes = new SendTimes();
  let window = { from: Number.POSITIVE_INFINITY, to: Number.POSITIVE_INFINITY };
  const dataDir = join(options.dir, "e2e-pglite");
  const db = options.postgres !== undefined ? await openPgStore({ url: options.postgres }) : await openPgliteWorkerStore({ dataDir });
  const stopMonitor = COLLECT_DEBUG ? startLoopMonitor("collector thread") : undefined;
  let lastCommit = Date.now();
  const store = timedStore(db, (readings, at) => {
    lags.add(sendTimes.lags(readings, at, window.from, window.to));
    if (COLLECT_DEBUG && at - lastCommit >= 500) {
      // A gap between commits as the collector's thread saw it (the worker's side says whether the transaction was slow).
      debugLine(`collector thread: ${at - lastCommit} ms since the last commit; this one ${readings.length} readings`);
    }
    lastCommit = at;
  });
  const collector = await startCollector({ target: options.target, store, prefix: PREFIX, clientId: "bench-e2e", tap: sendTimes.tap });
  try {
    options.log(`  connecting ${formatCount(options.nodes)} simulated nodes…`);
    const connectStarted = performance.now();
    const nodes = await SimulatedNodes.start({ port: options.target.port, prefix: PREFIX, intervalMs: 1000, connectRate: 2000 }, options.nodes, options.processes);
    options.log(`  connected in ${((performance.now() - connectStarted) / 1000).toFixed(1)} s; publishing at 1 Hz each, warm-up ${options.warmupMs / 1000} s, window ${options.windowMs / 1000} s`);
    nodes.publish();
    await sleep(options.warmupMs);
    const stored0 = collector.collector.stats.totals.stored;
    const cpu = new CpuWindow([
      { name: "nodes", pids: nodes.pids },
      ...(options.brokerPid !== undefined ? [{ name: "broker", pids: [options.brokerPid] }] : []),
      { name: "collector", pids: [process.pid] },
    ]);
    cpu.start();
    window = { from: Date.now(), to: Date.now() + options.windowMs };
    await sleep(options.windowMs);
    const storedInWindow = collector.collector.stats.totals.stored - stored0;
    const cpuShares = cpu.stop();
    const final = await nodes.stop();
    // Drained: everything the broker acknowledged is committed (at most a minute more).
    await stopWhenStored(collector, final.acked);
    const gaps = (await db.summary()).reduce((n, s) => n + s.gaps, 0);
    await db.close();
    const counted = options.postgres !== undefined ? await countPgRows(options.postgres) : await countRows(dataDir);
    return {
      nodes: options.nodes,
      windowS: options.windowMs / 1000,
      rate: storedInWindow / (options.windowMs / 1000),
      p50: lags.percentile(50),
      p99: lags.percentile(99),
      max: lags.percentile(100),
      acked: final.acked,
      stored: counted.rows,
      lost: Math.max(0, final.acked - counted.distinct),
      duplicateRows: counted.rows - counted.distinct,
      duplicateDeliveries: collector.collector.stats.totals.duplicates,
      gaps,
      cpu: cpuShares,
    };
  } finally {
    stopMonitor?.();
    await db.close().catch(() => undefined);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
