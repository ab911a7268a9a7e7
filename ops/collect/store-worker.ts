/**
 * A Store whose work runs in a worker thread (node:worker_threads): each call
 * is posted as {id, method, args} and its promise settles with the worker's
 * reply (store-worker-host.ts is the other side, store-worker-protocol.ts the
 * messages). Errors come back with their message and code, so the
 * collector's retries and messages read them as before.
 *
 * A worker that dies (a crash, out of memory, terminated) fails every call
 * waiting for it and every later one: the collector then acknowledges
 * nothing more, since a PUBACK goes only after write() resolves, and the
 * broker keeps what was not committed.
 */
import { Worker } from "node:worker_threads";
import type { Store } from "./store";
import { fromWire, type FromStoreWorker, type StoreCall, type StoreMethod } from "./store-worker-protocol";

/** How long close() waits for the thread to end after the store closed, before terminating it. */
const EXIT_WAIT_MS = 5000;

export interface StoreWorkerOptions {
  /** The worker's entry file (plain JavaScript; see pglite-worker-entry.js). */
  entry: URL;
  /** Given to the worker as workerData: structured-cloneable. */
  workerData: unknown;
  /** Lines the worker says while the store opens. */
  progress?: (line: string) => void;
  /** For people, in the message of a worker that died: "the PGlite worker". */
  name: string;
}

interface Waiting {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

class StoreInWorker implements Store {
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();
  /** Why the worker can take no call: it died, or the store was closed. */
  private gone: Error | undefined = undefined;
  private readonly exited: Promise<void>;
  /** close() was called: the worker's end is expected, not a loss. */
  private closing = false;
  private markLost: (error: Error) => void = () => undefined;
  readonly lost = new Promise<Error>((resolve) => (this.markLost = resolve));

  constructor(
    private readonly worker: Worker,
    readonly description: string,
    private readonly name: string,
  ) {
    worker.on("message", (message: FromStoreWorker) => this.settle(message));
    this.exited = new Promise((resolve) => worker.once("exit", () => resolve()));
  }

  /** The worker stopped: everything waiting fails with `error`, and so will every later call. */
  fail(error: Error): void {
    if (!this.closing) {
      this.markLost(error);
    }
    this.gone ??= error;
    for (const waiting of this.waiting.values()) {
      waiting.reject(error);
    }
    this.waiting.clear();
  }

  private settle(message: FromStoreWorker): void {
    if (message.type !== "reply" && message.type !== "failed") {
      return;
    }
    const waiting = this.waiting.get(message.id);
    this.waiting.delete(message.id);
    if (message.type === "reply") {
      waiting?.resolve(message.value);
    } else {
      waiting?.reject(fromWire(message.error));
    }
  }

  private call<T>(method: StoreMethod, ...args: unknown[]): Promise<T> {
    if (this.gone !== undefined) {
      return Promise.reject(this.gone);
    }
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (value: unknown) => void, reject });
      const call: StoreCall = { type: "call", id, method, args };
      this.worker.postMessage(call);
    });
  }

  positions: Store["positions"] = () => this.call("positions");
  write: Store["write"] = (batch) => this.call("write", batch);
  readings: Store["readings"] = (query) => this.call("readings", query);
  summary: Store["summary"] = () => this.call("summary");
  brokerDrops: Store["brokerDrops"] = () => this.call("brokerDrops");
  fleetMinutes: Store["fleetMinutes"] = (fromMs, toMs) => this.call("fleetMinutes", fromMs, toMs);
  nodeHistory: Store["nodeHistory"] = (query) => this.call("nodeHistory", query);
  nodeMessages: Store["nodeMessages"] = (query) => this.call("nodeMessages", query);
  lastConfigs: Store["lastConfigs"] = () => this.call("lastConfigs");
  prune: Store["prune"] = (beforeMs) => this.call("prune", beforeMs);

  /** Close the store in the worker, then let the thread end. Closing a store whose worker died does nothing. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.gone === undefined) {
      try {
        await this.call("close");
      } finally {
        this.gone = new Error(`${this.description} is closed`);
      }
    }
    let timer: NodeJS.Timeout | undefined = undefined;
    const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), EXIT_WAIT_MS)));
    if ((await Promise.race([this.exited, late])) === "late") {
      await this.worker.terminate();
    }
    clearTimeout(timer);
  }

  /** The death of the worker, for people. */
  died(how: string): Error {
    return new Error(`${this.name} stopped (${how}); nothing further is committed`);
  }
}

/** Start the worker and wait until its store is open; a failed open rejects with the worker's error. */
export function openStoreInWorker(options: StoreWorkerOptions): Promise<Store> {
  const worker = new Worker(options.entry, { workerData: options.workerData });
  return new Promise<Store>((resolve, reject) => {
    let store: StoreInWorker | undefined = undefined;
    worker.on("message", (message: FromStoreWorker) => {
      if (message.type === "progress") {
        options.progress?.(message.line);
      } else if (message.type === "opened") {
        store = new StoreInWorker(worker, message.description, options.name);
        resolve(store);
      } else if (message.type === "open-failed") {
        reject(fromWire(message.error));
      }
    });
    worker.on("error", (error) => {
      if (store === undefined) {
        reject(error);
      } else {
        store.fail(store.died(`an error: ${error.message}`));
      }
    });
    worker.on("exit", (code) => {
      if (store === undefined) {
        reject(new Error(`${options.name} stopped before the store was open (exit code ${code})`));
      } else {
        store.fail(store.died(`exit code ${code}`));
      }
    });
  });
}
