/**
 * `espfleet write-flash --port /dev/ttyUSB0 [--address 0x0] [--baud 460800] [--erase] image.bin`:
 * write a firmware image to an ESP8266 through its ROM bootloader, verify it
 * and reset the chip. Progress goes to stderr, the result line to stdout.
 */
import { readFile } from "node:fs/promises";
import cliProgress from "cli-progress";
import { FlasherError } from "./errors";
import { flashImage } from "./flash-image";

export interface WriteFlashFlags {
  port: string;
  address: number;
  baud: number;
  erase?: boolean;
  verbose?: boolean;
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

