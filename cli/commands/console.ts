/**
 * `espfleet console`: its options, each with its unit and default. The work
 * is ops/console/console-command.ts, imported when the command runs.
 */
import { Option, type Command } from "commander";
import { addBrokerOptions, countArg, durationArg, topicDataOption } from "../options";
import { DEFAULT_DB_DIR } from "../../ops/collect/db-folder";
import { DEFAULT_COUNTER_FILE } from "../../ops/config/signing";
import { addHomeAssistantOptions } from "./homeassistant-options";

export function registerConsoleCommand(program: Command): void {
  const command = program
    .command("console")
    .description("the fleet in a browser: live table of every node, charts with history, config changes and their acks (http://127.0.0.1:8080)")
    .addOption(new Option("--http-port <port>", "TCP port of the console's web page (0 = any free port)").argParser(countArg(0, 65535)).default(8080))
    .addOption(
      new Option("--listen <address>", "address to serve on; anything but loopback (e.g. 0.0.0.0) requires --token-file, and belongs behind TLS (README, Console)").default("127.0.0.1"),
    )
    .addOption(
      new Option("--token-file <file>", "the console's password or token (one line; openssl rand -hex 16 makes one); the page asks for it; or set ESPFLEET_CONSOLE_TOKEN (default: none, loopback only)"),
    )
    .addOption(
      new Option("--db <folder|url>", 'history: the collector\'s database, a folder of the embedded one (asked through the running collector) or postgres://…; "none" for none')
        .env("ESPFLEET_DB")
        .default(DEFAULT_DB_DIR),
    )
    .addOption(
      topicDataOption(
        "readings topic of the nodes (topic_data), as given to run; with {id}, only the per-node topics are heard",
        "sensor_data, heard on sensor_data and sensor_data/+",
      ),
    )
    .addOption(new Option("--fleet-key-file <file>", "sign config changes with the fleet key in this file (kept on the server, never sent to the page); or set ESPFLEET_FLEET_KEY (default: unsigned)"))
    .addOption(new Option("--counter-file <file>", "where the last counter of a signed change is kept (shared with espfleet config)").default(DEFAULT_COUNTER_FILE))
    .addOption(new Option("--ack-timeout <duration>", "how long a config change waits for the named nodes' acks before listing who did not answer").argParser(durationArg).default(10_000, "10s"))
    .addOption(new Option("--wait <duration>", "keep trying to reach the broker this long at start (e.g. while it starts); 0 = fail at once with advice").argParser(durationArg).default(0, "0"))
    .addOption(new Option("--duration <duration>", "stop after this long (default: until Ctrl-C)").argParser(durationArg));
  addBrokerOptions(command, "broker URL, mqtt://host[:1883] or mqtts://host[:8883] (default: the embedded broker at mqtt://127.0.0.1:1883)");
  addHomeAssistantOptions(command);
  command
    .addHelpText(
      "after",
      [
        "",
        "Examples:",
        "  # the fleet of the embedded broker, history from .espfleet/db (npm start runs this)",
        "  espfleet console",
        "  # on every address, with a token, signing changes",
        "  espfleet console --listen 0.0.0.0 --token-file console.token --fleet-key-file fleet.key",
        "",
        "Exit status: 0 after --duration or SIGTERM, 1 failed (broker unreachable, port in use), 2 bad usage, 130 Ctrl-C.",
      ].join("\n"),
    )
    .action(async (flags) => {
      const { consoleCommand } = await import("../../ops/console/console-command");
      process.exitCode = await consoleCommand(flags as Parameters<typeof consoleCommand>[0]);
    });
}
