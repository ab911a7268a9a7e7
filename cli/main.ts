/**
 * espfleet: run a simulated fleet, change its config, watch its readings.
 *   npx espfleet run --nodes 100
 *   npx espfleet config --interval 2s --target node-0003
 *   npx espfleet watch
 * bin/espfleet.js runs this file bundled (scripts/build-cli.mjs). Each
 * command's work is imported in its action, so `--help` and a command load
 * only what they use: import only options, defaults and types at the top
 * (test/e2e/cli-build.test.ts checks what `--help` loads).
 */
import { Command, CommanderError, Option } from "commander";
import { CliError } from "../common/errors";
import { addBrokerOptions, addExamples, countArg, defaultStateDir, durationArg, explicitOptions, listArg, numberArg, topicDataOption } from "./options";
import type { ConfigFlags } from "../ops/config/command";
import { DEFAULT_COUNTER_FILE } from "../ops/config/signing";
import { MAX_COUNTER } from "../firmware/core/config";
import type { RunFlags } from "../simulator/run-command";
import type { WatchFlags } from "../ops/watch/command";
import { FIRMWARE_VERSION } from "../firmware/core/node";
import { registerDeviceCommand } from "./commands/device";
import { registerFlashCommand } from "./commands/flash";
import { registerFlasherCommand } from "./commands/flasher";
import { registerBridgeCommand } from "./commands/bridge";
import { registerMonitorCommand } from "./commands/monitor";
import { registerUploadCommands } from "./commands/upload";
import { registerCollectCommands } from "./commands/collect";
import { registerConsoleCommand } from "./commands/console";
import { addEmbeddedBrokerOptions } from "./commands/embedded-broker";

const EMBEDDED_DEFAULT = "the embedded broker at mqtt://127.0.0.1:1883";
/**
 * Default sensors: a DHT and the supply voltage. Not adc too: an ESP8266's one
 * ADC reads either A0 or VDD33 (adc.force_init_mode), so a real node (and
 * the virtual device under --engine lua) cannot report both.
 */
const DEFAULT_SENSORS = ["temperature", "humidity", "vdd"];
/** --sensors of run: the first use replaces the default list (commander passes the default as "previous"). */
const sensorsArg = (text: string, previous: string[] | undefined): string[] => listArg(text, previous === DEFAULT_SENSORS ? undefined : previous);

