/**
 * `espfleet collect` and `espfleet query`: the options, each with its unit
 * and default. The commands' code is imported when one of them runs, so
 * `espfleet --help` does not load PGlite or pg.
 */
import { InvalidArgumentError, Option, type Command } from "commander";
import { addBrokerOptions, addExamples, countArg, durationArg, topicDataOption } from "../options";
import { parseDuration } from "../../common/units";
import { DEFAULT_DB_DIR } from "../../ops/collect/db-folder";
import { DEFAULT_COLLECTOR_CLIENT_ID } from "../../broker/collector-session";
import { addHomeAssistantOptions } from "./homeassistant-options";


const DB_HELP =
  "where readings are stored: a folder for the embedded PostgreSQL (PGlite; one process at a time, queries go through a running collector), or postgres://user:password@host:5432/database";

/** --keep: a duration of at least a minute, or "all". */
const keepArg = (text: string): number | undefined => {
  if (text.trim().toLowerCase() === "all") {
    return undefined;
  }
  const parsed = parseDuration(text);
  if (!parsed.ok) {
    throw new InvalidArgumentError(parsed.error);
  }
  if (parsed.value < 60_000) {
    throw new InvalidArgumentError(`keep at least 1m of readings (got "${text}"); "all" keeps everything`);
  }
  return parsed.value;
};

export function registerCollectCommands(program: Command): void {
  const collect = program
    .command("collect")
    .description("store every reading in a database (embedded PGlite or PostgreSQL): duplicates stored once, gaps and reboots counted, acks to the broker only after commit")
    .addOption(new Option("--db <folder|url>", DB_HELP).env("ESPFLEET_DB").default(DEFAULT_DB_DIR))
    .addOption(
      topicDataOption(
        "readings topic of the nodes (topic_data), as given to run; with {id}, only the per-node topics are heard and a reading naming another id is not stored",
        "sensor_data, heard on sensor_data and sensor_data/+",
      ),
    )
    .addOption(new Option("--client-id <id>", "MQTT client id of the collector's persistent session; two collectors need two ids (the broker keeps one session per id)").default(DEFAULT_COLLECTOR_CLIENT_ID))
    .addOption(new Option("--batch <messages>", "most messages stored in one transaction").argParser(countArg(1, 100_000)).default(1000))
    .addOption(
      new Option("--max-pending <messages>", "messages held uncommitted (database slow or down) before the collector stops reading from the broker, which then queues them").argParser(countArg(1, 10_000_000)).default(100_000),
    )
    .addOption(new Option("--retry-max <duration>", "longest pause between retries of a failed commit (they start at 500ms and double)").argParser(durationArg).default(30_000, "30s"))
    .addOption(new Option("--keep <duration>", 'delete readings, events and per-minute sums older than this, e.g. 30d, 12h; "all" keeps everything (default: all)').argParser(keepArg))
    .addOption(new Option("--report <duration>", "a line with throughput, lag and totals this often; 0 = only at exit").argParser(durationArg).default(5000, "5s"))
    .addOption(new Option("--wait <duration>", "keep trying to reach the broker this long at start (e.g. while it starts); 0 = fail at once with advice").argParser(durationArg).default(0, "0"))
    .addOption(new Option("--duration <duration>", "stop after this long (default: until Ctrl-C)").argParser(durationArg));
  addBrokerOptions(collect, "broker URL, mqtt://host[:1883] or mqtts://host[:8883] (default: the embedded broker at mqtt://127.0.0.1:1883)");
  addHomeAssistantOptions(collect);
  collect
    .addHelpText("after", "\nExit status: 0 after --duration, 1 failed (broker or database unreachable, readings left unstored), 2 bad usage, 130 Ctrl-C.")
    .action(async (flags) => {
      const { collectCommand } = await import("../../ops/collect/collect-command");
      process.exitCode = await collectCommand(flags as Parameters<typeof collectCommand>[0]);
    });
  addExamples(collect, [
    ["every reading of the fleet on the embedded broker into .espfleet/db (PGlite)", "espfleet collect"],
    ["into PostgreSQL, keeping 30 days", "espfleet collect --db postgres://espfleet:secret@db.lan:5432/espfleet --keep 30d"],
    ["on docs/mosquitto's broker, as the operator", "espfleet collect --broker mqtt://127.0.0.1:1883 --prefix espfleet --username operator --credentials fleet-secrets/credentials"],
  ]);

  const query = program
    .command("query")
    .description("read what collect stored: a node's readings over a time range (CSV or JSON lines), --summary per node, or --fleet per-minute averages")
    .addOption(new Option("--db <folder|url>", DB_HELP).env("ESPFLEET_DB").default(DEFAULT_DB_DIR))
    .addOption(new Option("--node <node-id>", "readings of this node only (default: every node)"))
    .addOption(new Option("--since <duration>", "readings of the last duration, e.g. 10m, 2h, 7d (default: 1h)").argParser(durationArg))
    .addOption(new Option("--from <time>", "start of the range: ISO 8601 (2026-12-05T10:00:00Z; no zone = local time) or a duration ago (2h) (default: --since's start, 1h ago)"))
    .addOption(new Option("--to <time>", "end of the range (excluded), as --from (default: now)"))
    .addOption(new Option("--format <format>", "csv or jsonl (readings, --fleet); table, csv or jsonl (--summary) (default: csv; table for --summary)").choices(["csv", "jsonl", "table"]))
    .addOption(new Option("--summary", "per node: readings stored, gaps (readings lost upstream), duplicates, reboots, last seen, state"))
    .addOption(new Option("--fleet", "the fleet's per-minute averages, minima and maxima of each sensor over the range"))
    .addHelpText("after", "\nExit status: 0 done, 1 failed (database unreachable), 2 bad usage, 130 Ctrl-C.")
    .action(async (flags) => {
      const { queryCommand } = await import("../../ops/collect/query-command");
      process.exitCode = await queryCommand(flags as Parameters<typeof queryCommand>[0]);
    });
  addExamples(query, [
    ["node-0003's readings of the last hour, as CSV", "espfleet query --node node-0003"],
    ["per node: readings, gaps, duplicates, reboots, last seen", "espfleet query --summary --since 24h"],
    ["the fleet's per-minute averages since 10:00 UTC, as JSON lines", "espfleet query --fleet --from 2026-12-05T10:00:00Z --format jsonl"],
  ]);
}
