/**
 * Write a firmware image to an ESP8266 through its ROM bootloader, the way
 * esptool.py does it, with Espressif's esptool-js over a serial port:
 * reset into the bootloader (DTR/RTS), sync, identify the chip, upload and
 * start the flasher stub, raise the baud rate, check the flash size,
 * optionally erase everything, write deflate-compressed blocks, compare the
 * flash's MD5 with the image's, and reset the chip to run it.
 */
import { createHash } from "node:crypto";
import { constants, promises as fs } from "node:fs";
import { ESPError, ESPLoader, UnexpectedChipIdError, UnexpectedChipMagicError } from "esptool-js";
import { FlasherError } from "./errors";
import { lineTerminal, QuietTransport } from "./esptool-node";
import { SerialOpenError, WebSerialAdapter } from "./web-serial-adapter";

export interface FlashImageOptions {
  /** Serial device, e.g. /dev/ttyUSB0. */
  port: string;
  image: Buffer;
  /** Flash offset in bytes, a multiple of the 4 KiB sector. Default 0x0. */
  address?: number;
  /** Transfer speed in bit/s once the stub runs. Default 460800. */
  baud?: number;
  /** Speed the ROM bootloader is spoken to at first, in bit/s. Default 115200. */
  romBaud?: number;
  /** Erase the whole flash before writing. Default false. */
  erase?: boolean;
  /** Image bytes written so far, of `total` (= image length). */
  onProgress?: (written: number, total: number) => void;
  /** esptool's and our own log lines; warnings start with "warning:". */
  log?: (line: string) => void;
}

export interface FlashImageResult {
  /** e.g. ESP8266EX or ESP8285 */
  chip: string;
  mac: string;
  bytes: number;
  ms: number;
}

const SECTOR = 4096;
const CONNECT_ATTEMPTS = 7;

const RETRY_HINT = "check the USB cable, hold FLASH (GPIO0) while pressing RESET to enter the bootloader, or try a lower --baud";

function checkOptions(opts: FlashImageOptions): { address: number; baud: number; romBaud: number } {
  const address = opts.address ?? 0;
  const baud = opts.baud ?? 460800;
  const romBaud = opts.romBaud ?? 115200;
  if (!Buffer.isBuffer(opts.image) || opts.image.length === 0) {
    throw new FlasherError("bad-input", "the image is empty: give a firmware .bin file");
  }
  if (!Number.isInteger(address) || address < 0 || address % SECTOR !== 0) {
    throw new FlasherError("bad-input", `address ${address}: give a multiple of 0x1000 (flash is erased in 4 KiB sectors), e.g. 0x0`);
  }
  for (const [name, value] of [["baud", baud], ["romBaud", romBaud]] as const) {
    if (!Number.isInteger(value) || value < 300 || value > 4_000_000) {
      throw new FlasherError("bad-input", `${name} ${value}: give bits per second between 300 and 4000000, e.g. 115200`);
    }
  }
  return { address, baud, romBaud };
}

/** "4MB" -> 4194304, "512KB" -> 524288 (esptool-js's names of detected flash sizes). */
function sizeNameToBytes(name: string): number {
  const m = /^(\d+)(KB|MB)$/.exec(name);
  if (m === null) {
    return Number.POSITIVE_INFINITY;
  }
  return Number(m[1]) * (m[2] === "MB" ? 1024 * 1024 : 1024);
}

/** Refuse a missing or unreadable port before esptool-js turns it into a generic error. */
async function checkPort(path: string): Promise<void> {
  try {
    await fs.access(path, constants.F_OK);
  } catch {
    throw new FlasherError("no-such-port", `no serial port ${path}: is the board plugged in? Look for it with \`ls /dev/ttyUSB* /dev/ttyACM*\` and pass it as --port`);
  }
  try {
    await fs.access(path, constants.R_OK | constants.W_OK);
  } catch {
    throw permissionDenied(path);
  }
}

function permissionDenied(path: string): FlasherError {
  return new FlasherError(
    "permission-denied",
    `permission denied opening ${path}: add yourself to the group that owns it (usually dialout: \`sudo usermod -aG dialout $USER\`, then log out and in again)`,
  );
}

function openError(error: SerialOpenError): FlasherError {
  switch (error.failure) {
    case "no-such-port":
      return new FlasherError("no-such-port", `no serial port ${error.path}: is the board plugged in? (${error.detail})`);
    case "permission-denied":
      return permissionDenied(error.path);
    case "port-busy":
      return new FlasherError("port-busy", `${error.path} is in use by another program (a serial monitor?): close it and try again (${error.detail})`);
    case "not-a-serial-port":
      return new FlasherError("not-a-serial-port", `${error.path} is not a serial port (${error.detail}): pass the board's device, e.g. /dev/ttyUSB0`);
    default:
      return new FlasherError("connection-lost", `cannot open ${error.path}: ${error.detail}`);
  }
}