export function buildProgram(): Command {
  const program = new Command("espfleet")
    .description("Simulated fleets of ESP8266 MQTT sensor nodes: the firmware's own core, on a PC.")
    .version(FIRMWARE_VERSION)
    .showHelpAfterError("(add --help for every option, with units and defaults)")
    // Commander's errors are usage errors: exit 2, like every other usage error (main() maps them; issue 15).
    // Set before any command is added, so every subcommand inherits it.
    .exitOverride()
    .option("--no-color", "no colours in any output (also: environment NO_COLOR set); colours are only used on a terminal")
    .addHelpText("after", "\nExit status: 0 done, 1 failed, 2 bad usage, 130 interrupted (Ctrl-C).");
  program.hook("preAction", (thisCommand) => {
    // One switch for every command: common/colour.ts reads NO_COLOR.
    if (thisCommand.opts().color === false) {
      process.env.NO_COLOR = "1";
    }
  });

  const run = program
    .command("run")
    .description("run a fleet of simulated nodes until Ctrl-C (embedded broker unless --broker)")
    .addOption(new Option("-n, --nodes <count>", "nodes in the whole fleet").argParser(countArg(1, 1_000_000)).default(10))
    .addOption(new Option("--shard <K/N>", "run only slice K of N of the fleet (several processes or hosts share one fleet)").default("1/1"))
    .addOption(new Option("--workers <n|auto>", 'worker processes to spread the nodes over; "auto" = one per core').default("1"))
    .addOption(
      new Option("--engine <ts|lua>", "what each node runs: ts = the firmware's TypeScript core; lua = a virtual ESP8266 running the built firmware/dist")
        .choices(["ts", "lua"])
        .default("ts"),
    )
    .addOption(
      new Option("--heap-kb <KB>", "with --engine lua: Lua heap budget per device, in KB, as a stock NodeMCU board has (default: 40)")
        .argParser(countArg(16, 4096)),
    )
    .addOption(new Option("--no-lfs", "with --engine lua: run the app from app.lc on the heap instead of from LFS (needs --heap-kb 96 or so)"));
  addBrokerOptions(run, "broker URL, mqtt://host[:1883] or mqtts://host[:8883] (default: start an embedded broker on 127.0.0.1)");
  run
    .addOption(
      new Option(
        "--user <template>",
        'per-node MQTT user name: {id} = the node\'s number as its id writes it (0001), {node} = the whole id; "node-{id}" makes each user its node id, as docs/mosquitto/acl requires (default: --username for every node; {node} with --credentials)',
      ),
    )
    .addOption(
      topicDataOption(
        'readings topic of the nodes after the prefix (topic_data); {id} = the node\'s id: "sensor_data/{id}" gives each node a topic of its own, as docs/mosquitto/acl requires',
        "sensor_data, one topic for the whole fleet, the id in each reading",
      ),
    )
    .addOption(new Option("--port <port>", "TCP port of the embedded broker (0 = any free port)").argParser(countArg(0, 65535)).default(1883));
  addEmbeddedBrokerOptions(run)
    .addOption(new Option("--interval <duration>", "sampling interval of new nodes (interval_ms), e.g. 500ms, 2s, 1m").argParser(durationArg).default(1000, "1s"))
    .addOption(new Option("--sensitivity <number>", "publish only when a value moves this much; 0 = every sample (sensitivity)").argParser(numberArg).default(0))
    .addOption(new Option("--heartbeat <duration>", "publish at least this often even when nothing moved (heartbeat_ms)").argParser(durationArg).default(300_000, "5m"))
    .addOption(new Option("--sensors <list>", "sensors to read, comma-separated: temperature, humidity, adc, vdd (adc and vdd share the one ADC on hardware)").argParser(sensorsArg).default(DEFAULT_SENSORS, "temperature,humidity,vdd"))
    .addOption(new Option("--buffer <readings>", "offline buffer per node, in readings (buffer_capacity, 0-100)").argParser(countArg(0, 100)).default(50))
    .addOption(new Option("--qos <0|1>", "MQTT QoS of readings (qos)").argParser(countArg(0, 1)).default(1))
    .addOption(new Option("--flush-gap <duration>", "pause between buffered readings sent after a reconnect (flush_gap_ms)").argParser(durationArg).default(50, "50ms"))
    .addOption(new Option("--keepalive <duration>", "MQTT keepalive (mqtt_keepalive_s, 10s-1h)").argParser(durationArg).default(60_000, "60s"))
    .addOption(new Option("--reconnect-min <duration>", "first reconnect backoff step (reconnect_min_ms)").argParser(durationArg).default(1000, "1s"))
    .addOption(new Option("--reconnect-max <duration>", "longest reconnect backoff step (reconnect_max_ms)").argParser(durationArg).default(60_000, "60s"))
    .addOption(new Option("--connect-rate <rate>", "node starts (and so connects) per second, e.g. 500/s or 600/m").default("500/s"))
    .addOption(new Option("--seed <integer>", "seed of the sensor models and reconnect jitter (default: random, printed)").argParser(countArg(0, 4294967295)))
    .addOption(
      new Option(
        "--faults <spec>",
        "sensor faults, probability per read (0-1), each kind once: fail=0.01,stuck=0.001,spike=0.002; throw=p makes the sensor model throw (a drill: that node is marked faulted, the rest run on); kind=p@node-0003 for one node only",
      ).default("none"),
    )
    .addOption(
      new Option("--state-dir <dir>", "folder where each node keeps its files (<dir>/<node-id>/config.json, boot.txt), each written and fsynced before the node acts on it").default(
        defaultStateDir(),
        ".espfleet/nodes",
      ),
    )
    .addOption(new Option("--fresh", "forget the stored files (configs set by config_change, boot counters) of this run's nodes first"))
    .addOption(new Option("--duration <duration>", "stop by itself after this long (default: run until Ctrl-C)").argParser(durationArg))
    .addOption(new Option("--fleet-key-file <file>", "nodes apply only config changes signed with the key in this file, a regular file (fleet_key); or set ESPFLEET_FLEET_KEY (default: unsigned changes are applied)"))
    .addOption(new Option("--log-level <level>", "lowest node log level shown").choices(["info", "warn", "error"]).default("warn"))
    .addOption(new Option("--verbose", "show every node's log line (default: the first of each kind, repeats counted)"))
    .addHelpText("after", "\nExit status: 0 after --duration with every node healthy, 1 when it failed (nodes faulted, a worker stayed down), 2 bad usage, 130 Ctrl-C.")
    .action(async (flags: RunFlags, command: Command) => {
      const { runCommand } = await import("../simulator/run-command");
      // An option given on the command line wins over a setting the node stored (issue 12).
      process.exitCode = await runCommand({ ...flags, explicit: explicitOptions(command) });
    });
  addExamples(run, [
    ["10 nodes against an embedded broker on mqtt://127.0.0.1:1883, until Ctrl-C", "espfleet run"],
    ["200 nodes sampling every 500 ms, for one minute", "espfleet run --nodes 200 --interval 500ms --duration 1m"],
    ["1,000 nodes against mosquitto, one worker process per core", "espfleet run --nodes 1000 --workers auto --broker mqtt://broker.lan:1883"],
    [
      "behind docs/mosquitto's ACL: the prefix, a topic per node, a login per node",
      "espfleet run --broker mqtt://127.0.0.1:1883 --prefix espfleet --topic-data 'sensor_data/{id}' --credentials fleet-secrets/credentials --nodes 3",
    ],
    ["virtual ESP8266s running the built firmware (npm run build:firmware first)", "espfleet run --engine lua --nodes 5 --sensors temperature,humidity,adc"],
  ]);

  const config = program
    .command("config")
    .description("publish one config_change, wait for the acks, report who applied/rejected (exit 1 if any rejected or did not answer)")
    .addOption(new Option("--interval <duration>", "sampling interval (interval_ms, 100ms-24h), e.g. 500ms, 2s, 1m").argParser(durationArg))
    .addOption(new Option("--sensitivity <number>", "minimum change that publishes (sensitivity, 0-1000; 0 = every sample)").argParser(numberArg))
    .addOption(new Option("--heartbeat <duration>", "publish at least this often (heartbeat_ms, 1s-24h)").argParser(durationArg))
    .addOption(new Option("--sensors <list>", "sensors to read, comma-separated: temperature, humidity, adc, vdd (adc and vdd share the one ADC on hardware)").argParser(listArg))
    .addOption(new Option("--buffer <readings>", "offline buffer capacity (buffer_capacity, 0-100 readings)").argParser(countArg(0, 100_000)))
    .addOption(new Option("--qos <0|1>", "QoS of readings (qos)").argParser(countArg(0, 2)))
    .addOption(new Option("--flush-gap <duration>", "pause between buffered readings after a reconnect (flush_gap_ms, 0-10s)").argParser(durationArg))
    .addOption(new Option("--target <node-id...>", "the nodes to change (one or more ids); waits for each of them"))
    .addOption(new Option("--all", "change every node (no target); see --expect"))
    .addOption(new Option("--expect <count>", "with --all: stop waiting once this many nodes answered (default: wait the whole --timeout)").argParser(countArg(1, 10_000_000)))
    .addOption(new Option("--timeout <duration>", "how long to wait for acknowledgements").argParser(durationArg).default(10_000, "10s"))
    .addOption(new Option("--req <id>", "request id echoed in the acks, at most 32 bytes of UTF-8 (default: generated)"))
    .addOption(new Option("--fleet-key-file <file>", "sign the change with the fleet key in this file (nodes with fleet_key set apply only signed changes); or set ESPFLEET_FLEET_KEY (default: unsigned)"))
    .addOption(new Option("--counter <n>", "counter of the signed change; must be above the last one each node applied (default: Unix time in s, or last used + 1)").argParser(countArg(1, MAX_COUNTER)))
    .addOption(new Option("--counter-file <file>", "where the last counter used is kept").default(DEFAULT_COUNTER_FILE))
    .addOption(new Option("--new-fleet-key-file <file>", "rotate: set fleet_key on the nodes to the key in this file (sent encrypted under the current key, as fleet_key_enc, and signed with it)"));
  addBrokerOptions(config, `broker URL, mqtt://host[:1883] or mqtts://host[:8883] (default: ${EMBEDDED_DEFAULT})`);
  config
    .addHelpText("after", "\nExit status: 0 every node asked applied it, 1 a node rejected it or did not answer, 2 bad usage (a value the node would refuse: nothing is sent), 130 Ctrl-C.")
    .action(async (flags: ConfigFlags) => {
      const { configCommand } = await import("../ops/config/command");
      process.exitCode = await configCommand(flags);
    });
  addExamples(config, [
    ["sample every 2 s on two nodes; returns as soon as both acknowledged", "espfleet config --interval 2s --target node-0003 node-0004"],
    ["every node; stop waiting once 1,000 answered", "espfleet config --interval 30s --all --expect 1000"],
    ["no setting: ask node-0001 for its current config", "espfleet config --target node-0001"],
    ["on docs/mosquitto's broker, as the operator", "espfleet config --broker mqtt://127.0.0.1:1883 --prefix espfleet --username operator --credentials fleet-secrets/credentials --all --expect 3 --sensitivity 0.5"],
    ["signed, for nodes with a fleet key", "espfleet config --fleet-key-file fleet.key --interval 10s --all"],
  ]);

  const watch = program
    .command("watch")
    .description("tail sensor_data readably: per-node rate, last values, seq gaps, reboots, online/offline, events")
    .addOption(new Option("--node <node-id...>", "show only these nodes (default: every node)"))
    .addOption(
      topicDataOption(
        "readings topic of the nodes (topic_data), as given to run; with {id}, only the per-node topics are heard. A reading on a per-node topic that names another id is counted as forged, not shown",
        "sensor_data, heard on sensor_data and sensor_data/+",
      ),
    )
    .addOption(new Option("--lines", "one line per reading and notice instead of the live table (the default when not on a terminal)").conflicts(["raw", "json"]))
    .addOption(new Option("--raw", 'print every message as it arrives, "topic payload" on one line, like mosquitto_sub -v (readings, statuses, events, acks); the summary goes to stderr').conflicts(["json"]))
    .addOption(new Option("--json", "one JSON object per line, for scripts (jq): readings, statuses, events, acks and notices (lost readings, reboots), each with ts, kind, topic, id; the summary goes to stderr"))
    .addOption(new Option("--duration <duration>", "stop after this long (default: until Ctrl-C)").argParser(durationArg))
    .addOption(
      new Option(
        "--client-id <id>",
        "MQTT client id of the watch's persistent session: the broker keeps its subscriptions and queues readings while the watch reconnects or the broker restarts (with persistence on), so nothing is lost in between; two watches at once need two ids (default: espfleet-watch-<user>-<host>)",
      ),
    )
    .addHelpText("after", "\nRates are readings per second over the last 10 s. Colours only on a terminal, and not with --no-color or NO_COLOR set.\nExit status: 0 after --duration, 1 when the broker cannot be reached, 2 bad usage, 130 Ctrl-C.");
  addBrokerOptions(watch, `broker URL, mqtt://host[:1883] or mqtts://host[:8883] (default: ${EMBEDDED_DEFAULT})`);
  watch.action(async (flags: WatchFlags) => {
    const { watchCommand } = await import("../ops/watch/command");
    process.exitCode = await watchCommand(flags);
  });
  addExamples(watch, [
    ["the live table: rate, last values, lost readings, reboots, acks, events", "espfleet watch"],
    ["every message as topic and payload, like mosquitto_sub -v", "espfleet watch --raw"],
    ["JSON lines for a script: the temperatures of node-0003", "espfleet watch --json --node node-0003 | jq 'select(.kind == \"reading\") | .payload.temperature'"],
    ["10 s of readings as lines, then the totals", "espfleet watch --lines --duration 10s"],
    ["on docs/mosquitto's broker, as the operator", "espfleet watch --broker mqtt://127.0.0.1:1883 --prefix espfleet --username operator --credentials fleet-secrets/credentials"],
  ]);

  // The virtual ESP8266 (device/): the built firmware behind a pseudo-terminal.
  registerDeviceCommand(program);

  // Real boards on a serial port (host-bridge/): one-command flashing, the
  // NodeMCU file commands, the console, the ROM flasher, Firmata boards.
  registerFlashCommand(program);
  registerUploadCommands(program);
  registerMonitorCommand(program);
  registerFlasherCommand(program);
  registerBridgeCommand(program);
  registerCollectCommands(program); // ops/: collect readings into a database, query them
  registerConsoleCommand(program); // ops/: the fleet in a browser

  addExamples(program, [
    ["10 simulated nodes on an embedded broker at mqtt://127.0.0.1:1883, until Ctrl-C", "espfleet run"],
    ["in another terminal: their readings, live", "espfleet watch"],
    ["change node-0003's sampling interval; exit 0 once it acknowledged", "espfleet config --interval 2s --target node-0003"],
    ["a real board: build, configure, upload, restart, follow its console", "espfleet flash --port /dev/ttyUSB0 --monitor"],
    ["every option of a command, with units, defaults and examples", "espfleet run --help"],
  ]);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  // `espfleet watch | head`: the reader went away; that is the end, not an error.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") {
      process.exit(0);
    }
    throw error;
  });
  // One exit rule (issue 12): Ctrl-C is 130 (SIGTERM 143) everywhere. A command that stops cleanly on a signal
  // listens for it itself and returns the code; where none does (upload, write-flash, query, a question), this does.
  const fallback = (signal: NodeJS.Signals): void => {
    if (process.listenerCount(signal) === 1) {
      process.exit(signal === "SIGINT" ? 130 : 143);
    }
  };
  process.on("SIGINT", fallback);
  process.on("SIGTERM", fallback);
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version end with 0; everything else commander reports (unknown option, bad value) is bad usage.
      process.exitCode = error.exitCode === 0 ? 0 : 2;
      return;
    }
    if (error instanceof CliError) {
      process.stderr.write(`espfleet: ${error.message}\n`);
      process.exitCode = error.exitCode;
      return;
    }
    throw error;
  }
}

await main(process.argv);
