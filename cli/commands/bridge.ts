/**
 * `espfleet bridge --port /dev/ttyACM0 --sensor temperature:A0:LM35`: an
 * Arduino running StandardFirmata as a fleet member (see bridge-command.ts).
 * cli/main.ts adds it with `registerBridgeCommand(program)`.
 */
import { type Command, Option } from "commander";
import { addBrokerOptions, addExamples, countArg, defaultStateDir, durationArg, explicitOptions, listArg, numberArg } from "../options";
import type { BridgeFlags } from "../../host-bridge/johnny-five/bridge-command";
import { DEFAULT_BOARD_TIMEOUT_MS, FIRMATA_BAUD } from "../../host-bridge/johnny-five/board-defaults";
import { describeControllers } from "../../host-bridge/johnny-five/sensor-spec";

export function registerBridgeCommand(program: Command): void {
  const bridge = program
    .command("bridge")
    .description("an Arduino running StandardFirmata joins the fleet: read it through johnny-five, publish as a node that obeys config_change")
    .addOption(new Option("--port <path>", "serial port of the Arduino, e.g. /dev/ttyACM0 (Uno) or /dev/ttyUSB0 (Nano clone)").makeOptionMandatory())
    .addOption(
      new Option("--sensor <name:pin:controller>", "a sensor wired to an analog input, e.g. temperature:A0:LM35, adc:A2; repeat for more (list below)")
        .argParser(listArg)
        .default([], "none; at least one is required"),
    )
    .addOption(new Option("--id <node-id>", "node id in the fleet (default: bridge-<port name>, e.g. bridge-ttyACM0)"));
  addBrokerOptions(bridge, "broker URL, mqtt://host[:1883] or mqtts://host[:8883] (default: mqtt://127.0.0.1:1883, e.g. the one `espfleet run` starts)");
  bridge
    .addOption(new Option("--interval <duration>", "sampling interval when no config_change set one (interval_ms), e.g. 500ms, 2s, 1m").argParser(durationArg).default(1000, "1s"))
    .addOption(new Option("--aref <volts>", "analog reference voltage of the board, V (3.3 on 3.3 V boards)").argParser(numberArg).default(5, "5"))
    .addOption(new Option("--baud <rate>", "serial speed, baud (StandardFirmata's)").argParser(countArg(300, 2_000_000)).default(FIRMATA_BAUD))
    .addOption(
      new Option("--board-timeout <duration>", "how long to wait for the board's Firmata handshake (it resets when the port opens)")
        .argParser(durationArg)
        .default(DEFAULT_BOARD_TIMEOUT_MS, "10s"),
    )
    .addOption(
      new Option("--board-retry <duration>", "pause between attempts to reopen the port after the board went away (unplugged)")
        .argParser(durationArg)
        .default(2000, "2s"),
    )
    .addOption(new Option("--state-dir <dir>", "where the node keeps its files (<dir>/<node-id>/config.json)").default(defaultStateDir(), ".espfleet/nodes"))
    .addOption(new Option("--fresh", "forget the node's stored files (config set by config_change, boot counter) first"))
    .addOption(new Option("--duration <duration>", "stop by itself after this long (default: run until Ctrl-C)").argParser(durationArg))
    .addOption(new Option("--log-level <level>", "lowest node log level shown on stderr").choices(["info", "warn", "error"]).default("info"))
    .addHelpText("after", `\nSensors (--sensor name:pin:controller; the controller may be left out where there is one):\n${describeControllers()}\n`)
    .addHelpText("after", "\n--interval, when given, wins over an interval stored by an earlier config_change.\nExit status: 0 after --duration, 1 failed (broker or board unreachable), 2 bad usage, 130 Ctrl-C.")
    .action(async (flags: BridgeFlags, command: Command) => {
      const { bridgeCommand } = await import("../../host-bridge/johnny-five/bridge-command");
      process.exitCode = await bridgeCommand({ ...flags, explicit: explicitOptions(command) });
    });
  addExamples(bridge, [
    ["an Uno with an LM35 on A0, into the fleet of `espfleet run` (mqtt://127.0.0.1:1883)", "espfleet bridge --port /dev/ttyACM0 --sensor temperature:A0:LM35"],
    ["two sensors on a 3.3 V board, every 5 s, to another broker", "espfleet bridge --port /dev/ttyUSB0 --sensor temperature:A0:TMP36 --sensor adc:A1 --aref 3.3 --interval 5s --broker mqtt://broker.lan:1883"],
  ]);
}
