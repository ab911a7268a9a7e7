/**
 * Events per second over a sliding window, for the rates people read off a
 * terminal: `espfleet watch` (a node's readings as they arrive) and the live
 * summary of `espfleet run` (a fleet counter read once a second). A rate over
 * the last interval only flips between 0 and a multiple of the true rate
 * whenever events come in bursts slower than the reads (10 nodes at a 2 s
 * interval read once a second: 0.0, 10.0, 0.0, …); over a window it reads 5.0.
 */

/** Rates are events per second over this sliding window (the last 10 s). */
export const RATE_WINDOW_MS = 10_000;
/** Samples kept at most (a source faster than 100/s is measured over its last 1,000 samples). */
const MAX_SAMPLES = 1000;

export class SlidingRate {
  /** When the total changed (ms, oldest first): the samples of the window, and always the last two (for slow sources). */
  private readonly times: number[] = [];
  /** The running total at each of those times. */
  private readonly totals: number[] = [];

  constructor(private readonly windowMs: number = RATE_WINDOW_MS) {}

  /** One event at `atMs` (watch: a reading arrived). */
  event(atMs: number): void {
    this.total(atMs, (this.totals[this.totals.length - 1] ?? 0) + 1);
  }

  /**
   * A running count read at `atMs` (the fleet's `published`). A read that
   * finds the count unchanged adds no sample: the quiet time is accounted
   * for by rate()'s stretch, exactly as between two arrivals. A count that
   * went down (a counter that restarted) starts the measurement again.
   */
  total(atMs: number, total: number): void {
    const last = this.totals[this.totals.length - 1];
    if (last !== undefined && total < last) {
      this.times.length = 0;
      this.totals.length = 0;
    } else if (total === last) {
      return;
    }
    this.times.push(atMs);
    this.totals.push(total);
    // Kept to the window at every sample, not only when rate() is asked: watch --json never asks, for 19,000 nodes.
    this.prune(atMs);
  }

  /**
   * Events per second over the last window, sliding: the events between the
   * window's first and last sample over the time between them (a steady 1/s
   * reads 1.00 from the second event on), stretched by the time since the
   * last one once that is overdue, so a source that stops decays instead of
   * keeping its last rate, and reads 0 once silent for the window and three
   * of its own intervals. A source slower than the window is measured over
   * its last two samples.
   */
  rate(nowMs: number): number {
    this.prune(nowMs);
    const times = this.times;
    if (times.length < 2) {
      return 0;
    }
    const first = times[0] as number;
    const last = times[times.length - 1] as number;
    const events = (this.totals[this.totals.length - 1] as number) - (this.totals[0] as number);
    const span = last - first;
    // The mean time between samples (not between events: a counter's sample may carry many), for the overdue test.
    const gap = span / (times.length - 1);
    if (nowMs - last > Math.max(this.windowMs, 3 * gap)) {
      return 0; // silent for the whole window and three of its own intervals: stopped
    }
    const covered = Math.max(span, nowMs - first - gap);
    return covered > 0 ? (events * 1000) / covered : 0;
  }

  /** Drop samples older than the window (or past MAX_SAMPLES), keeping the last two. */
  private prune(nowMs: number): void {
    const times = this.times;
    let drop = 0;
    while (times.length - drop > 2 && ((times[drop] as number) < nowMs - this.windowMs || times.length - drop > MAX_SAMPLES)) {
      drop++;
    }
    if (drop > 0) {
      times.splice(0, drop);
      this.totals.splice(0, drop);
    }
  }
}
