/**
 * Turns the serial byte stream into lines. The console is shown line by
 * line (so a line can be marked as an error as a whole); a partial line
 * (the `> ` prompt, a line still arriving) is handed out once the port has
 * been quiet for `idleMs`, so prompts do not hang invisible.
 */
export interface LineSink {
  /** A complete line, without its line end. */
  line(text: string): void;
  /** A partial line that has waited `idleMs`; more of the same line may follow. */
  partial(text: string): void;
}

export class LineSplitter {
  private pending = "";
  private timer: NodeJS.Timeout | undefined = undefined;

  constructor(
    private readonly sink: LineSink,
    private readonly idleMs = 150,
  ) {}

  push(bytes: Buffer | string): void {
    // latin1: every byte maps to one character, so binary noise (a 74880-baud boot ROM) cannot break decoding.
    this.pending += typeof bytes === "string" ? bytes : bytes.toString("latin1");
    for (;;) {
      const end = this.pending.search(/\r\n|\n|\r(?!$)/);
      if (end < 0) {
        break;
      }
      const line = this.pending.slice(0, end);
      const eolLength = this.pending.startsWith("\r\n", end) ? 2 : 1;
      this.pending = this.pending.slice(end + eolLength);
      this.sink.line(line);
    }
    this.armIdle();
  }

  /** Hand out whatever is left (at the end of the session). */
  flush(): void {
    this.clearIdle();
    if (this.pending !== "") {
      const rest = this.pending;
      this.pending = "";
      this.sink.partial(rest);
    }
  }

  private armIdle(): void {
    this.clearIdle();
    if (this.pending !== "") {
      this.timer = setTimeout(() => this.flush(), this.idleMs);
    }
  }

  private clearIdle(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}
