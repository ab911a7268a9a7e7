// Entry of a worker process: TypeScript runs through tsx, as in bin/espfleet.js.
import { register } from "tsx/esm/api";

register();
await import("./fleet-worker.ts");
