// Entry of the PGlite worker thread (pglite-worker-store.ts) run from the
// sources (ESPFLEET_TSX=1, vitest, the benchmarks): plain JavaScript that
// loads the TypeScript through tsx, as simulator/fleet-worker-entry.js does.
// The bundled CLI starts its built pglite-worker.js instead.
import { register } from "tsx/esm/api";

register();
await import("./pglite-worker.ts");
