/**
 * The worker thread's side of a store in a worker (store-worker.ts is the
 * other): open the store, then answer each call with its value or its error.
 * Calls are not serialised here: the store does that as it does for callers
 * in one thread (PGlite runs one query at a time; a transaction holds it).
 * After `close` is answered the port is closed, so the thread ends.
 */
import type { MessagePort } from "node:worker_threads";
import type { Store } from "./store";
import { toWire, type FromStoreWorker, type StoreCall } from "./store-worker-protocol";

export async function serveStore(port: MessagePort, open: (progress: (line: string) => void) => Promise<Store>): Promise<void> {
  const post = (message: FromStoreWorker): void => port.postMessage(message);
  let store: Store;
  try {
    store = await open((line) => post({ type: "progress", line }));
  } catch (error) {
    post({ type: "open-failed", error: toWire(error) });
    port.close();
    return;
  }
  port.on("message", (call: StoreCall) => {
    const method = store[call.method] as (...args: unknown[]) => Promise<unknown>;
    method.apply(store, call.args).then(
      (value) => {
        post({ type: "reply", id: call.id, value });
        if (call.method === "close") {
          port.close();
        }
      },
      (error: unknown) => post({ type: "failed", id: call.id, error: toWire(error) }),
    );
  });
  post({ type: "opened", description: store.description });
}
