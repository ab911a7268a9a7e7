/**
 * `espfleet upload | fsinfo | remove | mkfs | reset`: nodemcu-tool's file
 * commands over this project's uploader. Every command opens the port,
 * brings the board to a clean prompt, does its job and closes the port;
 * errors print one line with advice and exit 1.
 */
import { existsSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { MultiBar, Presets } from "cli-progress";
import { openSerialPort } from "../serial/open-port";
import { DEVICE_FILES, requiredModules } from "./dist-files";
import { DeviceLuaError, NodeMcuRepl } from "./repl";
import { Uploader, type UploadFile, type UploadProgress } from "./uploader";

export interface PortOptions {
  port: string;
  baud: string;
  timeoutMs: string;
  verbose?: boolean;
}

function say(command: string, line: string): void {
  process.stderr.write(`espfleet ${command}: ${line}\n`);
}

function positiveInt(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) {
    throw new Error(`${flag} ${text}: give a whole number > 0`);
  }
  return n;
}

/** Opens the port, attaches to the prompt, runs `job`, always closes the port; errors become one line and exit code 1. */
async function withBoard(command: string, opts: PortOptions, job: (uploader: Uploader, repl: NodeMcuRepl) => Promise<void>): Promise<void> {
  let repl: NodeMcuRepl | undefined;
  try {
    const port = await openSerialPort(opts.port, positiveInt("--baud", opts.baud));
    try {
      repl = await NodeMcuRepl.attach(port, {
        timeoutMs: positiveInt("--timeout-ms", opts.timeoutMs),
        ...(opts.verbose === true ? { log: (line: string) => say(command, `device: ${line}`) } : {}),
      });
    } catch (err) {
      port.close();
      throw err;
    }
    const uploader = new Uploader(repl);
    await recoverQuietly(command, uploader);
    await job(uploader, repl);
  } catch (err) {
    say(command, (err as Error).message.split("\n")[0] as string);
    process.exitCode = 1;
  } finally {
    await repl?.close();
  }
}

/**
 * Every command first completes an upload that a cut left half switched in
 * (and removes leftover staged files), so the board holds one whole set of
 * files again. A build without the file module has nothing to recover.
 */
async function recoverQuietly(command: string, uploader: Uploader): Promise<void> {
  try {
    const { switched } = await uploader.recover();
    if (switched > 0) {
      say(command, `completed an earlier upload that was cut while its ${switched} files were being switched in`);
    }
  } catch (err) {
    if (!(err instanceof DeviceLuaError)) {
      throw err;
    }
  }
}

function readLocalFiles(paths: string[]): UploadFile[] {
  return paths.map((path) => {
    if (!existsSync(path)) {
      throw new Error(`${path} does not exist; build the firmware (npm run build:firmware) or check the path`);
    }
    return { name: basename(path), data: readFileSync(path) };
  });
}

/** One bar per file and one overall on a terminal; a line per finished file otherwise. */
function progressReporter(files: UploadFile[]): { onProgress: (p: UploadProgress) => void; stop: () => void } {
  const total = files.reduce((n, f) => n + f.data.length, 0);
  if (process.stderr.isTTY !== true) {
    return {
      onProgress: (p) => {
        if (p.fileBytes === p.fileTotal) {
          say("upload", `${p.file}: ${p.fileTotal} bytes sent (${p.bytes}/${p.total})`);
        }
      },
      stop: () => undefined,
    };
  }
  const bars = new MultiBar({ format: " {name} [{bar}] {percentage}% {value}/{total} B", hideCursor: true, stream: process.stderr }, Presets.shades_classic);
  const overall = bars.create(total, 0, { name: "all".padEnd(14) });
  const perFile = new Map(files.map((f) => [f.name, bars.create(f.data.length, 0, { name: f.name.padEnd(14) })]));
  return {
    onProgress: (p) => {
      perFile.get(p.file)?.update(p.fileBytes);
      overall.update(p.bytes);
    },
    stop: () => bars.stop(),
  };
}

/** `espfleet upload [files...]`. */
export async function uploadCommand(paths: string[], opts: PortOptions & { dist: string; compile?: boolean }): Promise<void> {
  await withBoard("upload", opts, async (uploader) => {
    const defaults = paths.length === 0;
    const files = readLocalFiles(defaults ? DEVICE_FILES.map((n) => join(opts.dist, n)) : paths);
    if (defaults) {
      const missing = await uploader.missingModules(requiredModules(opts.dist));
      if (missing.length > 0) {
        say("upload", `warning: the board's NodeMCU build lacks ${missing.join(", ")}; the app will fail until you flash a build with them`);
      }
    }
    const progress = progressReporter(files);
    try {
      const result = await uploader.upload(files, { compile: opts.compile === true, onProgress: progress.onProgress });
      progress.stop();
      const rate = Math.round(result.bytes / Math.max(result.ms / 1000, 0.001));
      say("upload", `${files.length} file(s), ${result.bytes} bytes in ${(result.ms / 1000).toFixed(1)} s (${rate} B/s), verified by ${result.verified}`);
    } finally {
      progress.stop();
    }
  });
}

/** `espfleet fsinfo`: the board's files and free space. */
export async function fsinfoCommand(opts: PortOptions): Promise<void> {
  await withBoard("fsinfo", opts, async (uploader) => {
    const files = await uploader.list();
    const info = await uploader.fsInfo();
    const width = Math.max(4, ...files.map((f) => f.name.length));
    for (const f of files) {
      process.stdout.write(`${f.name.padEnd(width)}  ${String(f.size).padStart(8)} B\n`);
    }
    process.stdout.write(`${files.length} file(s); used ${info.used} B, free ${info.remaining} B of ${info.total} B\n`);
  });
}

/** `espfleet remove <names...>`. */
export async function removeCommand(names: string[], opts: PortOptions): Promise<void> {
  await withBoard("remove", opts, async (uploader) => {
    for (const name of names) {
      await uploader.remove(name);
      say("remove", `removed ${name}`);
    }
  });
}

/** `espfleet mkfs --yes`: format the file system. */
export async function mkfsCommand(opts: PortOptions & { yes?: boolean }): Promise<void> {
  if (opts.yes !== true) {
    say("mkfs", "formatting erases every file on the board; run again with --yes to confirm");
    process.exitCode = 1;
    return;
  }
  await withBoard("mkfs", opts, async (uploader) => {
    await uploader.format();
    const info = await uploader.fsInfo();
    say("mkfs", `formatted; ${info.remaining} B free`);
  });
}

/** `espfleet reset`: restart the board and wait for its prompt. */
export async function resetCommand(opts: PortOptions): Promise<void> {
  await withBoard("reset", opts, async (uploader) => {
    await uploader.restart();
    say("reset", "the board restarted and answers at its prompt");
  });
}
