/**
 * The end-to-end lag of `npm run bench:collect`: from the moment a simulated
 * node sent a reading to the commit of the transaction holding it (which is
 * when its PUBACK goes). The nodes send `ts` with milliseconds (a real node
 * sends whole seconds; the collector keeps whole seconds either way), so the
 * readings stay node-shaped: no extra field that would cost the database a
 * jsonb per row. A tap sees each reading as it arrives and remembers its send
 * time; a Store wrapper reports each committed batch.
 */
import type { ReadingRecord, Store } from "../../ops/collect/store";

/** A Store whose every committed write is reported with the commit time. */
export function timedStore(store: Store, committed: (readings: ReadingRecord[], committedMs: number) => void): Store {
  return new Proxy(store, {
    get(target, property) {
      if (property === "write") {
        return async (batch: Parameters<Store["write"]>[0]) => {
          const result = await target.write(batch);
          committed(batch.readings, Date.now());
          return result;
        };
      }
      const value: unknown = Reflect.get(target, property);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** The readings' fields the bench nodes write first, in this order (collect-bench-nodes.ts). */
const HEAD = /^\{"id":"([^"]+)","seq":(\d+),"boot":\d+,"up":\d+,"ts":([\d.]+)/;

export class SendTimes {
  private readonly sent = new Map<string, number>();

  /** The collector's tap: remember when each reading was sent. */
  readonly tap = (_topic: string, payload: Buffer): void => {
    const head = HEAD.exec(payload.toString("latin1", 0, 120));
    if (head !== null) {
      this.sent.set(`${head[1]}/${head[2]}`, Math.round(Number(head[3]) * 1000));
    }
  };

  /** Lags (ms) of the committed readings sent at or after `fromMs` and before `toMs`; each reading is forgotten. */
  lags(readings: ReadingRecord[], committedMs: number, fromMs = 0, toMs = Number.POSITIVE_INFINITY): number[] {
    const out: number[] = [];
    for (const r of readings) {
      const key = `${r.node}/${r.seq}`;
      const sent = this.sent.get(key);
      this.sent.delete(key);
      if (sent !== undefined && sent >= fromMs && sent < toMs) {
        out.push(committedMs - sent);
      }
    }
    return out;
  }
}

/** Percentiles of a set of lags. */
export class Lags {
  private values: number[] = [];

  add(lags: number[]): void {
    for (const lag of lags) {
      this.values.push(lag);
    }
  }

  get count(): number {
    return this.values.length;
  }

  /** p in 0..100; NaN when empty. */
  percentile(p: number): number {
    if (this.values.length === 0) {
      return Number.NaN;
    }
    const sorted = Float64Array.from(this.values).sort();
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
  }
}
