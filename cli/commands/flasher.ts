/** `espfleet write-flash`: its options, units and defaults; the work is host-bridge/flasher/write-flash-command.ts (loaded when the command runs). */
import { type Command, Option } from "commander";
import { addExamples, addressArg, baudArg } from "../options";
import type { WriteFlashFlags } from "../../host-bridge/flasher/write-flash-command";

export function registerFlasherCommand(program: Command): void {
  const writeFlash = program
    .command("write-flash")
    .description("write a firmware image to an ESP8266 over its ROM bootloader (esptool protocol), verify it (MD5) and reset the chip")
    .argument("<image.bin>", "firmware image file to write, e.g. a NodeMCU build")
    .requiredOption("--port <path>", "serial port of the board, e.g. /dev/ttyUSB0")
    .addOption(new Option("--address <offset>", "flash offset to write at, hex (0x...) or decimal bytes, a multiple of 0x1000").argParser(addressArg).default(0, "0x0"))
    .addOption(new Option("--baud <bps>", "transfer speed in bits per second once connected (connecting is at 115200)").argParser(baudArg).default(460800))
    .addOption(new Option("--erase", "erase the whole flash first (also wipes the file system and stored settings); default: only the sectors written"))
    .addOption(new Option("--verbose", "show esptool's log lines (default: progress, warnings and the result)"))
    .addHelpText("after", "\nExit status: 0 written and verified, 1 failed (no answer from the ROM bootloader, MD5 mismatch), 2 bad usage, 130 Ctrl-C.")
    .action(async (imagePath: string, flags: WriteFlashFlags) => {
      const { writeFlashCommand } = await import("../../host-bridge/flasher/write-flash-command");
      await writeFlashCommand(imagePath, flags);
    });
  addExamples(writeFlash, [
    ["a NodeMCU image at 0x0, verified, then the chip is reset", "espfleet write-flash --port /dev/ttyUSB0 nodemcu.bin"],
    ["erase the whole flash first (files and settings too), slower transfer for a long cable", "espfleet write-flash --port /dev/ttyUSB0 --erase --baud 115200 nodemcu.bin"],
    ["an image for another offset", "espfleet write-flash --port /dev/ttyUSB0 --address 0x100000 data.bin"],
  ]);
}
