/**
 * How the embedded broker tells a persistent session what it dropped: a
 * retained message on `$SYS/espfleet/dropped/<client id>` holding the count
 * of messages not kept for that client id because its offline queue was
 * full (session-queues.ts). The collector subscribes to its own and records
 * it (README "Collector"). Pure: the topic and the payload, both ways.
 *
 * `$SYS/`: only the broker can publish there (aedes refuses a client's
 * PUBLISH to `$SYS/…`), so no client can forge or reset a count, and a `#`
 * subscriber does not receive it unasked (MQTT 4.7.2). The count is
 * cumulative since the broker's folder was created, so a reader that keeps
 * the last value it saw knows how many are new.
 */

export const DROPPED_TOPIC_PREFIX = "$SYS/espfleet/dropped/";

/** The topic of `clientId`'s drop count. */
export function droppedTopic(clientId: string): string {
  return DROPPED_TOPIC_PREFIX + clientId;
}

export interface DropCount {
  /** The client id whose queue was full. */
  client: string;
  /** Messages not kept for it, in all, since the broker's folder was created. */
  dropped: number;
  /** The broker's queue limit when it last dropped, in messages. */
  queueLimit: number;
  /** When it last dropped one, ms since 1970. */
  lastDropMs: number;
}

export function encodeDropCount(count: DropCount): Buffer {
  return Buffer.from(
    JSON.stringify({ client: count.client, dropped: count.dropped, queue_limit: count.queueLimit, last_drop: new Date(count.lastDropMs).toISOString() }),
  );
}

/** The count in a message on `topic`, or undefined when it is not one (another topic, or not the broker's format). */
export function decodeDropCount(topic: string, payload: Buffer): DropCount | undefined {
  if (!topic.startsWith(DROPPED_TOPIC_PREFIX)) {
    return undefined;
  }
  let body: unknown;
  try {
    body = JSON.parse(payload.toString("utf8"));
  } catch {
    return undefined;
  }
  if (typeof body !== "object" || body === null) {
    return undefined;
  }
  const b = body as Record<string, unknown>;
  const lastDropMs = typeof b.last_drop === "string" ? Date.parse(b.last_drop) : Number.NaN;
  if (!isCount(b.dropped) || !isCount(b.queue_limit) || !Number.isFinite(lastDropMs)) {
    return undefined;
  }
  return { client: topic.slice(DROPPED_TOPIC_PREFIX.length), dropped: b.dropped, queueLimit: b.queue_limit, lastDropMs };
}

const isCount = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
