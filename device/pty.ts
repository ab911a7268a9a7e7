/**
 * A pseudo-terminal at a fixed path (a symlink to /dev/pts/N), made by
 * socat, so serial tools open the virtual device like a USB-serial port:
 *
 *   socat -d -d pty,raw,echo=0,link=PATH stdio
 *
 * socat holds the pty's master side and relays it to our pipes; clients open
 * PATH (the slave side). It survives clients opening and closing the port,
 * and removes PATH when it exits (also when this process dies: its stdin
 * closes). Output is paced like a UART at `baud` and dropped when nobody
 * reads the port and the pty's buffers are full, as a UART's would be.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { EventEmitter } from "node:events";
import { existsSync, lstatSync, readlinkSync, statSync, unlinkSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { DeviceError } from "./errors";

export interface PtyOptions {
  /** Bits per second for pacing output (10 bits per byte); 0 sends as fast as possible. Default 115200. */
  baud?: number;
  /** Output held back (pacing + pipe) beyond which new output is dropped, in bytes. Default 64 KiB. */
  maxBufferedBytes?: number;
}

/** Pacing tick: at 115200 baud, 115 bytes go out per 10 ms. */
const TICK_MS = 10;
const OPEN_TIMEOUT_MS = 5000;

/** Refuse paths we must not let socat overwrite (it replaces whatever is there, and deletes it on exit). */
function checkLinkPath(path: string): void {
  if (!existsSync(dirname(path))) {
    throw new DeviceError(`cannot create ${path}: the folder ${dirname(path)} does not exist`);
  }
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return; // nothing there
  }
  if (!st.isSymbolicLink()) {
    throw new DeviceError(`cannot create ${path}: a file is already there (not a pty link); remove it or choose another --port-link`);
  }
  const target = readlinkSync(path);
  let live: boolean;
  try {
    live = statSync(path).isCharacterDevice();
  } catch {
    live = false; // dangling
  }
  if (live && target.startsWith("/dev/pts/")) {
    throw new DeviceError(
      `cannot create ${path}: it already points to ${target}, which is in use (another virtual device?); stop that one or choose another --port-link`,
    );
  }
  unlinkSync(path); // a stale link left by a killed run
}

export class Pty extends EventEmitter<{ data: [Buffer]; exit: [code: number | null] }> {
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private timer: NodeJS.Timeout | undefined = undefined;
  private closed = false;
  /** Bytes dropped because nobody was reading. */
  dropped = 0;

  private constructor(
    readonly path: string,
    readonly device: string,
    private readonly child: ChildProcess,
    private readonly baud: number,
    private readonly maxBuffered: number,
  ) {
    super();
    child.stdout?.on("data", (d: Buffer) => this.emit("data", d));
    // socat going away shows up as "exit"; a write racing it must not crash the process.
    child.stdin?.on("error", () => {});
    child.on("exit", (code) => {
      this.closed = true;
      this.stopTimer();
      this.emit("exit", code);
    });
  }

  /** Create the pty at `path`; resolves once the link exists. */
  static async open(path: string, options: PtyOptions = {}): Promise<Pty> {
    const abs = resolve(path);
    const probe = spawnSync("socat", ["-V"], { stdio: "ignore" });
    if (probe.error !== undefined) {
      throw new DeviceError(`cannot create ${abs}: socat not found; install it with apt-get install socat`);
    }
    checkLinkPath(abs);
    // Its own process group: a Ctrl-C in the terminal reaches us, and we remove the pty in order;
    // if this process dies, socat's stdin closes and it exits (removing the link) by itself.
    const child = spawn("socat", ["-d", "-d", `pty,raw,echo=0,link=${abs}`, "stdio"], { stdio: ["pipe", "pipe", "pipe"], detached: true });
    let log = "";
    const device = await new Promise<string>((resolveDevice, reject) => {
      const timer = setTimeout(() => fail(`socat did not create the pty within ${OPEN_TIMEOUT_MS} ms: ${log.trim()}`), OPEN_TIMEOUT_MS);
      const onData = (d: Buffer): void => {
        log += d.toString();
        const m = /PTY is (\S+)/.exec(log);
        if (m !== null && existsSync(abs)) {
          cleanup();
          resolveDevice(m[1] as string);
        }
      };
      const onExit = (code: number | null): void => fail(`socat exited (code ${code}) before the pty was ready: ${log.trim()}`);
      const cleanup = (): void => {
        clearTimeout(timer);
        child.stderr?.off("data", onData);
        child.off("exit", onExit);
      };
      const fail = (message: string): void => {
        cleanup();
        child.kill();
        reject(new DeviceError(`cannot create ${abs}: ${message}`));
      };
      child.stderr?.on("data", onData);
      child.once("exit", onExit);
    });
    // socat's later notices (clients opening and closing) are of no interest.
    child.stderr?.resume();
    return new Pty(abs, device, child, options.baud ?? 115200, options.maxBufferedBytes ?? 65536);
  }

  /** Send bytes to whoever has the port open. */
  write(bytes: Buffer): void {
    if (this.closed || bytes.length === 0) {
      return;
    }
    const stdin = this.child.stdin;
    if (stdin === null) {
      return;
    }
    if (this.queued + stdin.writableLength + bytes.length > this.maxBuffered) {
      this.dropped += bytes.length;
      return;
    }
    if (this.baud <= 0) {
      stdin.write(bytes);
      return;
    }
    this.queue.push(bytes);
    this.queued += bytes.length;
    if (this.timer === undefined) {
      this.pump();
      this.timer = setInterval(() => this.pump(), TICK_MS);
    }
  }

  private pump(): void {
    const stdin = this.child.stdin;
    let budget = Math.max(1, Math.floor((this.baud / 10) * (TICK_MS / 1000)));
    const parts: Buffer[] = [];
    while (budget > 0 && this.queue.length > 0) {
      const head = this.queue[0] as Buffer;
      if (head.length <= budget) {
        parts.push(head);
        budget -= head.length;
        this.queue.shift();
      } else {
        parts.push(head.subarray(0, budget));
        this.queue[0] = head.subarray(budget);
        budget = 0;
      }
    }
    const chunk = Buffer.concat(parts);
    this.queued -= chunk.length;
    if (chunk.length > 0 && stdin !== null && !this.closed) {
      stdin.write(chunk);
    }
    if (this.queue.length === 0) {
      this.stopTimer();
    }
  }

  private stopTimer(): void {
    if (this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Remove the pty (socat deletes the link as it exits). */
  async close(): Promise<void> {
    this.stopTimer();
    if (this.closed) {
      return;
    }
    const exited = new Promise<void>((r) => this.child.once("exit", () => r()));
    this.child.kill("SIGTERM");
    await exited;
  }
}
