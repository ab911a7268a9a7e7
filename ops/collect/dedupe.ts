/**
 * The collector's memory of where each node stands: its last (boot, seq).
 * Loaded from the store at start (Store.positions), advanced as readings
 * arrive, in arrival order. It tells apart, for each reading
 * (README "Readings": `seq` +1 per reading since boot, `boot` persisted):
 *
 * - the same (boot, seq) as the last one: a duplicate (a QoS 1 resend after a
 *   lost PUBACK, or the broker delivering again what the collector had not
 *   acknowledged); dropped here, never sent to the database;
 * - a higher seq in the same boot: new; a jump is a gap, seq - last - 1
 *   readings lost upstream;
 * - a higher boot: a reboot; seq starts at 1 again, so seq - 1 readings of the
 *   new boot are missing;
 * - anything older (a lower seq in this boot, or an earlier boot): sent to the
 *   database, whose unique index decides: already there, a duplicate; not, a
 *   late reading (one that fills a gap counted earlier, when in this boot).
 *
 * The first reading ever heard from a node sets its position without a gap:
 * what came before was before the collector listened.
 */
import type { NodePosition } from "./store";

export type Verdict =
  | { kind: "duplicate" }
  | { kind: "store"; gap: number; reboot: boolean; fillsGap: boolean };

export class DedupeTracker {
  private readonly positions = new Map<string, { boot: number; seq: number }>();

  constructor(initial: NodePosition[] = []) {
    for (const p of initial) {
      this.positions.set(p.node, { boot: p.boot, seq: p.seq });
    }
  }

  get nodes(): number {
    return this.positions.size;
  }

  position(node: string): { boot: number; seq: number } | undefined {
    return this.positions.get(node);
  }

  classify(node: string, boot: number, seq: number): Verdict {
    const at = this.positions.get(node);
    if (at === undefined) {
      this.positions.set(node, { boot, seq });
      return { kind: "store", gap: 0, reboot: false, fillsGap: false };
    }
    if (boot > at.boot) {
      at.boot = boot;
      at.seq = seq;
      return { kind: "store", gap: Math.max(0, seq - 1), reboot: true, fillsGap: false };
    }
    if (boot === at.boot) {
      if (seq === at.seq) {
        return { kind: "duplicate" };
      }
      if (seq > at.seq) {
        const gap = seq - at.seq - 1;
        at.seq = seq;
        return { kind: "store", gap, reboot: false, fillsGap: false };
      }
      return { kind: "store", gap: 0, reboot: false, fillsGap: true };
    }
    return { kind: "store", gap: 0, reboot: false, fillsGap: false };
  }
}