/** Say in the user's terms what an esptool-js failure during `phase` means. */
function explain(error: unknown, phase: string, port: string): unknown {
  if (error instanceof FlasherError) {
    return error;
  }
  if (error instanceof SerialOpenError) {
    return openError(error);
  }
  if (error instanceof UnexpectedChipMagicError || error instanceof UnexpectedChipIdError) {
    return new FlasherError("wrong-chip", `the chip on ${port} is not an ESP8266 (${error.message}); this flasher writes ESP8266 boards only, use esptool for other chips`);
  }
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof ESPError && /failed to connect/i.test(message)) {
    return new FlasherError("no-answer", `no answer from the ROM bootloader on ${port} after ${CONNECT_ATTEMPTS} attempts: ${RETRY_HINT}`);
  }
  if (/md5 of file does not match/i.test(message)) {
    return new FlasherError("verify-failed", `verify failed: the flash's MD5 differs from the image's, so the written data is corrupt; flash again, and if it repeats suspect the USB cable or the power supply (try a lower --baud)`);
  }
  return new FlasherError("connection-lost", `lost contact with the ESP8266 while ${phase} on ${port} (${message}): ${RETRY_HINT}`);
}

export async function flashImage(opts: FlashImageOptions): Promise<FlashImageResult> {
  const started = Date.now();
  const { address, baud, romBaud } = checkOptions(opts);
  const log = opts.log ?? (() => {});
  await checkPort(opts.port);

  const adapter = new WebSerialAdapter(opts.port, log);
  const transport = new QuietTransport(adapter, () => {});
  const loader = new ESPLoader({ transport, baudrate: baud, romBaudrate: romBaud, terminal: lineTerminal(log) });
  let phase = "connecting";
  try {
    await loader.connect("default_reset", CONNECT_ATTEMPTS, true);
    if (loader.chip.CHIP_NAME !== "ESP8266") {
      throw new FlasherError("wrong-chip", `the chip on ${opts.port} is an ${loader.chip.CHIP_NAME}, not an ESP8266; this flasher writes ESP8266 boards only, use esptool for other chips`);
    }
    phase = "reading the chip's identity";
    const chip = await loader.chip.getChipDescription(loader);
    const mac = await loader.chip.readMac(loader);
    log(`chip ${chip}, MAC ${mac}`);

    phase = "starting the flasher stub";
    await loader.runStub();
    if (baud !== romBaud) {
      phase = `changing to ${baud} baud`;
      await loader.changeBaud();
    }

    phase = "reading the flash size";
    const sizeName = await loader.detectFlashSize();
    if (sizeName === undefined) {
      log("warning: could not read the flash size; writing without checking that the image fits");
    } else {
      const flashBytes = sizeNameToBytes(sizeName);
      if (address + opts.image.length > flashBytes) {
        throw new FlasherError(
          "image-too-large",
          `the image (${opts.image.length} bytes at 0x${address.toString(16)}) ends past the ${sizeName} flash (${flashBytes} bytes): use a firmware built for this flash size, or a lower --address`,
        );
      }
    }

    if (opts.erase === true) {
      phase = "erasing the flash";
      await loader.eraseFlash();
    }

    phase = "writing the flash";
    const total = opts.image.length;
    opts.onProgress?.(0, total);
    await loader.writeFlash({
      fileArray: [{ data: new Uint8Array(opts.image), address }],
      // "keep": write the image byte for byte; a NodeMCU build already carries its flash mode/size.
      flashMode: "keep",
      flashFreq: "keep",
      flashSize: "keep",
      eraseAll: false,
      compress: true,
      // esptool-js counts compressed bytes sent; report the share of the image they stand for.
      reportProgress: (_file, sent, compressedTotal) => opts.onProgress?.(compressedTotal === 0 ? total : Math.min(total, Math.round((sent / compressedTotal) * total)), total),
      calculateMD5Hash: (padded) => createHash("md5").update(padded).digest("hex"),
    });

    phase = "resetting the chip";
    await loader.after("hard_reset");
    if (!adapter.resetLinesWork) {
      log("warning: could not pulse RESET (no RTS line); press the board's RESET button to run the new firmware");
    }
    return { chip, mac, bytes: total, ms: Date.now() - started };
  } catch (error) {
    throw explain(error, phase, opts.port);
  } finally {
    await transport.disconnect().catch(() => adapter.close());
  }
}
