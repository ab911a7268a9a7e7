/**
 * A stand-in for bin/espfleet.js until the lead wires write-flash into
 * simulator/cli.ts: a commander program with only the flasher command, and
 * the same error handling as simulator/cli.ts's main().
 */
import { Command } from "commander";
import { CliError } from "../../../simulator/cli-error";
import { registerFlasherCommand } from "../../../host-bridge/flasher/cli";

const program = new Command("espfleet");
registerFlasherCommand(program);
try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (!(error instanceof CliError)) {
    throw error;
  }
  process.stderr.write(`espfleet: ${error.message}\n`);
  process.exitCode = error.exitCode;
}
