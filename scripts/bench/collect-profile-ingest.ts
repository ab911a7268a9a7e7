/**
 * Profiling aid for the collector's ingest (not part of bench:collect): the
 * ingest run's collector half only, PGlite in its worker, against a mosquitto
 * this script starts. Run under `node --cpu-prof` to see where the
 * collector's thread and the PGlite worker spend their time:
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx scripts/bench/collect-profile-ingest.ts [readings per node] [--in-thread]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openPgliteStore } from "../../ops/collect/pglite-store";
import { openPgliteWorkerStore } from "../../ops/collect/pglite-worker-store";
import { Mosquitto } from "../../test/e2e/support/mosquitto";
import { viaMqtt } from "./collect-ingest";

const perNode = Number(process.argv[2] ?? "1000");
const inThread = process.argv.includes("--in-thread");
const dir = mkdtempSync(join(tmpdir(), "espfleet-profile-ingest-"));
const mosquitto = await Mosquitto.start();
try {
  const target = { url: `mqtt://127.0.0.1:${mosquitto.port}`, host: "127.0.0.1", port: mosquitto.port, secure: false, username: "", password: "", ca: undefined, embedded: false };
  const open = () => (inThread ? openPgliteStore({ dataDir: join(dir, "db") }) : openPgliteWorkerStore({ dataDir: join(dir, "db") }));
  const { rate } = await viaMqtt({ target, nodes: 20, perNode, batch: 1000 }, open, "profile-ingest");
  process.stdout.write(`${Math.round(rate)} readings/s (${inThread ? "PGlite in this thread" : "PGlite in a worker"})\n`);
} finally {
  await mosquitto.close();
  rmSync(dir, { recursive: true, force: true });
}
