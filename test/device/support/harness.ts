/**
 * A virtual device in a temporary folder, with its console captured, for
 * tests; and a client for the device's pseudo-terminal.
 */
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ReadStream } from "node:tty";
import { fileURLToPath } from "node:url";
import type { VirtualDeviceOptions } from "../../../device/options";
import { VirtualDevice } from "../../../device/virtual-device";
import { waitFor } from "./brokers";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
export const DIST = join(ROOT, "firmware", "dist");

export function requireBuiltFirmware(): void {
  if (!existsSync(join(DIST, "init.lua"))) {
    throw new Error("firmware/dist is missing: run `npm run build:firmware` first");
  }
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `espfleet-${prefix}-`));
}

/** Where the first prompt after `from` ends ("\r\n> " or "\r\n>> "), or undefined. */
function promptEnd(text: string, from: number): number | undefined {
  const m = /\r\n>>? /.exec(text.slice(from));
  return m === null ? undefined : from + m.index + m[0].length;
}

/** A device plus everything it printed. */
export class ConsoleDevice {
  readonly device: VirtualDevice;
  console = "";

  constructor(options: VirtualDeviceOptions) {
    this.device = new VirtualDevice(options);
    this.device.on("tx", (bytes) => {
      this.console += bytes.toString("latin1");
    });
  }

  /** Resolves when the console (from `from` on) matches. */
  async expectConsole(pattern: RegExp, timeoutMs = 10_000, from = 0): Promise<RegExpMatchArray> {
    return waitFor(`console to match ${pattern}; it has:\n${this.console.slice(-800)}`, () => this.console.slice(from).match(pattern) ?? undefined, timeoutMs);
  }

  /**
   * Type a line at the console and wait for the prompt that follows it;
   * returns the exchange up to that prompt (output of callbacks that runs
   * later, after the prompt, is not part of it).
   */
  async type(line: string, timeoutMs = 5000): Promise<string> {
    const from = this.console.length;
    this.device.write(line + "\r");
    const end = await waitFor(`a prompt after ${JSON.stringify(line)}; console:\n${this.console.slice(from)}`, () => promptEnd(this.console, from), timeoutMs);
    return this.console.slice(from, end);
  }

  writeFile(name: string, text: string): void {
    writeFileSync(join(this.device.fs.dir, name), text);
  }
}

/** Opens the device's pseudo-terminal like a serial tool and collects what it reads. */
export class PortClient {
  received = "";
  private readonly fd: number;
  private readonly stream: ReadStream;

  constructor(path: string) {
    this.fd = openSync(path, "r+");
    this.stream = new ReadStream(this.fd);
    this.stream.on("data", (d: Buffer | string) => {
      this.received += typeof d === "string" ? d : d.toString("latin1");
    });
  }

  send(text: string): void {
    writeSync(this.fd, text);
  }

  async expect(pattern: RegExp, timeoutMs = 5000, from = 0): Promise<RegExpMatchArray> {
    return waitFor(`port to show ${pattern}; got:\n${JSON.stringify(this.received.slice(from).slice(-600))}`, () => this.received.slice(from).match(pattern) ?? undefined, timeoutMs);
  }

  /** Send a line (CR, as terminals do) and wait for the prompt after it; returns the exchange up to it. */
  async line(text: string, timeoutMs = 5000): Promise<string> {
    const from = this.received.length;
    this.send(text + "\r");
    const end = await waitFor(`a prompt after ${JSON.stringify(text)}; got:\n${JSON.stringify(this.received.slice(from))}`, () => promptEnd(this.received, from), timeoutMs);
    return this.received.slice(from, end);
  }

  close(): void {
    this.stream.destroy();
    try {
      closeSync(this.fd);
    } catch {
      // already closed with the stream
    }
  }
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
