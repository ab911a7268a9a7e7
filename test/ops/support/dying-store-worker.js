// A stand-in for the PGlite worker (test/ops/store-worker.test.ts): it opens
// a "store" at once, answers every call with null, and on write() exits the
// thread without answering, as a worker that crashes mid-commit would.
import { parentPort, workerData } from "node:worker_threads";

parentPort.on("message", (call) => {
  if (call.method === "write") {
    process.exit(workerData.exitCode);
  }
  parentPort.postMessage({ type: "reply", id: call.id, value: null });
  if (call.method === "close") {
    parentPort.close();
  }
});
parentPort.postMessage({ type: "progress", line: "opening the stand-in" });
parentPort.postMessage({ type: "opened", description: "a stand-in store" });
