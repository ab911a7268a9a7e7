/**
 * The collector's core, without the command line: messages in (from the
 * subscriber), decoded, deduped in arrival order, batched into transactions,
 * acknowledged after each commit. Used by `espfleet collect`, the tests and
 * the benchmark.
 */
import type { OperatorTopics } from "../../broker/topics";
import { Batcher, type Queued } from "./batcher";
import { CollectStats } from "./collect-stats";
import { DedupeTracker } from "./dedupe";
import { decodeMessage } from "./messages";
import type { DropCount } from "../../broker/dropped";
import { formatCount } from "../../common/units";
import { emptyBatch, type Batch, type BrokerDropsRecord, type MessageRecord, type ReadingRecord, type StatusRecord, type Store } from "./store";

type Item =
  | { kind: "reading"; reading: ReadingRecord }
  | { kind: "duplicate"; node: string }
  | { kind: "status"; status: StatusRecord }
  | { kind: "message"; message: MessageRecord }
  | { kind: "drops"; drops: BrokerDropsRecord }
  /** Nothing to store (malformed, forged, other topics), but acknowledged in its turn. */
  | { kind: "none" };

export interface CollectorOptions {
  store: Store;
  topics: OperatorTopics;
  /** Most messages per transaction. */
  maxBatch: number;
  /** Messages held uncommitted before the collector stops reading from the broker. */
  maxPending: number;
  /** First and longest pause between retries of a failed commit, ms. */
  retryMinMs: number;
  retryMaxMs: number;
  /** Lines for people: database trouble and recovery, malformed and forged messages (the first few). */
  log: (line: string) => void;
}

/** Malformed or forged messages reported one by one; beyond this only counted. */
const REPORTED_PER_KIND = 5;

export class Collector {
  readonly stats = new CollectStats();
  readonly tracker: DedupeTracker;
  /** commit() gives the number of readings newly stored, for the stats. */
  private readonly batcher: Batcher<Item, number>;
  private reported = { malformed: 0, forged: 0 };
  /** What the broker dropped for each client id, as last stored: a new count is compared with it. */
  private readonly drops: Map<string, BrokerDropsRecord>;

  private constructor(
    private readonly options: CollectorOptions,
    tracker: DedupeTracker,
    drops: BrokerDropsRecord[],
  ) {
    this.tracker = tracker;
    this.drops = new Map(drops.map((d) => [d.client, d]));
    this.batcher = new Batcher<Item, number>({
      commit: (items) => this.commit(items),
      maxBatch: options.maxBatch,
      maxPending: options.maxPending,
      retryMinMs: options.retryMinMs,
      retryMaxMs: options.retryMaxMs,
      onRetry: (error, attempt, delayMs, waiting) => {
        this.stats.totals.failedCommits++;
        options.log(
          `database error (${options.store.description}): ${oneLine(error)}; ${waiting} messages wait uncommitted and unacknowledged ` +
            `(the broker keeps them); try ${attempt + 1} in ${(delayMs / 1000).toFixed(1)} s`,
        );
      },
      onRecovered: (downMs, attempts) =>
        options.log(`database back after ${(downMs / 1000).toFixed(1)} s and ${attempts} failed tries; committing what waited, nothing lost`),
      onCommitted: (items, committedAt, stored) => this.committed(items, committedAt, stored),
    });
  }

  /** Load where each node stood (the dedupe's memory) from the store. */
  static async create(options: CollectorOptions): Promise<Collector> {
    return new Collector(options, new DedupeTracker(await options.store.positions()), await options.store.brokerDrops());
  }

  get waiting(): number {
    return this.batcher.waiting;
  }

  get failing(): boolean {
    return this.batcher.failing;
  }

  hasRoom(): boolean {
    return this.batcher.hasRoom();
  }

  whenRoom(): Promise<void> {
    return this.batcher.whenRoom();
  }

