/** `espfleet monitor`: its options, units and defaults; the work is host-bridge/monitor/monitor-command.ts. */
import { Option, type Command } from "commander";
import { baudArg, durationArg } from "../options";
import { monitorCommand, type MonitorFlags } from "../../host-bridge/monitor/monitor-command";

export function registerMonitorCommand(program: Command): void {
  program
    .command("monitor")
    .description("show a board's serial console (Lua errors marked with !!); lines typed go to the board")
    .requiredOption("--port <path>", "serial port of the board, e.g. /dev/ttyUSB0 (or a virtual device's pty)")
    .addOption(new Option("--baud <rate>", "console speed in bit/s").argParser(baudArg).default(115200))
    .addOption(new Option("--run <lua>", "send this Lua line once attached (after --reset), e.g. 'print(node.heap())' (default: none)"))
    .addOption(new Option("--reset", "reset the board first: DTR/RTS pulse like esptool, or node.restart() where the port has no modem lines (default: off)"))
    .addOption(new Option("--duration <duration>", "stop after this long, e.g. 30s (default: until Ctrl-C)").argParser(durationArg))
    .action(async (flags: MonitorFlags) => {
      process.exitCode = await monitorCommand(flags);
    });
}
