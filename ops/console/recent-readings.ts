/**
 * Each node's last readings, for its live charts: a node view opened now
 * shows the last minute or so at once, even with no database to ask. A ring
 * of RING readings per node in one Float64Array (time, then each sensor; NaN
 * when absent): about 2.4 KB a node, 24 MB for 10,000 nodes, and no
 * allocation per reading. Nodes are the fleet table's row numbers
 * (fleet-state.ts), so a reading costs no second lookup by name.
 */
import { SENSORS, type Sensor } from "../collect/schema";

export const RING = 60;
const STRIDE = 1 + SENSORS.length;

/** Readings as column arrays: times in ms, and per sensor its values (null: absent). */
export interface ReadingColumns {
  t: number[];
  values: Record<Sensor, (number | null)[]>;
}

export function emptyColumns(): ReadingColumns {
  return { t: [], values: Object.fromEntries(SENSORS.map((s) => [s, []])) as unknown as Record<Sensor, (number | null)[]> };
}

export class RecentReadings {
  /** Per row its ring, the slot written next, and how many readings it ever took (a cursor for since()). */
  private readonly rings: ({ data: Float64Array; next: number; added: number } | undefined)[] = [];

  add(row: number, timeMs: number, values: Partial<Record<Sensor, number>>): void {
    let ring = this.rings[row];
    if (ring === undefined) {
      ring = { data: new Float64Array(RING * STRIDE), next: 0, added: 0 };
      this.rings[row] = ring;
    }
    const at = ring.next * STRIDE;
    ring.data[at] = timeMs;
    for (let s = 0; s < SENSORS.length; s++) {
      ring.data[at + 1 + s] = values[SENSORS[s]] ?? Number.NaN;
    }
    ring.next = (ring.next + 1) % RING;
    ring.added++;
  }

  forget(row: number): void {
    this.rings[row] = undefined;
  }

  /**
   * Row `row`'s readings after the cursor `after` (0: all it holds), oldest
   * first, and the cursor to pass next time. By arrival, not by time: two
   * readings may carry the same whole-second time.
   */
  since(row: number, after: number): { columns: ReadingColumns; cursor: number } {
    const out = emptyColumns();
    const ring = this.rings[row];
    if (ring === undefined) {
      return { columns: out, cursor: after };
    }
    for (let k = Math.min(RING, ring.added - after); k > 0; k--) {
      const at = ((ring.next - k + RING) % RING) * STRIDE;
      out.t.push(ring.data[at]);
      for (let s = 0; s < SENSORS.length; s++) {
        const v = ring.data[at + 1 + s];
        out.values[SENSORS[s]].push(Number.isNaN(v) ? null : v);
      }
    }
    return { columns: out, cursor: ring.added };
  }
}
