/**
 * What the console knows about each node, from what it hears: one row per
 * node in columns (typed arrays grown by doubling), so 10,000 nodes at 1 Hz
 * cost no allocation per reading and a push is a walk over the rows that
 * changed. Pure: no I/O; live-link.ts feeds it, push.ts reads it.
 *
 * Gaps, duplicates and reboots are told apart as the collector does
 * (ops/collect/dedupe.ts, the same class); with a database they start from
 * the collector's totals (seed), then count what the console hears.
 * `dropped` is the node's own count since boot (`dropped` in readings, the
 * `total` of readings_dropped events), summed over its boots.
 */
import { DedupeTracker } from "../collect/dedupe";
import type { NodeSummary } from "../collect/store";

/** Column names the page gets, in this order of the per-node numbers. */
export const COLUMNS = ["state", "seen", "rate", "gaps", "dups", "drops", "reboots"] as const;
export type Column = (typeof COLUMNS)[number];

/** `state` column: 0 never heard a status, 1 online, 2 offline, 3 anything else (faulted). */
export const STATE_CODES: Record<string, number> = { online: 1, offline: 2 };
const OTHER_STATE = 3;

/** Readings per minute are counted in one-second slots over the last minute. */
const RATE_SLOTS = 60;

export interface NodeAck {
  req: string;
  result: "applied" | "rejected";
  /** "key reason; …" for a rejection. */
  reasons: string;
}

export class FleetState {
  readonly ids: string[] = [];
  private readonly index = new Map<string, number>();
  private capacity = 0;
  state = new Uint8Array(0);
  seenMs = new Float64Array(0);
  gaps = new Float64Array(0);
  dups = new Float64Array(0);
  reboots = new Float64Array(0);
  /** Drops in earlier boots, and the highest count of the current one. */
  private dropsBefore = new Float64Array(0);
  private dropsNow = new Float64Array(0);
  private ring = new Uint16Array(0);
  rate = new Uint32Array(0);
  /** Removed rows keep their index (the page's rows are addressed by it) and are skipped. */
  removed = new Uint8Array(0);
  readonly fw: string[] = [];
  readonly config: (Record<string, unknown> | undefined)[] = [];
  readonly lastAck: (NodeAck | undefined)[] = [];
  private readonly dedupe = new DedupeTracker();
  private slot = 0;
  /** Readings heard since the start (duplicates included). */
  heard = 0;

  /** Rows changed since the last takeChanges(), and which kind of change. */
  private readonly changedRows = new Set<number>();
  private readonly changedText = new Set<number>();
  private readonly added: number[] = [];
  private readonly removedNow: number[] = [];

  get size(): number {
    return this.ids.length;
  }

  indexOf(node: string): number | undefined {
    return this.index.get(node);
  }

  /** The row of `node`, made when first heard. */
  row(node: string): number {
    const known = this.index.get(node);
    if (known !== undefined) {
      if (this.removed[known] === 1) {
        this.removed[known] = 0; // heard again after a removal: back in the table
        this.added.push(known);
      }
      return known;
    }
    const i = this.ids.length;
    if (i === this.capacity) {
      this.grow(Math.max(64, this.capacity * 2));
    }
    this.ids.push(node);
    this.fw.push("");
    this.config.push(undefined);
    this.lastAck.push(undefined);
    this.index.set(node, i);
    this.added.push(i);
    this.changedRows.add(i);
    return i;
  }

  /** Counters and positions the collector stored (at start): the console counts on from them. */
  seed(summaries: NodeSummary[]): void {
    for (const s of summaries) {
      const i = this.row(s.node);
      this.gaps[i] = s.gaps;
      this.dups[i] = s.duplicates;
      this.reboots[i] = s.reboots;
      this.seenMs[i] = s.lastSeenMs ?? 0;
      if (s.state !== null) {
        this.state[i] = STATE_CODES[s.state] ?? OTHER_STATE;
      }
      if (s.fw !== null) {
        this.fw[i] = s.fw;
        this.changedText.add(i);
      }
      if (s.boot > 0 || s.seq > 0) {
        this.dedupe.classify(s.node, s.boot, s.seq);
      }
    }
  }

  /** A reading of `node`; returns its row. */
  reading(node: string, boot: number, seq: number, dropped: number | undefined, nowMs: number): number {
    const i = this.row(node);
    this.heard++;
    const verdict = this.dedupe.classify(node, boot, seq);
    if (verdict.kind === "duplicate") {
      this.dups[i]++;
    } else {
      this.gaps[i] = Math.max(0, this.gaps[i] + verdict.gap - (verdict.fillsGap ? 1 : 0));
      if (verdict.reboot) {
        this.reboots[i]++;
        this.dropsBefore[i] += this.dropsNow[i];
        this.dropsNow[i] = 0;
      }
      const r = i * RATE_SLOTS + this.slot;
      if (this.ring[r] < 65535) {
        this.ring[r]++;
        this.rate[i]++;
      }
    }
    if (dropped !== undefined && dropped > this.dropsNow[i]) {
      this.dropsNow[i] = dropped;
    }
    this.seenMs[i] = nowMs;
    this.changedRows.add(i);
    return i;
  }

