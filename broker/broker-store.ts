/**
 * Where the embedded broker keeps its sessions: a folder (LevelDB, via
 * `level`: subscriptions, retained messages and wills through
 * aedes-persistence-level in the sublevel `aedes`, the queued messages
 * through session-queues.ts in the sublevel `queues`) that outlives espfleet,
 * or memory, gone when espfleet stops. One process at a time may open a
 * folder (LevelDB's LOCK).
 */
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import memoryPersistence from "aedes-persistence";
import levelPersistence from "aedes-persistence-level";
import { Level } from "level";
import { CliError } from "../common/errors";
import { countOf, formatCount } from "../common/units";
import { DropCounter } from "./drop-counter";
import { LevelQueueStore, MemoryQueueStore, type QueueStore } from "./queue-store";
import { type InnerPersistence, SessionPersistence } from "./session-persistence";
import { SessionQueues } from "./session-queues";

/** `--broker-store` default, relative to the current folder. */
export const DEFAULT_BROKER_STORE = ".espfleet/broker";
/**
 * `--broker-queue` default: messages kept per offline persistent session.
 * A collector away 10 minutes from 1,000 nodes at 1 Hz needs 600,000 (plus
 * statuses); on disk each costs ~250 B as written and ~60 B once LevelDB
 * has compacted it, so a full queue is 60-250 MB, and 8 bytes of memory.
 */
export const DEFAULT_QUEUE_LIMIT = 1_000_000;

export type BrokerStoreSpec =
  | { kind: "memory" }
  /** ifLocked "memory": the folder is only a default, another run may hold it; then keep this run's sessions in memory, saying so. */
  | { kind: "folder"; folder: string; ifLocked: "fail" | "memory" };

export interface BrokerStore {
  persistence: SessionPersistence;
  /** For people: "memory" or the folder's absolute path. */
  description: string;
  /** What it held when opened. */
  found: { sessions: number; messages: number };
  /** A line for the operator when the store is not what was asked for (the folder was in use). */
  note?: string;
  /** Publish the last drop counts (while the broker still runs); close the folder (after the broker). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface OpenBrokerStoreOptions {
  spec: BrokerStoreSpec;
  /** Messages kept per offline persistent session (--broker-queue). */
  queueLimit: number;
  /** Lines for the operator: full queues, write errors. */
  log: (line: string) => void;
}

export async function openBrokerStore(options: OpenBrokerStoreOptions): Promise<BrokerStore> {
  const { spec } = options;
  if (spec.kind === "memory") {
    return assemble(options, memoryPersistence() as unknown as InnerPersistence, new MemoryQueueStore(), "memory", async () => undefined);
  }
  const folder = resolve(spec.folder);
  const db = await openFolder(folder, spec);
  if (db === undefined) {
    const memory = await openBrokerStore({ ...options, spec: { kind: "memory" } });
    memory.note =
      `note: ${spec.folder} is in use by another process (another espfleet run?): this broker keeps its sessions in memory only, ` +
      "lost when it stops; give it a folder of its own with --broker-store <folder>";
    return memory;
  }
  const inner = levelPersistence(db.sublevel<string, Buffer>("aedes", { valueEncoding: "buffer" })) as InnerPersistence;
  const queues = new LevelQueueStore(db.sublevel<string, Buffer>("queues", { valueEncoding: "buffer" }), folder, (error) =>
    options.log(`broker: could not write to ${folder}: ${error.message} (acknowledged messages may be delivered again)`),
  );
  return assemble(options, inner, queues, folder, () => db.close());
}

async function openFolder(folder: string, spec: { folder: string; ifLocked: "fail" | "memory" }): Promise<Level<string, Buffer> | undefined> {
  try {
    mkdirSync(folder, { recursive: true });
  } catch (error) {
    throw new CliError(`--broker-store ${spec.folder}: cannot make the folder: ${(error as Error).message}; give a folder you can write to, or memory`, 2);
  }
  const db = new Level<string, Buffer>(folder, { valueEncoding: "buffer" });
  try {
    await db.open();
    return db;
  } catch (error) {
    const cause = (error as Error & { cause?: Error & { code?: string } }).cause;
    if (cause?.code === "LEVEL_LOCKED") {
      if (spec.ifLocked === "memory") {
        return undefined;
      }
      throw new CliError(
        `--broker-store ${spec.folder} is in use by another process (another espfleet run?); stop it, or give this run another folder or --broker-store memory`,
      );
    }
    throw new CliError(
      `cannot open the broker's folder ${spec.folder}: ${cause?.message ?? (error as Error).message}; ` +
        "move it away to start with no stored sessions, or run with --broker-store memory",
    );
  }
}

async function assemble(
  options: OpenBrokerStoreOptions,
  inner: InnerPersistence,
  store: QueueStore,
  description: string,
  closeFolder: () => Promise<void>,
): Promise<BrokerStore> {
  let persistence: SessionPersistence | undefined = undefined;
  const drops = new DropCounter({
    limit: options.queueLimit,
    publish: (topic, payload) => persistence?.publishRetained(topic, payload) ?? Promise.resolve(),
    log: options.log,
  });
  const queues = new SessionQueues({ store, limit: options.queueLimit, onDrop: (clientId) => drops.dropped(clientId) });
  try {
    await queues.load();
  } catch (error) {
    await closeFolder();
    throw new CliError(`cannot read the queued messages in ${description}: ${(error as Error).message}; move the folder away to start with no stored sessions`);
  }
  persistence = new SessionPersistence(inner, queues, drops);
  let closed: Promise<void> | undefined = undefined;
  return {
    persistence,
    description,
    found: queues.totals(),
    flush: () => drops.close(),
    close() {
      closed ??= store.close().then(closeFolder);
      return closed;
    },
  };
}

/** The line `espfleet run` prints about the store. */
export function describeStore(store: BrokerStore, queueLimit: number): string {
  const limit = `at most ${formatCount(queueLimit)} messages per offline session (--broker-queue)`;
  if (store.description === "memory") {
    return `broker sessions in memory (lost when this run stops; --broker-store <folder> keeps them), ${limit}`;
  }
  const found = store.found.messages > 0 ? `; found ${countOf(store.found.messages, "message")} queued for ${countOf(store.found.sessions, "session")}` : "";
  return `broker sessions kept in ${store.description}, ${limit}${found}`;
}
