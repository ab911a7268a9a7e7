/**
 * Read-only peeks into a SensorNode for the fleet's summary line.
 *
 * Why this exists: the core exposes no accessor for its offline buffer, and
 * firmware/core is owned elsewhere. Until it gains one (proposed:
 * `SensorNode.bufferState(): { buffered: number; dropped: number }`), the
 * simulator reads the private `outbox` field by name, here and only here.
 * If the field is renamed the summary shows 0 rather than crashing.
 */
import type { SensorNode } from "../firmware/core/node";

interface OutboxView {
  size(): number;
  dropped: number;
}

export function bufferState(node: SensorNode): { buffered: number; dropped: number } {
  const outbox = (node as unknown as { outbox?: Partial<OutboxView> }).outbox;
  if (outbox === undefined || typeof outbox.size !== "function" || typeof outbox.dropped !== "number") {
    return { buffered: 0, dropped: 0 };
  }
  return { buffered: outbox.size(), dropped: outbox.dropped };
}
