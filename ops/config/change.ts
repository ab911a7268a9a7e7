/**
 * The operator's side of `config_change`: build the message from human
 * options, publish it, and collect the acknowledgements on `config_ack/<id>`.
 * Used by `espfleet config`, the end-to-end tests and the fan-out benchmark.
 *
 * Contract (firmware/core/node.ts): the body holds run-time keys in the
 * contract's units, plus `target` (an id or a list; absent = every node) and
 * `req` (≤ 32 bytes of UTF-8, echoed in the ack). Each addressed node answers
 * `{"id","req","result":"applied","config":{…}}` or
 * `{"id","req","result":"rejected","errors":[{"key","reason"}]}`.
 * With a fleet key the message is signed (ops/config/signing.ts).
 */
import { randomBytes } from "node:crypto";
import type { MqttClient } from "mqtt";
import { operatorTopics, topicMatches } from "../../broker/topics";
import { encodeConfigChange, type Signing } from "./signing";

export interface ConfigChangeBody {
  interval_ms?: number;
  sensitivity?: number;
  heartbeat_ms?: number;
  sensors?: string[];
  buffer_capacity?: number;
  qos?: number;
  flush_gap_ms?: number;
  target?: string | string[];
  req: string;
  /** Anything else goes on the wire as given (tests send malformed changes on purpose). */
  [key: string]: unknown;
}

export interface ConfigAck {
  id: string;
  req?: string;
  result: "applied" | "rejected";
  config?: Record<string, unknown>;
  errors?: { key: string; reason: string }[];
  /** Milliseconds from publishing the change to receiving this ack. */
  latencyMs: number;
}

/**
 * An acknowledgement from the wire, checked field by field, or undefined when
 * it is not one: not JSON, not an object, no string `id`, an unknown `result`.
 * Only the contract's fields are kept, each of its type (`errors` entries
 * without a string key and reason are dropped, a non-object `config` too), so
 * nothing later meets a value of a type it does not expect, and `config` is
 * copied into a prototype-less object: its keys come from the wire (issue 15).
 */
export function parseAck(text: string): Omit<ConfigAck, "latencyMs"> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return undefined;
  }
  const { id, req, result, config, errors } = value as Record<string, unknown>;
  if (typeof id !== "string" || (result !== "applied" && result !== "rejected")) {
    return undefined;
  }
  const ack: Omit<ConfigAck, "latencyMs"> = { id, result };
  if (typeof req === "string") {
    ack.req = req;
  }
  if (typeof config === "object" && config !== null && !Array.isArray(config)) {
    ack.config = Object.assign(Object.create(null) as Record<string, unknown>, config);
  }
  if (Array.isArray(errors)) {
    ack.errors = errors.filter(
      (e): e is { key: string; reason: string } => typeof e === "object" && e !== null && typeof (e as { key?: unknown }).key === "string" && typeof (e as { reason?: unknown }).reason === "string",
    ).map((e) => ({ key: e.key, reason: e.reason }));
  }
  return ack;
}

/** A request id: short, unique enough, within the contract's 32 characters. */
export function newRequestId(): string {
  return "cfg-" + Date.now().toString(36) + "-" + randomBytes(3).toString("hex");
}

/** What to wait for: these node ids, a count of answers, or just the timeout. */
export type AckExpectation = { ids: string[] } | { count: number } | { none: true };

export interface ConfigOutcome {
  req: string;
  applied: ConfigAck[];
  rejected: ConfigAck[];
  /** Targeted nodes that did not answer in time (empty when the change was not targeted). */
  missing: string[];
  /** True when everything expected arrived before the timeout. */
  complete: boolean;
  elapsedMs: number;
  /** The broker refused the subscription to the acks (SUBACK 0x80: its ACL does not let this login read them). */
  acksRefused: boolean;
}

/**
 * Subscribe to the acks, publish `body`, wait until the expectation is met or
 * `timeoutMs` passes. The client must be connected; it is left connected.
 */
export async function sendConfigChange(
  client: MqttClient,
  prefix: string,
  body: ConfigChangeBody,
  expectation: AckExpectation,
  timeoutMs: number,
  signing?: Signing,
): Promise<ConfigOutcome> {
  const topics = operatorTopics(prefix);
  const acks = new Map<string, ConfigAck>();
  const expectedIds = "ids" in expectation ? new Set(expectation.ids) : undefined;
  let publishedAt = 0;
  let acksRefused: boolean;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const satisfied = (): boolean => {
    if (expectedIds !== undefined) {
      for (const id of expectedIds) {
        if (!acks.has(id)) {
          return false;
        }
      }
      return true;
    }
    return "count" in expectation && acks.size >= expectation.count;
  };
  const onMessage = (topic: string, payload: Buffer): void => {
    if (!topicMatches(topics.acks, topic)) {
      return;
    }
    const ack = parseAck(payload.toString("utf8"));
    if (ack === undefined || ack.req !== body.req || acks.has(ack.id)) {
      return;
    }
    acks.set(ack.id, { ...ack, latencyMs: performance.now() - publishedAt });
    if (satisfied()) {
      finish();
    }
  };
  client.on("message", onMessage);
  try {
    const granted = await client.subscribeAsync(topics.acks, { qos: 1 });
    acksRefused = granted.length > 0 && granted.every((g) => g.qos === 128);
    publishedAt = performance.now();
    await client.publishAsync(topics.config, encodeConfigChange(body, signing), { qos: 1 });
    const timer = setTimeout(finish, timeoutMs);
    await done;
    clearTimeout(timer);
  } finally {
    client.removeListener("message", onMessage);
    // Not awaited: the outcome is known, and the round trip (40 ms on aedes) would only delay `espfleet config`'s exit.
    // A later subscribe on this client queues behind it, so it is still the broker's last word on the filter.
    client.unsubscribeAsync(topics.acks).catch(() => undefined);
  }
  const all = [...acks.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const missing = expectedIds !== undefined ? [...expectedIds].filter((id) => !acks.has(id)).sort() : [];
  return {
    req: body.req,
    applied: all.filter((a) => a.result === "applied"),
    rejected: all.filter((a) => a.result === "rejected"),
    missing,
    complete: satisfied(),
    elapsedMs: performance.now() - publishedAt,
    acksRefused,
  };
}
