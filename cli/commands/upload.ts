/**
 * `espfleet upload | fsinfo | remove | mkfs | reset`: nodemcu-tool's file
 * commands; their options, units and defaults. The work is
 * host-bridge/uploader/file-commands.ts, loaded when a command runs.
 */
import { existsSync } from "node:fs";
import { InvalidArgumentError, type Command } from "commander";
import { addExamples, baudArg } from "../options";
import { CliError } from "../../common/errors";
import { DEFAULT_DIST_DIR, DEVICE_FILES } from "../../host-bridge/uploader/dist-files";
import type { PortOptions } from "../../host-bridge/uploader/file-commands";

const fileCommands = () => import("../../host-bridge/uploader/file-commands");

/** Checked when the command line is read (bad usage: exit 2), kept as text for file-commands.ts. */
const baudText = (text: string): string => String(baudArg(text));
const msText = (text: string): string => {
  if (!/^\d+$/.test(text) || Number(text) <= 0) {
    throw new InvalidArgumentError(`${text}: give milliseconds, a whole number > 0, e.g. 3000`);
  }
  return text;
};

const EXIT = "\nExit status: 0 done, 1 failed (the board did not answer, a file did not verify), 2 bad usage, 130 Ctrl-C.";

function portOptions(cmd: Command): Command {
  return cmd
    .requiredOption("--port <path>", "serial port of the board, e.g. /dev/ttyUSB0")
    .option("--baud <rate>", "baud rate of the NodeMCU console, in bit/s", baudText, "115200")
    .option("--timeout-ms <ms>", "how long to wait for each answer of the board, in ms", msText, "3000")
    .option("--verbose", "print what the board says besides answers (app logs, boot messages)")
    .addHelpText("after", EXIT);
}

export function registerUploadCommands(program: Command): void {
  const upload = portOptions(program.command("upload"))
    .description(
      `upload files to the board's flash, all or nothing (each staged under a temporary name and verified by size and SHA-256, then all switched in together, init.lua last); default: ${DEVICE_FILES.join(", ")} of --dist`,
    )
    .argument("[files...]", "local files; uploaded under their base name")
    .option("--dist <dir>", "firmware build folder used when no files are given", DEFAULT_DIST_DIR)
    .option("--compile", "node.compile every uploaded .lua file except init.lua to .lc on the board (the .lua stays)")
    .action(async (paths: string[], opts: PortOptions & { dist: string; compile?: boolean }) => {
      const missing = paths.filter((path) => !existsSync(path));
      if (missing.length > 0) {
        throw new CliError(`${missing.join(", ")}: no such file; give files that exist (or none: the build in --dist)`, 2);
      }
      await (await fileCommands()).uploadCommand(paths, opts);
    });
  addExamples(upload, [
    ["the build of npm run build:firmware (lfs.img, app.lc, cfg.lc, config.json, init.lua)", "espfleet upload --port /dev/ttyUSB0"],
    ["files of your own, compiled to .lc on the board", "espfleet upload --port /dev/ttyUSB0 --compile sensors.lua util.lua"],
  ]);

  const fsinfo = portOptions(program.command("fsinfo"))
    .description("list the files on the board's flash with their sizes, and the free space")
    .action(async (opts: PortOptions) => {
      await (await fileCommands()).fsinfoCommand(opts);
    });
  addExamples(fsinfo, [["files, sizes and free space", "espfleet fsinfo --port /dev/ttyUSB0"]]);

  const remove = portOptions(program.command("remove"))
    .description("remove files from the board's flash")
    .argument("<names...>", "file names on the board")
    .action(async (names: string[], opts: PortOptions) => {
      await (await fileCommands()).removeCommand(names, opts);
    });
  addExamples(remove, [["two files", "espfleet remove --port /dev/ttyUSB0 old.lua test.lc"]]);

  const mkfs = portOptions(program.command("mkfs"))
    .description("format the board's flash file system: every file is lost")
    .option("--yes", "confirm: really erase every file")
    .action(async (opts: PortOptions & { yes?: boolean }) => {
      if (opts.yes !== true) {
        throw new CliError("formatting erases every file on the board; run again with --yes to confirm", 2);
      }
      await (await fileCommands()).mkfsCommand(opts);
    });
  addExamples(mkfs, [["erase every file", "espfleet mkfs --port /dev/ttyUSB0 --yes"]]);

  const reset = portOptions(program.command("reset"))
    .description("restart the board (node.restart()) and wait until it is back at its prompt")
    .action(async (opts: PortOptions) => {
      await (await fileCommands()).resetCommand(opts);
    });
  addExamples(reset, [["restart it and wait for its prompt", "espfleet reset --port /dev/ttyUSB0"]]);
}
