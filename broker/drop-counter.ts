/**
 * The embedded broker's count of messages it did not keep for each offline
 * persistent session (its queue was full), published as a retained message
 * on `$SYS/espfleet/dropped/<client id>` (dropped.ts): at most once a
 * second while a session is dropping, and at once when that client
 * reconnects, before its CONNACK, so the count it reads on SUBSCRIBE is
 * current. Restored at start from the retained messages, so the count runs
 * on across restarts of a broker kept in a folder.
 */
import { type DropCount, droppedTopic, encodeDropCount } from "./dropped";
import { formatCount } from "../common/units";

/** While a session drops, its count is published at most this often, ms. */
const PUBLISH_EVERY_MS = 1000;

export interface DropCounterOptions {
  /** The queue limit, messages (it goes into the count). */
  limit: number;
  /** Publish a retained QoS 0 message; resolves once the broker stored it. */
  publish: (topic: string, payload: Buffer) => Promise<void>;
  /** Lines for the operator. */
  log: (line: string) => void;
}

interface Count extends DropCount {
  /** Not published yet. */
  dirty: boolean;
  /** Dropping now, since the last reconnect (a notice was printed). */
  full: boolean;
}

export class DropCounter {
  private readonly counts = new Map<string, Count>();
  private timer: NodeJS.Timeout | undefined = undefined;

  constructor(private readonly options: DropCounterOptions) {}

  /** Counts found at start (retained messages of an earlier run). */
  restore(counts: DropCount[]): void {
    for (const c of counts) {
      this.counts.set(c.client, { ...c, dirty: false, full: false });
    }
  }

  /** One message for `clientId` was not kept. */
  dropped(clientId: string, nowMs = Date.now()): void {
    let count = this.counts.get(clientId);
    if (count === undefined) {
      count = { client: clientId, dropped: 0, queueLimit: this.options.limit, lastDropMs: nowMs, dirty: true, full: false };
      this.counts.set(clientId, count);
    }
    count.dropped++;
    count.lastDropMs = nowMs;
    count.queueLimit = this.options.limit;
    count.dirty = true;
    if (!count.full) {
      count.full = true;
      this.options.log(
        `broker: the queue of offline session ${clientId} is full (${formatCount(this.options.limit)} messages, --broker-queue): ` +
          `newer messages for it are dropped and counted on ${droppedTopic(clientId)}`,
      );
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flushAll();
    }, PUBLISH_EVERY_MS);
  }

  /** `clientId` is connecting: publish its count now if it changed. */
  async connecting(clientId: string): Promise<void> {
    const count = this.counts.get(clientId);
    if (count === undefined) {
      return;
    }
    if (count.full) {
      this.options.log(`broker: session ${clientId} is back; ${formatCount(count.dropped)} messages dropped for it in all`);
      count.full = false;
    }
    await this.flush(count);
  }

  /** Messages dropped, in all, for every client id. */
  total(): number {
    let n = 0;
    for (const c of this.counts.values()) {
      n += c.dropped;
    }
    return n;
  }

  /** Publish what changed and stop the timer (the broker closes). */
  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flushAll();
  }

  private async flushAll(): Promise<void> {
    await Promise.all([...this.counts.values()].map((c) => this.flush(c)));
  }

  private async flush(count: Count): Promise<void> {
    if (!count.dirty) {
      return;
    }
    count.dirty = false;
    try {
      await this.options.publish(droppedTopic(count.client), encodeDropCount(count));
    } catch (error) {
      count.dirty = true;
      this.options.log(`broker: could not store the drop count of ${count.client}: ${(error as Error).message}`);
    }
  }
}
