/**
 * Follow a board's serial console: print it line by line with error lines
 * marked, send what the person types (when stdin is a terminal), and stop on
 * Ctrl-C, after a set time, or when the port goes away.
 */
import { createInterface } from "node:readline";
import type { SerialPort } from "serialport";
import { writeAll } from "./board-reset";
import { classifyLine, markLine } from "./line-classifier";
import { LineSplitter } from "./line-splitter";

export interface FollowOptions {
  /** Where the console goes (process.stdout). */
  out: NodeJS.WritableStream;
  /** Red error marks (a terminal) or a plain "!! " prefix. */
  colour: boolean;
  /** Applied to every piece of console text before it is shown (hides secrets). */
  redact?: (text: string) => string;
  /** Lines typed here are sent to the board; only pass a terminal (process.stdin when isTTY). */
  input?: NodeJS.ReadableStream;
  /** Stop after this many ms; default: until Ctrl-C or the port closes. */
  durationMs?: number;
  /** Stop when this aborts (Ctrl-C handling of a caller that owns the signals). */
  signal?: AbortSignal;
  /** Handle SIGINT/SIGTERM here (default true); false when the caller does. */
  handleSignals?: boolean;
}

export type StopReason = "duration" | "interrupted" | "port closed";

export interface FollowResult {
  lines: number;
  errorLines: number;
  reason: StopReason;
}

export async function followConsole(port: SerialPort, options: FollowOptions): Promise<FollowResult> {
  const redact = options.redact ?? ((text: string) => text);
  const counts = { lines: 0, errorLines: 0 };
  const splitter = new LineSplitter({
    line: (text) => {
      counts.lines++;
      if (classifyLine(text) === "error") {
        counts.errorLines++;
      }
      options.out.write(markLine(redact(text), options.colour) + "\n");
    },
    partial: (text) => options.out.write(redact(text)),
  });
  const onData = (bytes: Buffer): void => splitter.push(bytes);
  port.on("data", onData);

  const reason = await new Promise<StopReason>((resolve) => {
    const cleanups: (() => void)[] = [];
    let done = false;
    const stop = (why: StopReason): void => {
      if (done) {
        return;
      }
      done = true;
      for (const cleanup of cleanups) {
        cleanup();
      }
      resolve(why);
    };
    if (options.durationMs !== undefined) {
      const timer = setTimeout(() => stop("duration"), options.durationMs);
      cleanups.push(() => clearTimeout(timer));
    }
    if (options.handleSignals !== false) {
      const onSignal = (): void => stop("interrupted");
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
      cleanups.push(() => {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      });
    }
    if (options.signal !== undefined) {
      const signal = options.signal;
      const onAbort = (): void => stop("interrupted");
      if (signal.aborted) {
        onAbort();
      }
      signal.addEventListener("abort", onAbort, { once: true });
      cleanups.push(() => signal.removeEventListener("abort", onAbort));
    }
    const onClose = (): void => stop("port closed");
    port.once("close", onClose);
    cleanups.push(() => port.off("close", onClose));
    if (options.input !== undefined) {
      const reader = createInterface({ input: options.input, terminal: false });
      reader.on("line", (typed) => {
        // CR LF like a terminal's Enter; a write error shows up as the port closing.
        void writeAll(port, typed + "\r\n").catch(() => undefined);
      });
      // Ctrl-D on the terminal: the person is done.
      reader.once("close", () => stop("interrupted"));
      cleanups.push(() => {
        reader.removeAllListeners("close");
        reader.close();
      });
    }
  });
  port.off("data", onData);
  splitter.flush();
  return { ...counts, reason };
}
