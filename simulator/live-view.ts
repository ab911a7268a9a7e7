/**
 * The terminal of `espfleet run`: a progress bar while nodes connect, then a
 * one-line live summary (connected/offline, msg/s, acks, buffered, dropped)
 * redrawn in place, with log lines scrolling above it. Without a TTY (CI,
 * a pipe) it prints a plain summary line every few seconds instead.
 * msg/s is over the last 10 s, sliding, as in `watch`: nodes that publish
 * slower than the redraw (a 2 s interval) would otherwise read 0 and twice
 * the true rate in turn.
 */
import cliProgress from "cli-progress";
import type { FleetSnapshot } from "./fleet-counters";
import { RATE_WINDOW_MS, SlidingRate } from "../common/sliding-rate";
import { formatCount } from "../common/units";

/** Non-interactive output prints a summary this often. */
const PLAIN_EVERY_MS = 5000;

export class LiveView {
  private bars: cliProgress.MultiBar | undefined = undefined;
  private bar: cliProgress.SingleBar | undefined = undefined;
  private statusShown = false;
  private readonly published = new SlidingRate(RATE_WINDOW_MS);
  private lastPlainAt = 0;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly interactive: boolean = out.isTTY === true,
    /** The clock, in ms (tests step it). */
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** A line above the bar or status line. */
  print(line: string): void {
    if (this.bars !== undefined) {
      this.bars.log(line + "\n");
      return;
    }
    this.clearStatus();
    this.out.write(line + "\n");
  }

  startProgress(total: number): void {
    if (!this.interactive) {
      this.out.write(`connecting ${formatCount(total)} nodes…\n`);
      return;
    }
    this.bars = new cliProgress.MultiBar(
      {
        format: "connecting |{bar}| {value}/{total} nodes connected · {started} started · {failures} failed attempts",
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        barsize: 30,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar = this.bars.create(total, 0, { started: 0, failures: 0 });
  }

  progress(s: FleetSnapshot): void {
    if (this.bar !== undefined) {
      this.bar.update(s.connected, { started: formatCount(s.started), failures: formatCount(s.connectFailures) });
    } else if (!this.interactive && Date.now() - this.lastPlainAt >= PLAIN_EVERY_MS) {
      this.lastPlainAt = Date.now();
      this.out.write(`connecting: ${formatCount(s.connected)}/${formatCount(s.total)} connected, ${formatCount(s.started)} started\n`);
    }
  }

  endProgress(s: FleetSnapshot, elapsedMs: number): void {
    if (this.bars !== undefined) {
      this.bar?.update(s.connected);
      this.bars.stop();
      this.bars = undefined;
      this.bar = undefined;
    }
    // The first summary line follows at once, not a period later.
    this.lastPlainAt = 0;
    const all = s.connected === s.total ? "all " : "";
    const faulted = s.faulted > 0 ? ` (${formatCount(s.faulted)} faulted)` : "";
    this.out.write(`${all}${formatCount(s.connected)}/${formatCount(s.total)} nodes connected in ${(elapsedMs / 1000).toFixed(1)} s${faulted}\n`);
  }

  /** Redraw the summary from a fresh snapshot (call about once a second). */
  update(s: FleetSnapshot): void {
    const now = this.now();
    this.published.total(now, s.published);
    const line = summaryLine(s, this.published.rate(now));
    if (this.interactive) {
      // A terminal that reports no size (0 columns: `script`, some CI ptys) is taken as wide, not as 0 wide.
      const width = this.out.columns > 0 ? this.out.columns : 200;
      this.out.write("\r\x1b[2K" + line.slice(0, width - 1));
      this.statusShown = true;
    } else if (Date.now() - this.lastPlainAt >= PLAIN_EVERY_MS) {
      this.lastPlainAt = Date.now();
      this.out.write(line + "\n");
    }
  }

  /** Leave the terminal clean (before the final summary). */
  close(): void {
    if (this.bars !== undefined) {
      this.bars.stop();
      this.bars = undefined;
    }
    this.clearStatus();
  }

  private clearStatus(): void {
    if (this.statusShown) {
      this.out.write("\r\x1b[2K");
      this.statusShown = false;
    }
  }
}

export function summaryLine(s: FleetSnapshot, ratePerSec: number): string {
  const offline = s.started - s.connected;
  const parts = [
    `${formatCount(s.connected)}/${formatCount(s.total)} connected`,
    `${formatCount(offline)} offline`,
    `${ratePerSec.toFixed(1)} msg/s`,
    `${formatCount(s.acked)} acked`,
    `${formatCount(s.buffered)} buffered`,
    `${formatCount(s.dropped)} dropped`,
  ];
  if (s.faulted > 0) {
    parts.push(`${formatCount(s.faulted)} faulted`);
  }
  if (s.workerRestarts > 0) {
    parts.push(`${formatCount(s.workerRestarts)} worker restarts`);
  }
  if (s.storageErrors > 0) {
    parts.push(`${formatCount(s.storageErrors)} file write errors`);
  }
  if (s.configApplied + s.configRejected > 0) {
    parts.push(`config ${formatCount(s.configApplied)} applied/${formatCount(s.configRejected)} rejected`);
  }
  return parts.join(" · ");
}
