/** `espfleet monitor`: its options, units and defaults; the work is host-bridge/monitor/monitor-command.ts (loaded when the command runs). */
import { Option, type Command } from "commander";
import { addExamples, baudArg, durationArg } from "../options";
import type { MonitorFlags } from "../../host-bridge/monitor/monitor-command";

export function registerMonitorCommand(program: Command): void {
  const monitor = program
    .command("monitor")
    .description("show a board's serial console (Lua errors marked with !!); lines typed go to the board")
    .requiredOption("--port <path>", "serial port of the board, e.g. /dev/ttyUSB0 (or a virtual device's pty)")
    .addOption(new Option("--baud <rate>", "console speed in bit/s").argParser(baudArg).default(115200))
    .addOption(new Option("--run <lua>", "send this Lua line once attached (after --reset), e.g. 'print(node.heap())' (default: none)"))
    .addOption(new Option("--reset", "reset the board first: DTR/RTS pulse like esptool, or node.restart() where the port has no modem lines (default: off)"))
    .addOption(new Option("--duration <duration>", "stop after this long, e.g. 30s (default: until Ctrl-C)").argParser(durationArg))
    .addHelpText("after", "\nColours (errors marked !!) only on a terminal, and not with --no-color or NO_COLOR set.\nExit status: 0 after --duration, 1 the port failed or went away, 2 bad usage, 130 Ctrl-C (or Ctrl-D).")
    .action(async (flags: MonitorFlags) => {
      const { monitorCommand } = await import("../../host-bridge/monitor/monitor-command");
      process.exitCode = await monitorCommand(flags);
    });
  addExamples(monitor, [
    ["follow a board's console; lines typed go to its Lua prompt", "espfleet monitor --port /dev/ttyUSB0"],
    ["reset the board first, to see it boot", "espfleet monitor --port /dev/ttyUSB0 --reset"],
    ["ask for the free heap, watch for 10 s", "espfleet monitor --port /dev/ttyUSB0 --run 'print(node.heap())' --duration 10s"],
    ["a virtual device's console (espfleet device --port-link /tmp/ttyESP0)", "espfleet monitor --port /tmp/ttyESP0"],
  ]);
}