  status(node: string, state: string, fw: string | null): void {
    const i = this.row(node);
    this.state[i] = STATE_CODES[state] ?? OTHER_STATE;
    if (fw !== null && fw !== this.fw[i]) {
      this.fw[i] = fw;
      this.changedText.add(i);
    }
    this.changedRows.add(i);
  }

  /** A `readings_dropped` event: its `total` is the node's count since boot. */
  dropped(node: string, total: number): void {
    const i = this.row(node);
    if (total > this.dropsNow[i]) {
      this.dropsNow[i] = total;
      this.changedRows.add(i);
    }
  }

  ack(node: string, ack: NodeAck, config: Record<string, unknown> | undefined): void {
    const i = this.row(node);
    this.lastAck[i] = ack;
    if (config !== undefined) {
      this.config[i] = config;
    }
    this.changedText.add(i);
  }

  /** The config a node acknowledged before the console started (from the database). */
  knownConfig(node: string, config: Record<string, unknown>): void {
    const i = this.row(node);
    this.config[i] ??= config;
    this.changedText.add(i);
  }

  remove(node: string): void {
    const i = this.index.get(node);
    if (i !== undefined && this.removed[i] === 0) {
      this.removed[i] = 1;
      this.removedNow.push(i);
    }
  }

  drops(i: number): number {
    return this.dropsBefore[i] + this.dropsNow[i];
  }

  /** Once a second: the oldest second of every node's rate leaves the window. */
  tick(): void {
    this.slot = (this.slot + 1) % RATE_SLOTS;
    for (let i = 0; i < this.ids.length; i++) {
      const r = i * RATE_SLOTS + this.slot;
      const old = this.ring[r];
      if (old !== 0) {
        this.rate[i] -= old;
        this.ring[r] = 0;
        this.changedRows.add(i);
      }
    }
  }

  /** What changed since the last call: rows whose numbers changed, rows whose texts (fw, config, ack) did, rows added and removed. */
  takeChanges(): { rows: number[]; texts: number[]; added: number[]; removed: number[] } {
    const changes = {
      rows: [...this.changedRows].sort((a, b) => a - b),
      texts: [...this.changedText].sort((a, b) => a - b),
      added: this.added.splice(0),
      removed: this.removedNow.splice(0),
    };
    this.changedRows.clear();
    this.changedText.clear();
    return changes;
  }

  /** Row `i`'s numbers, in COLUMNS order, into `out` (reused: a push reads every row); `seen` as whole seconds before `nowMs` (-1: never). */
  numbers(i: number, nowMs: number, out: number[] = new Array<number>(COLUMNS.length)): number[] {
    out[0] = this.state[i];
    out[1] = this.seenMs[i] > 0 ? Math.max(0, Math.round((nowMs - this.seenMs[i]) / 1000)) : -1;
    out[2] = this.rate[i];
    out[3] = this.gaps[i];
    out[4] = this.dups[i];
    out[5] = this.drops(i);
    out[6] = this.reboots[i];
    return out;
  }

  /** Nodes by state, and totals, for the page's header. */
  totals(): { nodes: number; online: number; offline: number; ratePerMinute: number; gaps: number; dups: number; drops: number; reboots: number } {
    const t = { nodes: 0, online: 0, offline: 0, ratePerMinute: 0, gaps: 0, dups: 0, drops: 0, reboots: 0 };
    for (let i = 0; i < this.ids.length; i++) {
      if (this.removed[i] === 1) {
        continue;
      }
      t.nodes++;
      t.online += this.state[i] === 1 ? 1 : 0;
      t.offline += this.state[i] === 2 ? 1 : 0;
      t.ratePerMinute += this.rate[i];
      t.gaps += this.gaps[i];
      t.dups += this.dups[i];
      t.drops += this.drops(i);
      t.reboots += this.reboots[i];
    }
    return t;
  }

  private grow(capacity: number): void {
    const grown = <T extends Uint8Array | Uint16Array | Uint32Array | Float64Array>(old: T, make: (n: number) => T, per = 1): T => {
      const next = make(capacity * per);
      next.set(old);
      return next;
    };
    this.state = grown(this.state, (n) => new Uint8Array(n));
    this.removed = grown(this.removed, (n) => new Uint8Array(n));
    this.seenMs = grown(this.seenMs, (n) => new Float64Array(n));
    this.gaps = grown(this.gaps, (n) => new Float64Array(n));
    this.dups = grown(this.dups, (n) => new Float64Array(n));
    this.reboots = grown(this.reboots, (n) => new Float64Array(n));
    this.dropsBefore = grown(this.dropsBefore, (n) => new Float64Array(n));
    this.dropsNow = grown(this.dropsNow, (n) => new Float64Array(n));
    this.rate = grown(this.rate, (n) => new Uint32Array(n));
    this.ring = grown(this.ring, (n) => new Uint16Array(n), RATE_SLOTS);
    this.capacity = capacity;
  }
}
