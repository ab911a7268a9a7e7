/**
 * Progress of the long steps: a bar per file and one overall for the
 * upload, one for flashing an image. On a terminal these are cli-progress
 * bars on stderr; elsewhere (CI, a pipe) one line per finished file or per
 * quarter of an image, so logs stay readable.
 */
import cliProgress from "cli-progress";

export interface FileProgress {
  file: string;
  fileBytes: number;
  fileTotal: number;
  bytes: number;
  total: number;
}

const FORMAT = "{label} [{bar}] {percentage}% {value}/{total} B";

export class UploadProgressView {
  private readonly multi: cliProgress.MultiBar | undefined;
  private overall: cliProgress.SingleBar | undefined = undefined;
  private fileBar: cliProgress.SingleBar | undefined = undefined;
  private currentFile = "";
  private readonly done = new Set<string>();

  /**
   * `log` prints a line the normal way; `format` turns a line into what `log`
   * would print (prefix, secrets hidden), for printing above the bars.
   */
  constructor(
    tty: boolean,
    private readonly log: (line: string) => void,
    private readonly format: (line: string) => string = (line) => line,
  ) {
    this.multi = tty
      ? new cliProgress.MultiBar({ format: FORMAT, stream: process.stderr, hideCursor: true, clearOnComplete: false }, cliProgress.Presets.shades_classic)
      : undefined;
  }

  update(p: FileProgress): void {
    if (this.multi !== undefined) {
      this.overall ??= this.multi.create(p.total, 0, { label: "all files      " });
      if (p.file !== this.currentFile) {
        this.fileBar?.stop();
        this.fileBar = this.multi.create(p.fileTotal, 0, { label: p.file.padEnd(15).slice(0, 15) });
      }
      this.fileBar?.update(p.fileBytes);
      this.overall.update(p.bytes);
    } else if (p.fileBytes >= p.fileTotal && !this.done.has(p.file)) {
      this.done.add(p.file);
      this.log(`uploaded ${p.file} (${p.fileTotal} B; ${p.bytes}/${p.total} B in all)`);
    }
    this.currentFile = p.file;
  }

  /** A log line that does not tear the bars apart (printed above them while they show). */
  note(line: string): void {
    if (this.multi !== undefined && this.overall !== undefined) {
      this.multi.log(this.format(line) + "\n");
    } else {
      this.log(line);
    }
  }

  stop(): void {
    this.multi?.stop();
  }
}

/** Bytes written of one image (flashing): a bar, or a line per 25 %. */
export class ImageProgressView {
  private readonly bar: cliProgress.SingleBar | undefined;
  private lastQuarter = -1;

  constructor(
    tty: boolean,
    private readonly log: (line: string) => void,
  ) {
    this.bar = tty ? new cliProgress.SingleBar({ format: FORMAT, stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic) : undefined;
  }

  update(written: number, total: number): void {
    if (this.bar !== undefined) {
      if (!this.bar.isActive) {
        this.bar.start(total, 0, { label: "flash image" });
      }
      this.bar.setTotal(total);
      this.bar.update(written);
      return;
    }
    const quarter = total > 0 ? Math.floor((written / total) * 4) : 4;
    if (quarter > this.lastQuarter) {
      this.lastQuarter = quarter;
      this.log(`flashing: ${written}/${total} B (${Math.floor((100 * written) / Math.max(total, 1))} %)`);
    }
  }

  stop(): void {
    this.bar?.stop();
  }
}
