/**
 * The UART side of NodeMCU's console, as in its lua.c readline() and
 * uart0_putc():
 *   - every received character is echoed (unless uart.setup(..., echo=0));
 *   - CR, LF, CR LF and LF CR each end one line, echoed as "\r\n";
 *   - backspace/DEL erase one character ("\b \b");
 *   - a line keeps its first MAX_LINE characters; the rest are dropped;
 *   - an empty line just prints the prompt again;
 *   - the next line is not read (nor echoed) until the previous one ran,
 *     so output and prompts come out in the order a real board gives;
 *   - on output, "\n" becomes "\r\n" and a bare "\r" is dropped.
 */

/** LUA_MAXINPUT on NodeMCU: input lines are cut at this many characters. */
export const MAX_LINE = 256;

const CR = 0x0d;
const LF = 0x0a;
const BS = 0x08;
const DEL = 0x7f;

export interface SerialLineHooks {
  /** Bytes to send back (echo, re-printed prompt), already in UART form. */
  tx(bytes: Buffer): void;
  /** A complete, non-empty line for the interpreter. */
  line(text: Buffer): void;
  /** CR on an empty line: the prompt is printed again. */
  emptyLine(): void;
  /** Raw bytes for uart.on("data") when a handler is registered. */
  raw(bytes: Buffer): void;
}

/** uart0_putc: "\n" -> "\r\n", "\r" dropped. */
export function uartText(text: Buffer | string): Buffer {
  const src = typeof text === "string" ? Buffer.from(text, "utf8") : text;
  let extra = 0;
  for (const b of src) {
    if (b === LF) {
      extra++;
    }
  }
  const out = Buffer.allocUnsafe(src.length + extra);
  let n = 0;
  for (const b of src) {
    if (b === LF) {
      out[n++] = CR;
      out[n++] = LF;
    } else if (b !== CR) {
      out[n++] = b;
    }
  }
  return out.subarray(0, n);
}

export class SerialLine {
  echo = true;
  /** uart.on("data", ..., run_input): false keeps input from the interpreter. */
  runInput = true;
  /** A uart.on("data") handler is registered in Lua. */
  rawListener = false;
  private readonly line = Buffer.alloc(MAX_LINE);
  private length = 0;
  private lastEol = 0;
  private readonly input: Buffer[] = [];
  /** A line was handed to the interpreter and has not finished running. */
  private busy = false;

  constructor(private readonly hooks: SerialLineHooks) {}

  /** Bytes from the serial port. */
  feed(data: Buffer): void {
    if (this.rawListener) {
      this.hooks.raw(Buffer.from(data));
    }
    if (!this.runInput) {
      return;
    }
    this.input.push(Buffer.from(data));
    this.process();
  }

  /** The interpreter finished the last line: read on. */
  resume(): void {
    this.busy = false;
    this.process();
  }

  /** A reboot: the half-typed line and anything queued are lost. */
  reset(): void {
    this.length = 0;
    this.lastEol = 0;
    this.input.length = 0;
    this.busy = false;
    this.echo = true;
    this.runInput = true;
    this.rawListener = false;
  }

  private process(): void {
    while (!this.busy && this.input.length > 0) {
      const chunk = this.input[0] as Buffer;
      let i = 0;
      for (; i < chunk.length && !this.busy; i++) {
        this.byte(chunk[i] as number);
      }
      if (i >= chunk.length) {
        this.input.shift();
      } else {
        this.input[0] = chunk.subarray(i);
      }
    }
  }

  private byte(ch: number): void {
    const last = this.lastEol;
    this.lastEol = 0;
    if ((ch === CR && last === LF) || (ch === LF && last === CR)) {
      return; // the second half of CR LF / LF CR
    }
    if (ch === BS || ch === DEL) {
      if (this.length > 0) {
        this.length--;
        this.tx(Buffer.from([BS, 0x20, BS]));
      }
      return;
    }
    if (ch === CR || ch === LF) {
      this.lastEol = ch;
      this.tx(uartText("\n"));
      if (this.length === 0) {
        this.hooks.emptyLine();
        return;
      }
      const text = Buffer.from(this.line.subarray(0, this.length));
      this.length = 0;
      this.busy = true;
      this.hooks.line(text);
      return;
    }
    this.tx(Buffer.from([ch]));
    if (this.length < MAX_LINE) {
      this.line[this.length++] = ch;
    }
  }

  private tx(bytes: Buffer): void {
    if (this.echo) {
      this.hooks.tx(bytes);
    }
  }
}
