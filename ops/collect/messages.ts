/**
 * What arrives on the operator's topics, decoded into records for the store
 * (README "MQTT contract"): readings on `P/sensor_data` (id in the payload)
 * or `P/sensor_data/<id>`, retained statuses on `P/status/<id>`, events on
 * `P/event/<id>`, config acknowledgements on `P/config_ack/<id>`. Pure: no
 * I/O, so every rule is unit-tested.
 */
import { decodeDropCount, type DropCount } from "../../broker/dropped";
import { readingTopic, topicMatches, type OperatorTopics } from "../../broker/topics";
import { SENSORS, type Sensor } from "./schema";
import type { MessageRecord, ReadingRecord, StatusRecord } from "./store";

/** A reading before the dedupe tracker has looked at it. */
export type IncomingReading = Omit<ReadingRecord, "gap" | "reboot" | "fillsGap">;

export type Decoded =
  | { type: "reading"; reading: IncomingReading }
  | { type: "status"; status: StatusRecord }
  | { type: "message"; message: MessageRecord }
  /** The embedded broker's count of messages it dropped for this session (broker/dropped.ts). */
  | { type: "drops"; count: DropCount }
  /** On a per-node topic, a payload naming another node (README: drop it). */
  | { type: "forged"; topicId: string; claimed: string }
  | { type: "malformed"; topic: string; reason: string }
  | { type: "ignored" };

const MAX_INT = 2_147_483_647;
const MAX_ID_LENGTH = 64;
/** Fields of a reading that are not free-form extras. */
const KNOWN = new Set<string>(["id", "seq", "boot", "up", "ts", ...SENSORS]);
const SENSOR_SET = new Set<string>(SENSORS);
/** A node clock before 2001 or more than a day ahead is not trusted as the reading's time. */
const MIN_TS = 1_000_000_000;
/** A `ts` beyond this (year 2100) is not a clock reading; it is kept in `extra`, not in the bigint column. */
const MAX_TS = 4_102_444_800;
const MAX_TS_AHEAD_S = 86_400;

function parseObject(payload: Buffer): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(payload.toString("utf8")) as unknown;
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const isCount = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= MAX_INT;
const finite = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const validUp = (v: unknown): v is number => finite(v) && v >= 0 && v <= MAX_INT;

export function decodeReading(body: Record<string, unknown>, receivedMs: number): IncomingReading | string {
  if (typeof body.id !== "string" || body.id === "" || body.id.length > MAX_ID_LENGTH) {
    return `no node id ("id": a string of 1-${MAX_ID_LENGTH} characters)`;
  }
  if (!isCount(body.seq)) {
    return `"seq" is not a whole number 0-${MAX_INT}`;
  }
  const boot = body.boot === undefined ? 0 : body.boot;
  if (!isCount(boot)) {
    return `"boot" is not a whole number 0-${MAX_INT}`;
  }
  const ts = finite(body.ts) && body.ts >= 0 && body.ts <= MAX_TS ? Math.floor(body.ts) : null;
  const trustedTs = ts !== null && ts >= MIN_TS && ts <= receivedMs / 1000 + MAX_TS_AHEAD_S;
  const values: Partial<Record<Sensor, number>> = {};
  let extra: Record<string, unknown> | null = null;
  for (const key in body) {
    const value = body[key];
    const sensor = SENSOR_SET.has(key);
    if (sensor && finite(value)) {
      values[key as Sensor] = value;
    } else if (sensor || !KNOWN.has(key) || (key === "ts" && ts === null) || (key === "up" && !validUp(value))) {
      // failed, dropped, sensors this version has no column for, a sensor value that is not a number.
      extra ??= {};
      extra[key] = value;
    }
  }
  return {
    node: body.id,
    boot,
    seq: body.seq,
    timeMs: trustedTs ? ts * 1000 : receivedMs,
    up: validUp(body.up) ? Math.round(body.up) : null,
    ts,
    values,
    extra,
  };
}

/**
 * readingTopic, remembered per topic: the same few topics (one per node at
 * most) come again and again, and matching splits the topic and each filter
 * every time. Forgotten when it grows past MEMO_LIMIT (topics from a broker
 * with more nodes than that, or junk).
 */
const MEMO_LIMIT = 100_000;
const readingTopicMemo = new WeakMap<OperatorTopics, Map<string, { id?: string } | null>>();
function readingTopicOf(topics: OperatorTopics, topic: string): { id?: string } | undefined {
  let memo = readingTopicMemo.get(topics);
  if (memo === undefined) {
    memo = new Map();
    readingTopicMemo.set(topics, memo);
  }
  let found = memo.get(topic);
  if (found === undefined) {
    if (memo.size >= MEMO_LIMIT) {
      memo.clear();
    }
    found = readingTopic(topics, topic) ?? null;
    memo.set(topic, found);
  }
  return found ?? undefined;
}

/** Decode one message heard on the operator's topics. */
export function decodeMessage(topics: OperatorTopics, topic: string, payload: Buffer, receivedMs: number): Decoded {
  if (topic.startsWith("$")) {
    // The broker's own topics: only the drop count is subscribed to (broker/collector-session.ts).
    const count = decodeDropCount(topic, payload);
    return count !== undefined ? { type: "drops", count } : { type: "malformed", topic, reason: "not a drop count of the broker" };
  }
  const onReadings = readingTopicOf(topics, topic);
  if (onReadings !== undefined) {
    const body = parseObject(payload);
    if (body === undefined) {
      return { type: "malformed", topic, reason: "not a JSON object" };
    }
    const reading = decodeReading(body, receivedMs);
    if (typeof reading === "string") {
      return { type: "malformed", topic, reason: reading };
    }
    if (onReadings.id !== undefined && reading.node !== onReadings.id) {
      return { type: "forged", topicId: onReadings.id, claimed: reading.node };
    }
    return { type: "reading", reading };
  }
  const node = topic.split("/").pop() ?? "";
  const kind = topicMatches(topics.status, topic) ? "status" : topicMatches(topics.events, topic) ? "event" : topicMatches(topics.acks, topic) ? "ack" : undefined;
  if (kind === undefined || node === "") {
    return { type: "ignored" };
  }
  if (payload.length === 0) {
    // An empty retained message clears a status: nothing to store.
    return { type: "ignored" };
  }
  const body = parseObject(payload);
  if (body === undefined) {
    return { type: "malformed", topic, reason: "not a JSON object" };
  }
  if (kind === "status") {
    if (typeof body.state !== "string") {
      return { type: "malformed", topic, reason: 'no "state"' };
    }
    return { type: "status", status: { node, state: body.state, fw: typeof body.fw === "string" ? body.fw : null, timeMs: receivedMs } };
  }
  const code = kind === "event" ? body.code : body.result;
  return { type: "message", message: { node, kind, code: typeof code === "string" ? code : null, body, timeMs: receivedMs } };
}
