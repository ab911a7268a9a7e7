/**
 * The NodeMCU Lua prompt over a serial port, as a request/response channel.
 *
 * What the board sends for each line it reads (device/serial-line.ts, lua.c):
 *   [noise from timers] <echo of the line> \r\n [output] \r\n? "> "
 * and it reads the next line only after the previous one ran, so responses
 * come back in order, one prompt each. A response is cut at "\r\n> " (or
 * "\r\n>> ": the chunk is incomplete); the echo must appear in it verbatim.
 * Lines can be pipelined (execPipelined): several in flight, bounded by a
 * byte window so the board's UART RX buffer cannot overflow.
 */
import { randomBytes } from "node:crypto";
import type { SerialPort } from "serialport";

/** NodeMCU keeps this many characters of an input line (LUA_MAXINPUT 256, minus the line end). */
export const MAX_LUA_LINE = 255;

const ADVICE =
  "check the baud rate (NodeMCU's default is 115200), that the board is not in flash mode (GPIO0 held low at reset: " +
  "press RST without FLASH), and that the USB cable carries data (not a charge-only cable)";

/** The device did not answer in time. */
export class DeviceNotAnsweringError extends Error {
  readonly advice = ADVICE;
  constructor(what: string) {
    super(`${what}; ${ADVICE}`);
    this.name = "DeviceNotAnsweringError";
  }
}

/** A Lua error on the device, e.g. "stdin:1: attempt to call nil". */
export class DeviceLuaError extends Error {
  readonly deviceMessage: string;
  constructor(deviceMessage: string, line?: string) {
    super(`the device reported a Lua error: ${deviceMessage}${line === undefined ? "" : ` (for the line ${JSON.stringify(line.slice(0, 80))})`}`);
    this.name = "DeviceLuaError";
    this.deviceMessage = deviceMessage;
  }
}

/** The device echoed something other than what was sent: the line was garbled on the wire. */
export class EchoMismatchError extends Error {
  constructor(
    readonly sent: string,
    readonly received: string,
  ) {
    super(
      `the device echoed ${JSON.stringify(received.slice(0, 120))} for the line ${JSON.stringify(sent.slice(0, 120))}: ` +
        "the line was garbled on the wire; check the cable and the baud rate, then try again",
    );
    this.name = "EchoMismatchError";
  }
}

/** The serial port closed under us. */
export class PortClosedError extends Error {
  constructor(path: string) {
    super(`the serial port ${path} closed (board unplugged or port closed); plug it in and run the command again`);
    this.name = "PortClosedError";
  }
}

export interface ReplOptions {
  /** Per step (one line, one resync attempt), ms; default 3000. */
  timeoutMs?: number;
  /** Receives lines the device printed that were not answers (app logs, boot messages). */
  log?: (line: string) => void;
}

export interface ResyncOptions {
  /** Tries, each sending the resync lines afresh; default 4. */
  attempts?: number;
  /** Per try, ms; default the REPL's timeoutMs. */
  timeoutMs?: number;
  /** Before each try after the first, with the ms spent so far (progress while a board boots or formats). */
  onRetry?: (attempt: number, elapsedMs: number) => void;
}

export interface PipelineOptions {
  timeoutMs?: number;
  /** At most this many bytes of lines whose answer has not arrived; default DEFAULT_WINDOW_BYTES. */
  windowBytes?: number;
  /** Called with each answer in order; return false to send no more lines (those in flight are still read). */
  onAnswer?: (index: number, output: string) => boolean | void;
}

/**
 * Two full lines in flight: while the board runs (and echoes) one, the next
 * waits in its 256-byte UART RX buffer, so the wire never idles and the
 * buffer never overflows (measured on the virtual device at 115200 baud:
 * one line in flight ~5.3 KB/s, two ~7.3 KB/s, four ~7.4 KB/s).
 */
export const DEFAULT_WINDOW_BYTES = 2 * (MAX_LUA_LINE + 1) + 8;

const RESPONSE_END = /\r\n(>>?) /;
const LUA_ERROR = /(?:^|\n)(?:Lua error: )?(stdin:\d+: [^\r\n]*|Lua error: [^\r\n]*)/;
/** Closes long strings/comments of levels 0-2 left open, then a sure syntax error: any pending chunk is dropped. */
const UNJAM_LINE = "]]]=]]==]";
/** The error UNJAM_LINE itself causes (and any `>>` chunk it ends). */
const RESYNC_ERROR = /stdin:\d+: unexpected symbol near '\]'/;

export class NodeMcuRepl {
  readonly port: SerialPort;
  /** Per step (one line, one resync try), ms. */
  readonly timeoutMs: number;
  private readonly log: (line: string) => void;
  private rx = "";
  private closed = false;
  private waiters = new Set<() => void>();
  private readonly onData = (data: Buffer): void => {
    this.rx += data.toString("latin1");
    this.wake();
  };
  private readonly onClose = (): void => {
    this.closed = true;
    this.wake();
  };
  /** A write that fails as the port goes away (EBADF, EIO: unplugged, closed): the port is gone, not the process. */
  private readonly onError = (): void => {
    this.closed = true;
    this.wake();
  };

