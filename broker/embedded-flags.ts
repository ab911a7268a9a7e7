/**
 * `espfleet run`'s options for the embedded broker (registered in
 * cli/commands/embedded-broker.ts) turned into startEmbeddedBroker's
 * options: where its sessions are kept, how many messages each offline
 * session may queue, and the collector's session made at start.
 */
import { CliError } from "../common/errors";
import { type BrokerStoreSpec, DEFAULT_BROKER_STORE, DEFAULT_QUEUE_LIMIT } from "./broker-store";
import { collectorTopics } from "./collector-session";
import type { EmbeddedBrokerOptions } from "./embedded";

/** The embedded broker's usual port (`run --port`): the broker whose sessions `.espfleet/broker` holds. */
export const DEFAULT_EMBEDDED_PORT = 1883;

export interface EmbeddedBrokerFlags {
  /**
   * A folder, or "memory". Default: DEFAULT_BROKER_STORE for a broker on the
   * default port (memory when another process holds it), memory on any
   * other port.
   */
  brokerStore?: string;
  /** Messages kept per offline persistent session (default DEFAULT_QUEUE_LIMIT). */
  brokerQueue?: number;
  /** Client id of a collector whose session is made at start. */
  collectorSession?: string;
}

/**
 * The store, the limit and the preset session; `fleet` gives the collector
 * session its topics. Without --broker-store only the broker on the default
 * port keeps its sessions in `.espfleet/broker`: one on another port (0, a
 * test's, a second one beside it) is another broker, whose sessions must not
 * mix with that one's, so it keeps them in memory as before.
 */
export function embeddedBrokerOptions(
  flags: EmbeddedBrokerFlags,
  fleet: { prefix: string; topicData: string; port: number },
): Pick<EmbeddedBrokerOptions, "store" | "queueLimit" | "sessions"> {
  const store: BrokerStoreSpec =
    flags.brokerStore === undefined
      ? fleet.port === DEFAULT_EMBEDDED_PORT
        ? { kind: "folder", folder: DEFAULT_BROKER_STORE, ifLocked: "memory" }
        : { kind: "memory" }
      : flags.brokerStore === "memory"
        ? { kind: "memory" }
        : { kind: "folder", folder: flags.brokerStore, ifLocked: "fail" };
  const sessions =
    flags.collectorSession !== undefined ? [{ clientId: flags.collectorSession, topics: collectorTopics(fleet.prefix, fleet.topicData, flags.collectorSession) }] : [];
  return { store, queueLimit: flags.brokerQueue ?? DEFAULT_QUEUE_LIMIT, sessions };
}

/** These options set up the embedded broker: with --broker they would do nothing, so they are refused. */
export function refuseWithExternalBroker(flags: EmbeddedBrokerFlags): void {
  const given = (
    [
      ["brokerStore", "--broker-store"],
      ["brokerQueue", "--broker-queue"],
      ["collectorSession", "--collector-session"],
    ] as const
  ).filter(([key]) => flags[key] !== undefined);
  if (given.length > 0) {
    throw new CliError(
      `${given.map(([, name]) => name).join(", ")} ${given.length === 1 ? "sets" : "set"} up the embedded broker, which does not run with --broker; leave ${given.length === 1 ? "it" : "them"} out ` +
        "(mosquitto: persistence and max_queued_messages in its own config, see docs/mosquitto)",
      2,
    );
  }
}
