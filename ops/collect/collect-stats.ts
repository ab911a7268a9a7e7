/**
 * The collector's own numbers: throughput (readings stored per second), lag
 * (from the broker's delivery to the commit), what waits uncommitted, and the
 * totals; a line every few seconds and one at exit. Pure bookkeeping.
 */
import { formatCount, formatDuration } from "../../common/units";

export interface Totals {
  received: number;
  stored: number;
  duplicates: number;
  gaps: number;
  reboots: number;
  statuses: number;
  messages: number;
  malformed: number;
  forged: number;
  transactions: number;
  failedCommits: number;
  /** Messages the broker dropped for this session (its queue was full), learned during this run. */
  brokerDropped: number;
}

export class CollectStats {
  readonly totals: Totals = {
    received: 0,
    stored: 0,
    duplicates: 0,
    gaps: 0,
    reboots: 0,
    statuses: 0,
    messages: 0,
    malformed: 0,
    forged: 0,
    transactions: 0,
    failedCommits: 0,
    brokerDropped: 0,
  };
  private readonly startedAt: number;
  private windowStart: number;
  private windowStored = 0;
  private windowTransactions = 0;
  private windowLagSum = 0;
  private windowLagCount = 0;
  private windowLagMax = 0;

  constructor(now = performance.now()) {
    this.startedAt = now;
    this.windowStart = now;
  }

  /** A transaction committed: `lags` are ms from arrival to commit of each message in it. */
  committed(stored: number, lags: number[]): void {
    this.totals.transactions++;
    this.windowTransactions++;
    this.totals.stored += stored;
    this.windowStored += stored;
    for (const lag of lags) {
      this.windowLagSum += lag;
      this.windowLagCount++;
      this.windowLagMax = Math.max(this.windowLagMax, lag);
    }
  }

  /** The periodic line; starts a new window. */
  line(now: number, waiting: number, nodes: number): string {
    const seconds = Math.max((now - this.windowStart) / 1000, 0.001);
    const rate = this.windowStored / seconds;
    const lag = this.windowLagCount > 0 ? `lag ${Math.round(this.windowLagSum / this.windowLagCount)} ms avg, ${Math.round(this.windowLagMax)} ms max` : "lag -";
    const t = this.totals;
    const text =
      `${clock()} stored ${formatCount(rate)} readings/s (${formatCount(this.windowStored)} in ${seconds.toFixed(0)} s, ${formatCount(this.windowTransactions)} transactions), ${lag}, ` +
      `waiting ${formatCount(waiting)} | total ${formatCount(t.stored)} stored, ${formatCount(t.duplicates)} duplicates, ${formatCount(t.gaps)} gaps, ${formatCount(t.reboots)} reboots, ${formatCount(nodes)} nodes` +
      brokerDroppedText(t);
    this.windowStart = now;
    this.windowStored = 0;
    this.windowTransactions = 0;
    this.windowLagSum = 0;
    this.windowLagCount = 0;
    this.windowLagMax = 0;
    return text;
  }

  /** The line at exit. */
  final(now: number, waiting: number, nodes: number): string {
    const elapsed = now - this.startedAt;
    const t = this.totals;
    const rate = t.stored / Math.max(elapsed / 1000, 0.001);
    const waitingText =
      waiting > 0 ? `; ${formatCount(waiting)} received but not committed: not acknowledged, so the broker delivers them again at the next start` : "";
    return (
      `collected for ${formatDuration(Math.round(elapsed / 1000) * 1000)}: ${formatCount(t.stored)} readings stored (${formatCount(rate)}/s) from ${formatCount(nodes)} nodes in ${formatCount(t.transactions)} transactions, ` +
      `${formatCount(t.duplicates)} duplicates (stored once), ${formatCount(t.gaps)} gaps (readings lost upstream), ${formatCount(t.reboots)} reboots, ` +
      `${formatCount(t.statuses)} statuses, ${formatCount(t.messages)} events and acks, ${formatCount(t.malformed)} malformed, ${formatCount(t.forged)} forged (ignored)` +
      `${brokerDroppedText(t)}${waitingText}`
    );
  }
}

/** ", N dropped by the broker (queue full)" when it dropped any for this session. */
function brokerDroppedText(t: Totals): string {
  return t.brokerDropped > 0 ? `, ${formatCount(t.brokerDropped)} dropped by the broker (its queue for this session was full)` : "";
}

function clock(): string {
  return new Date().toTimeString().slice(0, 8);
}
