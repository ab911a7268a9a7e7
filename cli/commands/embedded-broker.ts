/**
 * `espfleet run`'s options for the embedded broker's sessions, each with its
 * unit and default (the broker itself: broker/embedded.ts, broker-store.ts).
 * No commander defaults: an option left out is undefined, so `run --broker`
 * can refuse one given for nothing.
 */
import { Option, type Command } from "commander";
import { countArg } from "../options";
import { DEFAULT_BROKER_STORE, DEFAULT_QUEUE_LIMIT } from "../../broker/broker-store";
import { DEFAULT_COLLECTOR_CLIENT_ID } from "../../broker/collector-session";
import { DEFAULT_EMBEDDED_PORT } from "../../broker/embedded-flags";

export function addEmbeddedBrokerOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        "--broker-store <folder|memory>",
        "where the embedded broker keeps persistent sessions, their queued QoS 1 messages and retained messages: a folder (LevelDB) keeps them across a restart of espfleet " +
          "and a kill -9, not a power cut (no fsync); costs 60-250 B of disk per queued message (less once compacted) and a write and a delete per message to a persistent session. " +
          `"memory": nothing written, all lost when this run stops, ~0.7 KB of memory per queued message (default: ${DEFAULT_BROKER_STORE} for the broker on the default --port ${DEFAULT_EMBEDDED_PORT}, memory, saying so, when another run holds that folder; memory on any other port: another broker, whose sessions must not mix with that one's)`,
      ),
    )
    .addOption(
      new Option(
        "--broker-queue <messages>",
        "most messages the embedded broker keeps for one offline persistent session (a stopped collector or watch); newer ones are dropped, as mosquitto does, " +
          `and counted on $SYS/espfleet/dropped/<client id>, which the collector records (default: ${DEFAULT_QUEUE_LIMIT.toLocaleString("en-US")}: 16 minutes of 1,000 nodes at 1 Hz, 60-250 MB of disk)`,
      ).argParser(countArg(1, 1_000_000_000)),
    )
    .addOption(
      new Option(
        "--collector-session <client-id>",
        `make the persistent session of \`espfleet collect --client-id <client-id>\` (${DEFAULT_COLLECTOR_CLIENT_ID} by default) when the embedded broker starts, if it has none: ` +
          "readings are queued for the collector from the first one, even before it first connects; npm start uses this (default: none)",
      ),
    );
}
