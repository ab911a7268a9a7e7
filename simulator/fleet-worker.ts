/**
 * A worker process of `espfleet run --workers N`: runs one contiguous range
 * of nodes as a Fleet and reports to the parent over IPC. The parent owns the
 * terminal and Ctrl-C; a worker ignores SIGINT (the terminal sends it to the
 * whole process group) and stops cleanly when told, or when the parent dies.
 * If it dies otherwise, the parent starts it again (worker-fleet.ts).
 */
import { Fleet } from "./fleet";
import { FleetLog } from "./fleet-log";
import type { FromWorker, ToWorker, WorkerFleetOptions } from "./fleet-worker-protocol";

const SNAPSHOT_EVERY_MS = 250;

function send(message: FromWorker): void {
  process.send?.(message);
}

let fleet: Fleet | undefined = undefined;
let reporter: NodeJS.Timeout | undefined = undefined;
let stopping = false;

async function start(options: WorkerFleetOptions): Promise<void> {
  const log = new FleetLog({ level: options.logLevel, verbose: options.verbose, print: (line) => send({ type: "line", line }) });
  const { caBase64, certBase64, keyBase64, ...broker } = options.broker;
  const fromBase64 = (text: string | undefined): Buffer | undefined => (text !== undefined ? Buffer.from(text, "base64") : undefined);
  fleet = new Fleet({
    ...options,
    broker: { ...broker, ca: fromBase64(caBase64), cert: fromBase64(certBase64), key: fromBase64(keyBase64) },
    log: (id, level, text) => log.write(id, level, text),
  });
  const running = fleet;
  reporter = setInterval(() => send({ type: "snapshot", snapshot: running.snapshot() }), SNAPSHOT_EVERY_MS);
  await running.start();
  send({ type: "started", keptStored: running.keptStored });
}

async function stop(): Promise<void> {
  if (stopping) {
    return;
  }
  stopping = true;
  if (fleet !== undefined) {
    await fleet.stop();
    clearInterval(reporter);
    send({ type: "stopped", snapshot: fleet.snapshot() });
  }
  process.disconnect?.();
  process.exit(0);
}

process.on("SIGINT", () => undefined);
process.on("disconnect", () => void stop());
process.on("message", (message: ToWorker) => {
  if (message.type === "start") {
    start(message.options).catch((error: unknown) => {
      // Exit once the message is out: the parent must know this was a setup error, not a crash to restart from.
      const failed: FromWorker = { type: "failed", message: (error as Error).message };
      if (process.send !== undefined) {
        process.send(failed, undefined, undefined, () => process.exit(1));
      } else {
        process.exit(1);
      }
    });
  } else if (message.type === "stop") {
    void stop();
  }
});
