/**
 * Read-only peeks into a SensorNode for the fleet's summary line.
 */
import type { SensorNode } from "../firmware/core/node";

export function bufferState(node: SensorNode): { buffered: number; dropped: number } {
  return { buffered: node.outbox.size(), dropped: node.outbox.dropped };
}
