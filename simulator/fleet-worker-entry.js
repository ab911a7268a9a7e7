// Entry of a worker process run from the sources (ESPFLEET_TSX=1, vitest): TypeScript through tsx,
// as in bin/espfleet.js. The bundled CLI starts the built fleet-worker.js instead (worker-fleet.ts, workerEntry).
import { register } from "tsx/esm/api";

register();
await import("./fleet-worker.ts");
