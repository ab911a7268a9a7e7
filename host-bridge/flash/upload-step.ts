/**
 * The part of `espfleet flash` that talks to NodeMCU over the serial REPL
 * (host-bridge/uploader): check the firmware has the modules the app needs,
 * upload the files with verification, restart. Each failure becomes an
 * error that says what to do.
 */
import type { SerialPort } from "serialport";
import { CliError } from "../../simulator/cli-error";
import { SerialPortError } from "../serial/open-port";
import { DeviceLuaError, DeviceNotAnsweringError, EchoMismatchError, NodeMcuRepl, PortClosedError } from "../uploader/repl";
import { FileSystemFullError, UploadError, Uploader, type UploadFile, type UploadProgress } from "../uploader/uploader";
import { openConsolePort } from "../monitor/open-console-port";

export interface UploadStepOptions {
  port: string;
  baud: number;
  files: UploadFile[];
  requiredModules: readonly string[];
  /** Fail unless the board already holds a pinned broker CA (ca.pin/ca.pem): TLS without one is refused by the app. */
  requirePinnedCa?: boolean;
  /** Format the file system first (removes every file on the board). */
  format: boolean;
  /** Per REPL step, ms (longer right after flashing an image: the first boot formats SPIFFS); default: the REPL's. */
  attachTimeoutMs?: number;
  onProgress: (p: UploadProgress) => void;
  log: (line: string) => void;
  /** REPL traffic, for --verbose (the caller redacts it). */
  trace?: (line: string) => void;
}

export interface UploadStepResult {
  bytes: number;
  ms: number;
  verified: "sha256" | "size";
}

export function notAnsweringAdvice(port: string, baud: number): string {
  return (
    `the board on ${port} does not answer at the Lua prompt at ${baud} baud. ` +
    "Check: the baud rate (NodeMCU's console runs at 115200: --baud); that NodeMCU is flashed at all (--firmware nodemcu.bin) " +
    "and the board is not held in boot (flash) mode: press RST (or unplug and replug) with GPIO0/FLASH released; " +
    "that the cable carries data; and that no other program has the port open"
  );
}

export function missingModulesAdvice(missing: readonly string[]): string {
  return (
    `the NodeMCU firmware on the board lacks module${missing.length === 1 ? "" : "s"} the app needs: ${missing.join(", ")}. ` +
    "Build a NodeMCU image that includes them (https://nodemcu-build.com, or make with them enabled in user_modules.h; " +
    "the full list is in firmware/dist/modules.txt), then run again with --firmware <image.bin>"
  );
}

/**
 * Open the port, upload, restart, and close the port again (the REPL owns
 * it until then; the monitor opens it afresh: a pty keeps what the board
 * printed meanwhile, and a USB adapter's driver buffers it).
 */
export async function uploadToBoard(options: UploadStepOptions): Promise<UploadStepResult> {
  const port = await openConsolePort(options.port, options.baud);
  let repl: NodeMcuRepl | undefined = undefined;
  try {
    repl = await NodeMcuRepl.attach(port, {
      ...(options.attachTimeoutMs !== undefined ? { timeoutMs: options.attachTimeoutMs } : {}),
      ...(options.trace !== undefined ? { log: options.trace } : {}),
    });
    const uploader = new Uploader(repl);
    const missing = await uploader.missingModules([...options.requiredModules]);
    if (missing.length > 0) {
      throw new CliError(missingModulesAdvice(missing));
    }
    if (options.requirePinnedCa === true) {
      const pinned = await repl.exec('print(file.exists("ca.pin") or file.exists("ca.pem"))');
      if (pinned.trim() !== "true" || options.format) {
        throw new CliError(
          "the broker is mqtts:// and the board has no pinned CA certificate (ca.pin), so the node would refuse to connect: " +
            "give --ca FILE.pem (or MQTT_CA), the CA that signed the broker's certificate; the node pins it on its next boot",
        );
      }
    }
    if (options.format) {
      options.log("formatting the board's file system (every file on it is removed)");
      await uploader.format();
    }
    const result = await uploader.upload(options.files, { onProgress: options.onProgress });
    options.log("restarting the board");
    try {
      await uploader.restart();
    } catch (error) {
      // The files are on the board and verified; only the restart is in doubt.
      throw error instanceof Error && !(error instanceof PortClosedError) ? new CliError(`the upload is complete and verified, but ${error.message}`) : error;
    }
    return result;
  } catch (error) {
    throw explainUploadError(error, options.port, options.baud);
  } finally {
    // The REPL closes the port with it; without a REPL (attach failed) close it here.
    await (repl !== undefined ? repl.close().catch(() => undefined) : closeQuietly(port));
  }
}

function closeQuietly(port: SerialPort): Promise<void> {
  return new Promise((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve()));
}

/** Turn what the uploader throws into advice; anything unknown passes unchanged. */
export function explainUploadError(error: unknown, port: string, baud: number): unknown {
  if (error instanceof CliError) {
    return error;
  }
  if (error instanceof DeviceNotAnsweringError) {
    return new CliError(notAnsweringAdvice(port, baud));
  }
  if (error instanceof FileSystemFullError) {
    return new CliError(`${error.message}; or run again with --format to erase every file on the board first`);
  }
  if (error instanceof DeviceLuaError) {
    return new CliError(`the board reported a Lua error while uploading: ${error.deviceMessage}; see the console with espfleet monitor --port ${port}`);
  }
  if (error instanceof UploadError) {
    return new CliError(`${error.message}. Run again; if it keeps failing, try a lower --baud or another cable`);
  }
  // These say what happened and what to do already.
  if (error instanceof SerialPortError || error instanceof PortClosedError || error instanceof EchoMismatchError) {
    return new CliError(error.message);
  }
  return error;
}
