/**
 * The embedded broker: aedes in this process on loopback, so `espfleet run`
 * (and `npm start`) work on a machine with nothing else installed. For more
 * than a few thousand nodes use mosquitto or a cluster (`--broker`): aedes
 * shares this process's one event loop with the nodes.
 *
 * Its sessions (subscriptions of persistent clients, their queued QoS 1/2
 * messages, retained messages) live in memory by default, or in a folder
 * (`store`, broker-store.ts) that survives a restart and a `kill -9`.
 * Sessions can be made before any client comes (`sessions`), so a
 * collector started after the fleet still gets every reading.
 */
import { createServer, type Server } from "node:net";
import { Aedes, type AedesOptions } from "aedes";
import { CliError } from "../common/errors";
import { type BrokerStore, type BrokerStoreSpec, DEFAULT_QUEUE_LIMIT, openBrokerStore } from "./broker-store";
import { SessionPersistence } from "./session-persistence";

export interface EmbeddedBroker {
  url: string;
  host: string;
  port: number;
  aedes: Aedes;
  /** Where the sessions are kept; undefined when the caller passed its own persistence in `aedes`. */
  store?: BrokerStore;
  /** Disconnect every client and stop listening (and close the store). */
  close(): Promise<void>;
}

/** A persistent session made at start, as its client would make it (clean session off, these subscriptions at QoS 1). */
export interface PresetSession {
  clientId: string;
  topics: string[];
}

export interface EmbeddedBrokerOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Where sessions are kept (default: memory). */
  store?: BrokerStoreSpec;
  /** Most messages kept per offline persistent session; newer ones are dropped and counted (default DEFAULT_QUEUE_LIMIT). */
  queueLimit?: number;
  /** Sessions to make before listening, when they do not exist yet. */
  sessions?: PresetSession[];
  /** Lines for the operator: full queues, write errors (default: none). */
  log?: (line: string) => void;
  /** Passed to aedes (e.g. the persistence of a previous instance, to restart with its sessions). */
  aedes?: AedesOptions;
}

export async function startEmbeddedBroker(options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const host = options.host ?? "127.0.0.1";
  const wanted = options.port ?? 1883;
  const given: unknown = options.aedes?.persistence;
  const store =
    given === undefined
      ? await openBrokerStore({ spec: options.store ?? { kind: "memory" }, queueLimit: options.queueLimit ?? DEFAULT_QUEUE_LIMIT, log: options.log ?? (() => undefined) })
      : undefined;
  const persistence = given ?? store?.persistence;
  let aedes: Aedes;
  try {
    aedes = await Aedes.createBroker({
      // A node that stops reading must not stall delivery to the rest of the fleet.
      drainTimeout: 10_000,
      concurrency: 1000,
      // A resuming session gets its queue first; a QoS 1 message is queued before its PUBACK (session-persistence.ts);
      // live messages pass by our filter, not aedes' (live-filter.ts).
      ...(persistence instanceof SessionPersistence
        ? {
            preConnect: persistence.preConnect.bind(persistence),
            authorizePublish: persistence.authorizePublish.bind(persistence),
            authorizeForward: persistence.authorizeForward.bind(persistence),
          }
        : {}),
      ...options.aedes,
      persistence,
    });
    await presetSessions(aedes, options.sessions ?? []);
  } catch (error) {
    await store?.close();
    throw error;
  }
  const closeAll = async (): Promise<void> => {
    // The last drop counts are published while the broker still runs; the folder is closed after it.
    await store?.flush();
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await store?.close();
  };
  const server: Server = createServer(aedes.handle);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(wanted, host, () => {
        server.removeListener("error", reject);
        resolve();
      });
    });
  } catch (error) {
    await closeAll();
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") {
      throw new CliError(
        `cannot start the embedded broker: ${host}:${wanted} is in use (another broker?); ` +
          `pass --port <free port>, or --broker mqtt://${host}:${wanted} to use the broker already running there`,
      );
    }
    throw new CliError(`cannot start the embedded broker on ${host}:${wanted}: ${(error as Error).message}`);
  }
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : wanted;
  let closing: Promise<void> | undefined = undefined;
  return {
    url: `mqtt://${host}:${port}`,
    host,
    port,
    aedes,
    ...(store !== undefined ? { store } : {}),
    close() {
      closing ??= (async () => {
        server.close();
        await closeAll();
      })();
      return closing;
    },
  };
}

/**
 * Make each preset session that does not exist yet: its subscriptions are
 * stored as the client's own SUBSCRIBE would store them, so messages are
 * queued for it from now on, and its first CONNECT finds the session.
 */
async function presetSessions(aedes: Aedes, sessions: PresetSession[]): Promise<void> {
  const persistence = (aedes as Aedes & { persistence: SessionPersistence }).persistence;
  for (const session of sessions) {
    const client = { id: session.clientId };
    const existing = await persistence.subscriptionsByClient(client);
    if (!Array.isArray(existing) || existing.length === 0) {
      await persistence.addSubscriptions(
        client,
        session.topics.map((topic) => ({ topic, qos: 1 })),
      );
    }
  }
}
