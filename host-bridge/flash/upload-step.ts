/**
 * The part of `espfleet flash` that talks to NodeMCU over the serial REPL
 * (host-bridge/uploader): check the firmware has the modules the app needs,
 * upload the files with verification, restart. Each failure becomes an
 * error that says what to do.
 */
import type { SerialPort } from "serialport";
import { CliError } from "../../common/errors";
import { SerialPortError } from "../serial/open-port";
import { DeviceLuaError, DeviceNotAnsweringError, EchoMismatchError, NodeMcuRepl, PortClosedError } from "../uploader/repl";
import { FileSystemFullError, SwitchInterruptedError, UNTOUCHED, UploadError, Uploader, type UploadFile, type UploadProgress } from "../uploader/uploader";
import { addLfsPartition, lfsLine, checkLfsAfterRestart, decideLfs, LFS_IMAGE_NAME, type LfsDecision, type LfsOutcome, type LfsRequest } from "./lfs-step";
import { probeLfs, type BoardLfs } from "../uploader/lfs";
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
  /** Load the app into LFS (lfs-step.ts); undefined: upload the files only, as before LFS. */
  lfs?: LfsRequest;
}

export interface UploadStepResult {
  bytes: number;
  ms: number;
  verified: "sha256" | "size";
  /** Where the app runs from, when options.lfs was given. */
  lfs?: LfsOutcome;
}

/** Console lines kept for explaining a failed LFS load. */
const CONSOLE_KEPT = 200;
/** After the restart that loads lfs.img the board restarts once more (the reload); the prompt may take this long. */
const LFS_RELOAD_SETTLE_MS = 60_000;

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
  const consoleTail = new ConsoleTail();
  try {
    repl = await NodeMcuRepl.attach(port, {
      ...(options.attachTimeoutMs !== undefined ? { timeoutMs: options.attachTimeoutMs } : {}),
      log: (line) => {
        consoleTail.push(line);
        options.trace?.(line);
      },
    });
    return await uploadOverRepl(repl, options, consoleTail);
  } catch (error) {
    throw explainUploadError(error, options.port, options.baud);
  } finally {
    // The REPL closes the port with it; without a REPL (attach failed) close it here.
    await (repl !== undefined ? repl.close().catch(() => undefined) : closeQuietly(port));
  }
}

/** The last lines the board printed besides answers (boot messages, init.lua, the app). */
export class ConsoleTail {
  private lines: string[] = [];
  private dropped = 0;

  push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > CONSOLE_KEPT) {
      this.lines.shift();
      this.dropped++;
    }
  }

  /** A position to read from later. */
  mark(): number {
    return this.dropped + this.lines.length;
  }

  since(mark: number): string[] {
    return this.lines.slice(Math.max(0, mark - this.dropped));
  }
}

/**
 * The upload step over an attached REPL: modules check, LFS decision (and a
 * new partition table), upload, restart, LFS check. Errors are thrown as they
 * come; uploadToBoard turns them into advice. `console` receives the board's
 * console lines (the REPL's log).
 */
export async function uploadOverRepl(repl: NodeMcuRepl, options: UploadStepOptions, consoleTail: ConsoleTail = new ConsoleTail()): Promise<UploadStepResult> {
  const uploader = new Uploader(repl);
  const missing = await uploader.missingModules([...options.requiredModules]);
  if (missing.length > 0) {
    throw new CliError(missingModulesAdvice(missing));
  }
  // An earlier upload cut during its switch is completed first, leftover staged files removed.
  const recovered = await uploader.recover();
  if (recovered.switched > 0) {
    options.log(`completed an earlier upload that was cut while its ${recovered.switched} files were being switched in`);
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
  const request = options.lfs;
  let decision: LfsDecision = { upload: "none", repartition: undefined };
  let files = options.files;
  let erased = false;
  if (request !== undefined) {
    const board = await probeBoardLfs(repl, options.log);
    options.log(lfsLine(board));
    decision = await decideLfs(board, request, {
      filesBytes: options.files.reduce((n, f) => n + f.data.length, 0) + (request.image?.length ?? 0),
      pinnedCaNeeded: options.requirePinnedCa === true,
      log: options.log,
    });
    if (decision.repartition !== undefined) {
      erased = true;
      await addLfsPartition(repl, uploader, decision.repartition, options.log);
    }
    const image = decision.upload === "image" ? request.image : decision.upload === "empty" ? await request.emptyImage() : undefined;
    if (image !== undefined) {
      files = withLfsImage(options.files, image);
    }
  }
  if (options.format && !erased) {
    options.log("formatting the board's file system (every file on it is removed)");
    await uploader.format();
  }
  options.log(`uploading ${files.map((f) => f.name).join(", ")}`);
  let result;
  try {
    result = await uploader.upload(files, { onProgress: options.onProgress });
  } catch (error) {
    if (erased && error instanceof Error) {
      // Not "the old file is untouched": the partition change erased it.
      throw new CliError(`${error.message.replace(`; ${UNTOUCHED}`, "")}; the board's files were erased when the LFS partition was added: run ./flash.sh again to upload them`);
    }
    throw error;
  }
  const loading = decision.upload !== "none";
  options.log(loading ? "restarting the board: init.lua loads lfs.img into LFS, and the board restarts once more" : "restarting the board");
  const since = consoleTail.mark();
  try {
    let lastReport = 0;
    await uploader.restart(
      loading
        ? {
            promptTimeoutMs: LFS_RELOAD_SETTLE_MS,
            onWait: (ms) => {
              if (ms - lastReport >= 10_000) {
                lastReport = ms;
                options.log(`still waiting for the board (loading LFS, then restarting) ... ${Math.round(ms / 1000)} s`);
              }
            },
          }
        : {},
    );
  } catch (error) {
    // The files are on the board and verified; only the restart is in doubt.
    throw error instanceof Error && !(error instanceof PortClosedError) ? new CliError(`the upload is complete and verified, but ${error.message}`) : error;
  }
  if (request === undefined) {
    return result;
  }
  const lfs = await checkLfsAfterRestart(repl, decision, request, consoleTail.since(since), options.log);
  return { ...result, lfs };
}

/** The board's LFS state; a firmware whose probe fails outright is treated as one without LFS. */
async function probeBoardLfs(repl: NodeMcuRepl, log: (line: string) => void): Promise<BoardLfs> {
  try {
    return await probeLfs(repl);
  } catch (error) {
    if (error instanceof DeviceLuaError) {
      log(`could not ask the board about LFS (${error.deviceMessage}); treating its firmware as one without LFS`);
      return { supported: false, partition: undefined, modules: undefined, pendingImage: false };
    }
    throw error;
  }
}

/** `files` with lfs.img just before init.lua (a cut upload never leaves a new init.lua without its image). */
export function withLfsImage(files: readonly UploadFile[], image: Buffer): UploadFile[] {
  const rest = files.filter((f) => f.name !== LFS_IMAGE_NAME);
  const at = rest.findIndex((f) => f.name === "init.lua");
  const out = [...rest];
  out.splice(at < 0 ? out.length : at, 0, { name: LFS_IMAGE_NAME, data: image });
  return out;
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
  if (error instanceof SerialPortError || error instanceof PortClosedError || error instanceof EchoMismatchError || error instanceof SwitchInterruptedError) {
    return new CliError(error.message);
  }
  return error;
}
