/**
 * The embedded store as the collector uses it: PGlite (pglite-store.ts) in a
 * worker thread of its own (pglite-worker.ts), behind the same Store
 * interface. PGlite is WebAssembly that runs synchronously while a query
 * runs: in the collector's thread each commit stopped MQTT reading,
 * decoding and acknowledging for its whole length. In a worker, the next
 * batch fills while this one commits, on the other core.
 *
 * One-shot readers (`espfleet query`, the console reading a folder no
 * collector holds) open PGlite in their own thread (openPgliteStore): they
 * have nothing to overlap, and starting the thread costs 0.5-1 s (PGlite's
 * WebAssembly compiled again in it; from the sources, tsx too).
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { PgliteStoreOptions } from "./pglite-store";
import type { PgliteWorkerData } from "./pglite-worker";
import type { Store } from "./store";
import { openStoreInWorker } from "./store-worker";

/** The worker from the sources: plain JavaScript that loads the TypeScript through tsx (ESPFLEET_TSX=1, vitest, the benchmarks). */
const SOURCE_ENTRY = new URL("./pglite-worker-entry.js", import.meta.url);
/**
 * Defined by the bundle's banner (scripts/build-cli.mjs) as the URL of the
 * bundle file this code runs from; undeclared when it runs from the sources.
 */
declare const __espfleetBundleUrl: string | undefined;

/**
 * The bundled CLI's own pglite-worker.js, next to it (plain JavaScript, no
 * tsx: a development dependency); the sources' entry otherwise, or when a
 * newer build has removed this one's folder meanwhile.
 */
function workerEntry(): URL {
  if (typeof __espfleetBundleUrl === "string") {
    const built = new URL("./pglite-worker.js", __espfleetBundleUrl);
    if (existsSync(fileURLToPath(built))) {
      return built;
    }
  }
  return SOURCE_ENTRY;
}

export function openPgliteWorkerStore(options: PgliteStoreOptions = {}): Promise<Store> {
  const { progress, ...rest } = options;
  const workerData: PgliteWorkerData = { ...rest, progress: progress !== undefined };
  return openStoreInWorker({ entry: workerEntry(), workerData, ...(progress !== undefined ? { progress } : {}), name: "the PGlite worker thread" });
}
