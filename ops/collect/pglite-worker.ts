/**
 * The body of the PGlite worker thread (started by pglite-worker-store.ts:
 * the bundled CLI's built pglite-worker.js, or from the sources through
 * pglite-worker-entry.js): the embedded store, SQL and all, runs
 * here, so its commits (WebAssembly, synchronous while a query runs) do not
 * stop the collector's thread from reading MQTT, decoding and acknowledging.
 */
import { parentPort, workerData } from "node:worker_threads";
import { COLLECT_DEBUG, startLoopMonitor, watchFileWrites } from "./debug-timing";
import { openPgliteStore, type PgliteStoreOptions } from "./pglite-store";
import { serveStore } from "./store-worker-host";

/** PgliteStoreOptions as they cross into the thread: the progress callback becomes a flag. */
export type PgliteWorkerData = Omit<PgliteStoreOptions, "progress"> & { progress: boolean };

if (parentPort === null) {
  throw new Error("pglite-worker.ts runs in a worker thread (pglite-worker-store.ts starts it)");
}
const options = workerData as PgliteWorkerData;
// Its timer is unref'd: it does not keep the thread alive once the store is closed.
if (COLLECT_DEBUG) {
  watchFileWrites();
  startLoopMonitor("PGlite worker");
}
await serveStore(parentPort, (progress) => {
  const { progress: wanted, ...rest } = options;
  return openPgliteStore({ ...rest, ...(wanted ? { progress } : {}) });
});