  /** One MQTT message; `ack` is called once it is committed. */
  receive(topic: string, payload: Buffer, ack: () => void, receivedMs = Date.now()): void {
    this.stats.totals.received++;
    const decoded = decodeMessage(this.options.topics, topic, payload, receivedMs);
    let item: Item;
    switch (decoded.type) {
      case "reading": {
        const r = decoded.reading;
        const verdict = this.tracker.classify(r.node, r.boot, r.seq);
        item =
          verdict.kind === "duplicate"
            ? { kind: "duplicate", node: r.node }
            : // Spelled out, not spread: one object of a fixed shape per reading, the hot path.
              {
                kind: "reading",
                reading: { node: r.node, boot: r.boot, seq: r.seq, timeMs: r.timeMs, up: r.up, ts: r.ts, values: r.values, extra: r.extra, gap: verdict.gap, reboot: verdict.reboot, fillsGap: verdict.fillsGap },
              };
        break;
      }
      case "status":
        item = { kind: "status", status: decoded.status };
        break;
      case "message":
        item = { kind: "message", message: decoded.message };
        break;
      case "drops":
        item = this.dropsItem(decoded.count, receivedMs);
        break;
      case "malformed":
        this.stats.totals.malformed++;
        this.report("malformed", `${decoded.topic}: ${decoded.reason}; not stored`);
        item = { kind: "none" };
        break;
      case "forged":
        this.stats.totals.forged++;
        this.report("forged", `a reading on ${decoded.topicId}'s topic claims to be from ${JSON.stringify(decoded.claimed).slice(0, 40)}; not stored`);
        item = { kind: "none" };
        break;
      default:
        item = { kind: "none" };
    }
    this.batcher.add(item, ack);
  }

  /** Commit what was received, for at most `timeoutMs`; true when nothing is left uncommitted. */
  drain(timeoutMs: number): Promise<boolean> {
    return this.batcher.drain(timeoutMs);
  }

  /** One transaction; the number of readings it stored. */
  private async commit(items: Item[]): Promise<number> {
    const batch: Batch = emptyBatch();
    for (const item of items) {
      switch (item.kind) {
        case "reading":
          batch.readings.push(item.reading);
          break;
        case "duplicate":
          batch.duplicates[item.node] = (batch.duplicates[item.node] ?? 0) + 1;
          break;
        case "status":
          batch.statuses.push(item.status);
          break;
        case "message":
          batch.messages.push(item.message);
          break;
        case "drops":
          batch.drops.push(item.drops);
          break;
        default:
          break;
      }
    }
    if (
      batch.readings.length === 0 &&
      batch.statuses.length === 0 &&
      batch.messages.length === 0 &&
      batch.drops.length === 0 &&
      Object.keys(batch.duplicates).length === 0
    ) {
      return 0;
    }
    const result = await this.options.store.write(batch);
    const t = this.stats.totals;
    t.duplicates += result.duplicates;
    t.statuses += batch.statuses.length;
    t.messages += batch.messages.length;
    const notStored = new Set(result.notStored);
    batch.readings.forEach((r, i) => {
      if (!notStored.has(i)) {
        t.gaps += r.gap - (r.fillsGap ? 1 : 0);
        t.reboots += r.reboot ? 1 : 0;
      }
    });
    return result.stored;
  }

  private committed(items: Queued<Item>[], committedAt: number, stored: number): void {
    this.stats.committed(
      stored,
      items.map((q) => committedAt - q.receivedAt),
    );
  }

  /**
   * The broker's drop count for this session (a retained message, received
   * at every connect): the messages dropped since the count last stored are
   * new; a count below it means the broker's folder was wiped and counts
   * from 0 again.
   */
  private dropsItem(count: DropCount, receivedMs: number): Item {
    const before = this.drops.get(count.client);
    const fresh = before === undefined || count.dropped < before.brokerCount ? count.dropped : count.dropped - before.brokerCount;
    if (before !== undefined && fresh === 0) {
      return { kind: "none" };
    }
    const drops: BrokerDropsRecord = {
      client: count.client,
      dropped: (before?.dropped ?? 0) + fresh,
      brokerCount: count.dropped,
      queueLimit: count.queueLimit,
      lastDropMs: count.lastDropMs,
      seenMs: receivedMs,
    };
    this.drops.set(count.client, drops);
    if (fresh > 0) {
      this.stats.totals.brokerDropped += fresh;
      this.options.log(
        `the broker dropped ${formatCount(fresh)} messages for this session (${count.client}) while the collector was away: its queue holds at most ` +
          `${formatCount(count.queueLimit)} (embedded broker: espfleet run --broker-queue); the readings among them are lost, counted as gaps of their nodes`,
      );
    }
    return { kind: "drops", drops };
  }

  private report(kind: "malformed" | "forged", text: string): void {
    this.reported[kind]++;
    if (this.reported[kind] <= REPORTED_PER_KIND) {
      this.options.log(`${kind}: ${text}${this.reported[kind] === REPORTED_PER_KIND ? ` (further ${kind} messages are only counted)` : ""}`);
    }
  }
}

function oneLine(error: Error): string {
  const code = (error as Error & { code?: string }).code;
  const text = error.message !== "" ? error.message : String(code ?? error.name);
  return (code !== undefined && !text.includes(code) ? `${code} ` : "") + text.split("\n")[0];
}
