/**
 * `espfleet monitor --port P`: the board's serial console, with Lua errors
 * marked, optional reset first and one command sent after attaching.
 *   espfleet monitor --port /dev/ttyUSB0 --reset
 *   espfleet monitor --port /tmp/ttyESP0 --run 'print(node.heap())' --duration 5s
 */
import { CliError } from "../../common/errors";
import { resetBoard, waitForBootPrompt, writeAll } from "./board-reset";
import { followConsole } from "./console-monitor";
import { closePort, openConsolePort } from "./open-console-port";
import { colourEnabled } from "../../common/colour";

/** How long a board may take from reset to its prompt (boot banner, init.lua's start) before --run is sent anyway. */
const PROMPT_AFTER_RESET_MS = 8000;

export interface MonitorFlags {
  port: string;
  baud: number;
  run?: string;
  reset?: boolean;
  duration?: number;
}

function note(line: string): void {
  process.stderr.write(`espfleet monitor: ${line}\n`);
}

export async function monitorCommand(flags: MonitorFlags): Promise<number> {
  if (flags.port === "") {
    throw new CliError("--port is empty: give the serial port, e.g. /dev/ttyUSB0", 2);
  }
  const port = await openConsolePort(flags.port, flags.baud);
  try {
    const interactive = process.stdin.isTTY === true;
    note(
      `${flags.port} at ${flags.baud} baud; ` +
        (interactive ? "lines you type go to the board; " : "") +
        (flags.duration !== undefined ? `stopping after ${flags.duration} ms` : "Ctrl-C to stop"),
    );
    const following = followConsole(port, {
      out: process.stdout,
      colour: colourEnabled(process.stdout),
      ...(interactive ? { input: process.stdin } : {}),
      ...(flags.duration !== undefined ? { durationMs: flags.duration } : {}),
    });
    if (flags.reset === true) {
      // Listen before resetting: the prompt can follow the reset quickly.
      const prompt = waitForBootPrompt(port, PROMPT_AFTER_RESET_MS);
      await resetBoard(port, note);
      if (flags.run !== undefined && !(await prompt)) {
        note(`no Lua prompt within ${PROMPT_AFTER_RESET_MS / 1000} s of the reset; sending --run anyway`);
      }
    }
    if (flags.run !== undefined) {
      await writeAll(port, flags.run + "\r\n");
    }
    const result = await following;
    note(`${result.reason}: ${result.lines} lines, ${result.errorLines} marked as errors`);
    if (result.reason === "port closed") {
      note(`${flags.port} went away (board unplugged, or the virtual device stopped); plug it in and run the command again`);
      return 1;
    }
    // One exit rule (issue 12): Ctrl-C ends every command with 130.
    return result.reason === "interrupted" ? 130 : 0;
  } finally {
    await closePort(port);
  }
}

