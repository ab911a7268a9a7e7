/**
 * `espfleet upload | fsinfo | remove | mkfs | reset`: nodemcu-tool's file
 * commands; their options, units and defaults. The work is
 * host-bridge/uploader/file-commands.ts.
 */
import type { Command } from "commander";
import { DEFAULT_DIST_DIR, DEVICE_FILES } from "../../host-bridge/uploader/dist-files";
import { fsinfoCommand, mkfsCommand, removeCommand, resetCommand, uploadCommand, type PortOptions } from "../../host-bridge/uploader/file-commands";

function portOptions(cmd: Command): Command {
  return cmd
    .requiredOption("--port <path>", "serial port of the board, e.g. /dev/ttyUSB0")
    .option("--baud <rate>", "baud rate of the NodeMCU console, in bit/s", "115200")
    .option("--timeout-ms <ms>", "how long to wait for each answer of the board, in ms", "3000")
    .option("--verbose", "print what the board says besides answers (app logs, boot messages)");
}

export function registerUploadCommands(program: Command): void {
  portOptions(program.command("upload"))
    .description(
      `upload files to the board's flash, all or nothing (each staged under a temporary name and verified by size and SHA-256, then all switched in together, init.lua last); default: ${DEVICE_FILES.join(", ")} of --dist`,
    )
    .argument("[files...]", "local files; uploaded under their base name")
    .option("--dist <dir>", "firmware build folder used when no files are given", DEFAULT_DIST_DIR)
    .option("--compile", "node.compile every uploaded .lua file except init.lua to .lc on the board (the .lua stays)")
    .action(async (paths: string[], opts: PortOptions & { dist: string; compile?: boolean }) => {
      await uploadCommand(paths, opts);
    });

  portOptions(program.command("fsinfo"))
    .description("list the files on the board's flash with their sizes, and the free space")
    .action(async (opts: PortOptions) => {
      await fsinfoCommand(opts);
    });

  portOptions(program.command("remove"))
    .description("remove files from the board's flash")
    .argument("<names...>", "file names on the board")
    .action(async (names: string[], opts: PortOptions) => {
      await removeCommand(names, opts);
    });

  portOptions(program.command("mkfs"))
    .description("format the board's flash file system: every file is lost")
    .option("--yes", "confirm: really erase every file")
    .action(async (opts: PortOptions & { yes?: boolean }) => {
      await mkfsCommand(opts);
    });

  portOptions(program.command("reset"))
    .description("restart the board (node.restart()) and wait until it is back at its prompt")
    .action(async (opts: PortOptions) => {
      await resetCommand(opts);
    });
}