  private constructor(port: SerialPort, opts: ReplOptions) {
    this.port = port;
    this.timeoutMs = opts.timeoutMs ?? 3000;
    this.log = opts.log ?? (() => undefined);
    port.on("data", this.onData);
    port.on("close", this.onClose);
    port.on("error", this.onError);
  }

  /** Takes over an open port and brings the board to a clean prompt (resync). */
  static async attach(port: SerialPort, opts: ReplOptions = {}): Promise<NodeMcuRepl> {
    if (!port.isOpen) {
      throw new PortClosedError(port.path);
    }
    const repl = new NodeMcuRepl(port, opts);
    try {
      await repl.resync();
    } catch (err) {
      repl.detach();
      throw err;
    }
    return repl;
  }

  /**
   * Brings the board, in whatever state (half-typed line, `>>` chunk, boot
   * noise, an app printing logs), to a fresh prompt: send a line that drops
   * any pending input, then print a one-off marker and wait for it.
   */
  async resync(opts: ResyncOptions = {}): Promise<void> {
    const attempts = opts.attempts ?? 4;
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const started = Date.now();
    let lastSeen = "";
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (attempt > 1) {
        opts.onRetry?.(attempt, Date.now() - started);
      }
      const nonce = randomBytes(6).toString("hex");
      const marker = `ESPFLEET_SYNC_${nonce}`;
      const syncLine = `print("ESPFLEET_SYNC_".."${nonce}")`;
      const from = this.rx.length;
      this.write(`${UNJAM_LINE}\n${syncLine}\n`);
      const found = await this.waitUntil(() => {
        const at = this.rx.indexOf(`${marker}\r\n> `, from);
        return at < 0 ? undefined : at;
      }, timeoutMs);
      if (found !== undefined) {
        if (!this.rx.slice(from, found).includes(syncLine)) {
          throw new Error(
            `the device ran commands but did not echo them (echo off, e.g. uart.setup(..., 0)); restart the board (espfleet reset, or press RST) and try again`,
          );
        }
        // What the board printed meanwhile (boot messages, init.lua) is kept; the resync lines' own echoes and errors are not.
        this.logNoise(this.rx.slice(0, found), true);
        this.consume(found + marker.length + 4);
        return;
      }
      lastSeen = this.rx.slice(from);
      this.throwIfClosed();
    }
    const what = lastSeen === "" ? "the device sent nothing" : `the device sent only ${JSON.stringify(lastSeen.slice(-120))}`;
    throw new DeviceNotAnsweringError(`no NodeMCU prompt on ${this.port.path} after ${attempts} tries of ${timeoutMs} ms (${what})`);
  }

  /** Runs one line (< 256 characters) and returns what it printed (no echo, no prompt; "\n" line ends). */
  async exec(lua: string, opts: { timeoutMs?: number } = {}): Promise<string> {
    const outputs = await this.execPipelined([lua], { timeoutMs: opts.timeoutMs ?? this.timeoutMs, windowBytes: Infinity });
    return outputs[0] as string;
  }

  /**
   * Runs many lines, keeping up to `windowBytes` of them in flight instead
   * of waiting for each answer. Stops sending at the first error; lines
   * already sent are still read before it is thrown, so the REPL stays in step.
   */
  async execPipelined(lines: readonly string[], opts: PipelineOptions = {}): Promise<string[]> {
    for (const line of lines) {
      checkLine(line);
    }
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const windowBytes = opts.windowBytes ?? DEFAULT_WINDOW_BYTES;
    const outputs: string[] = [];
    let sent = 0;
    let inFlightBytes = 0;
    let failure: Error | undefined;
    let stop = false;
    while (outputs.length < sent || (sent < lines.length && failure === undefined && !stop)) {
      // Fill the window (always at least one line, so long lines still go).
      while (!stop && failure === undefined && sent < lines.length) {
        const next = lines[sent] as string;
        if (sent > outputs.length && inFlightBytes + next.length + 1 > windowBytes) {
          break;
        }
        this.write(next + "\n");
        inFlightBytes += next.length + 1;
        sent++;
      }
      const index = outputs.length;
      const line = lines[index] as string;
      try {
        const output = await this.readAnswer(line, timeoutMs);
        outputs.push(output);
        inFlightBytes -= line.length + 1;
        if (opts.onAnswer?.(index, output) === false) {
          stop = true;
        }
      } catch (err) {
        if (err instanceof DeviceLuaError) {
          outputs.push("");
          inFlightBytes -= line.length + 1;
          failure ??= err;
          continue;
        }
        // Timeout, garbled echo, closed port: the stream is out of step; later answers cannot be trusted.
        throw err;
      }
    }
    if (failure !== undefined) {
      throw failure;
    }
    return outputs;
  }

  /** Stops listening to the port and closes it. */
  async close(): Promise<void> {
    this.detach();
    if (this.port.isOpen) {
      await new Promise<void>((resolve) => this.port.close(() => resolve()));
    }
  }

  /**
   * Waits for text matching `pattern` in what arrives from now on (e.g. the
   * boot banner after node.restart()); returns it, or undefined on timeout.
   * Everything up to the match is consumed.
   */
  async waitForText(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray | undefined> {
    const m = await this.waitUntil(() => pattern.exec(this.rx) ?? undefined, timeoutMs);
    if (m !== undefined) {
      this.logNoise(this.rx.slice(0, m.index));
      this.consume(m.index + m[0].length);
    }
    return m;
  }

  /** Sends raw text (no line end added) without waiting for anything. */
  write(text: string): void {
    if (this.closed || !this.port.isOpen) {
      throw new PortClosedError(this.port.path);
    }
    this.port.write(Buffer.from(text, "latin1"));
  }

  /** One answer: up to the next prompt; checks the echo, returns the output, throws DeviceLuaError. */
  private async readAnswer(line: string, timeoutMs: number): Promise<string> {
    const end = await this.waitUntil(() => {
      const m = RESPONSE_END.exec(this.rx);
      return m ?? undefined;
    }, timeoutMs);
    if (end === undefined) {
      this.throwIfClosed();
      const got = this.rx === "" ? "nothing" : JSON.stringify(this.rx.slice(-160));
      throw new DeviceNotAnsweringError(
        `no answer from the device on ${this.port.path} within ${timeoutMs} ms to ${JSON.stringify(line.slice(0, 60))} (received ${got})`,
      );
    }
    const response = this.rx.slice(0, end.index + 2);
    const prompt = end[1];
    this.consume(end.index + end[0].length);
    const echo = line + "\r\n";
    const at = response.indexOf(echo);
    if (at < 0) {
      if (prompt === ">>") {
        await this.unjam();
      }
      if (/NodeMCU \d|PANIC|rst cause/.test(response)) {
        throw new Error(
          `the board rebooted while reading ${JSON.stringify(line.slice(0, 60))} (it printed ${JSON.stringify(response.slice(-200))}); ` +
            "a running app may have crashed it: stop the app (file.remove(\"init.lua\") at the prompt) and try again",
        );
      }
      throw new EchoMismatchError(line, response.replace(/\r\n$/, ""));
    }
    this.logNoise(response.slice(0, at));
    const output = response.slice(at + echo.length).replace(/\r\n/g, "\n").replace(/\n$/, "");
    const error = LUA_ERROR.exec(output);
    if (prompt === ">>") {
      // Our line left a chunk open (it was cut, or is not a full statement): drop it.
      await this.unjam();
      throw new DeviceLuaError(`incomplete Lua chunk (the line was cut or is not a whole statement)`, line);
    }
    if (error !== null) {
      throw new DeviceLuaError((error[1] as string).replace(/^Lua error: /, ""), line);
    }
    return output;
  }

  /** Drops a pending `>>` chunk. */
  private async unjam(): Promise<void> {
    this.write(UNJAM_LINE + "\n");
    const end = await this.waitUntil(() => /\r\n> /.exec(this.rx) ?? undefined, this.timeoutMs);
    if (end !== undefined) {
      this.consume(end.index + end[0].length);
    }
  }

  private consume(upTo: number): void {
    this.rx = this.rx.slice(upTo);
  }

  private logNoise(text: string, dropResyncLines = false): void {
    for (const line of text.split(/\r?\n/)) {
      if (line.trim() === "" || line.trim() === ">") {
        continue;
      }
      if (dropResyncLines && (line.includes(UNJAM_LINE) || line.includes("ESPFLEET_SYNC_") || RESYNC_ERROR.test(line))) {
        continue;
      }
      this.log(line);
    }
  }

  private throwIfClosed(): void {
    if (this.closed || !this.port.isOpen) {
      throw new PortClosedError(this.port.path);
    }
  }

  private wake(): void {
    for (const w of [...this.waiters]) {
      w();
    }
  }

  /** Resolves with the first defined value of `check` (re-run on every byte received), or undefined after timeoutMs / on close. */
  private waitUntil<T>(check: () => T | undefined, timeoutMs: number): Promise<T | undefined> {
    return new Promise((resolve) => {
      const first = check();
      if (first !== undefined || this.closed) {
        resolve(first);
        return;
      }
      const done = (value: T | undefined): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve(value);
      };
      const waiter = (): void => {
        const value = check();
        if (value !== undefined || this.closed) {
          done(value);
        }
      };
      const timer = setTimeout(() => done(undefined), timeoutMs);
      this.waiters.add(waiter);
    });
  }

  private detach(): void {
    this.port.off("data", this.onData);
    this.port.off("close", this.onClose);
    // A write still in flight may yet fail as the port closes: keep listening for that error, and ignore it.
    this.port.off("error", this.onError);
    this.port.on("error", () => undefined);
    this.closed = true;
    this.wake();
  }
}

function checkLine(line: string): void {
  if (line.length > MAX_LUA_LINE - 1) {
    throw new Error(`a REPL line has ${line.length} characters; NodeMCU cuts input lines at ${MAX_LUA_LINE}: split it`);
  }
  if (/[\r\n]/.test(line)) {
    throw new Error("a REPL line must not contain line ends: send one line at a time");
  }
}
