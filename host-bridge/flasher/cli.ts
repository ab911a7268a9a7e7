/**
 * `espfleet write-flash --port /dev/ttyUSB0 [--address 0x0] [--baud 460800] [--erase] image.bin`:
 * write a firmware image to an ESP8266 through its ROM bootloader, verify it
 * and reset the chip. Progress goes to stderr, the result line to stdout.
 */
import { readFile } from "node:fs/promises";
import cliProgress from "cli-progress";
import { type Command, InvalidArgumentError, Option } from "commander";
import { FlasherError } from "./errors";
import { flashImage } from "./flash-image";

interface WriteFlashFlags {
  port: string;
  address: number;
  baud: number;
  erase?: boolean;
  verbose?: boolean;
}

/** "0x40000", "262144" -> bytes. */
function addressArg(text: string): number {
  const value = /^0x[0-9a-f]+$/i.test(text) ? Number.parseInt(text.slice(2), 16) : /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value)) {
    throw new InvalidArgumentError("give a flash offset in hex (0x1000) or decimal bytes");
  }
  return value;
}

function baudArg(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 300 || value > 4_000_000) {
    throw new InvalidArgumentError("give bits per second between 300 and 4000000, e.g. 115200, 460800 or 921600");
  }
  return value;
}

async function readImage(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a folder" : code === "EACCES" ? "permission denied" : String(error);
    throw new FlasherError("bad-input", `cannot read the image ${path}: ${why}; give the firmware .bin file to write`);
  }
}

/** Bytes written / total with rate: a bar on a terminal, a line per quarter otherwise (logs, pipes, tests). */
function progressReporter(out: NodeJS.WriteStream): { update: (written: number, total: number) => void; stop: () => void } {
  const started = Date.now();
  const rateKBs = (written: number): string => (written / 1024 / Math.max(0.001, (Date.now() - started) / 1000)).toFixed(1);
  if (out.isTTY === true) {
    const bar = new cliProgress.SingleBar(
      { format: "writing |{bar}| {percentage}% | {value}/{total} bytes | {rate} KB/s", stream: out, hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    let startedBar = false;
    return {
      update: (written, total) => {
        if (!startedBar) {
          bar.start(total, 0, { rate: "0.0" });
          startedBar = true;
        }
        bar.update(written, { rate: rateKBs(written) });
      },
      stop: () => {
        if (startedBar) {
          bar.stop();
        }
      },
    };
  }
  let nextQuarter = 1;
  return {
    update: (written, total) => {
      while (nextQuarter <= 4 && written >= (total * nextQuarter) / 4) {
        out.write(`writing: ${written}/${total} bytes (${nextQuarter * 25}%), ${rateKBs(written)} KB/s\n`);
        nextQuarter++;
      }
    },
    stop: () => {},
  };
}

export async function writeFlashCommand(imagePath: string, flags: WriteFlashFlags): Promise<void> {
  const image = await readImage(imagePath);
  const progress = progressReporter(process.stderr);
  const log = (line: string): void => {
    if (flags.verbose === true || line.startsWith("warning:")) {
      process.stderr.write(`${line}\n`);
    }
  };
  process.stderr.write(`espfleet write-flash: ${image.length} bytes from ${imagePath} to ${flags.port} at 0x${flags.address.toString(16)}\n`);
  try {
    const result = await flashImage({
      port: flags.port,
      image,
      address: flags.address,
      baud: flags.baud,
      erase: flags.erase === true,
      onProgress: (written, total) => progress.update(written, total),
      log,
    });
    progress.stop();
    process.stdout.write(
      `wrote ${result.bytes} bytes to ${result.chip} ${result.mac} at 0x${flags.address.toString(16)} in ${(result.ms / 1000).toFixed(1)} s, verified (MD5)\n`,
    );
  } finally {
    progress.stop();
  }
}

export function registerFlasherCommand(program: Command): void {
  program
    .command("write-flash")
    .description("write a firmware image to an ESP8266 over its ROM bootloader (esptool protocol), verify it (MD5) and reset the chip")
    .argument("<image.bin>", "firmware image file to write, e.g. a NodeMCU build")
    .requiredOption("--port <path>", "serial port of the board, e.g. /dev/ttyUSB0")
    .addOption(new Option("--address <offset>", "flash offset to write at, hex (0x...) or decimal bytes, a multiple of 0x1000").argParser(addressArg).default(0, "0x0"))
    .addOption(new Option("--baud <bps>", "transfer speed in bits per second once connected (connecting is at 115200)").argParser(baudArg).default(460800))
    .addOption(new Option("--erase", "erase the whole flash first (also wipes the file system and stored settings); default: only the sectors written"))
    .addOption(new Option("--verbose", "show esptool's log lines (default: progress, warnings and the result)"))
    .action(async (imagePath: string, flags: WriteFlashFlags) => {
      await writeFlashCommand(imagePath, flags);
    });
}
