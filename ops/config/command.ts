/**
 * `espfleet config`: publish one `config_change` (human units in, the
 * contract's units on the wire), wait for the acknowledgements, print who
 * applied and who rejected (with reasons), and exit non-zero when any node
 * rejected or a targeted node did not answer in time. With no setting it is a
 * query: each node's config (from its ack) is printed. With a fleet key every
 * change, the query too, is signed; a new key goes encrypted (fleet_key_enc).
 */
import { applyChange, defaultConfig, ENVELOPE_KEYS } from "../../firmware/core/config";
import type { MqttClient } from "mqtt";
import { connectClient } from "../../broker/target";
import { CliError } from "../../common/errors";
import { brokerFromFlags } from "../../broker/flags";
import { type AckExpectation, type ConfigChangeBody, type ConfigOutcome, newRequestId, sendConfigChange } from "./change";
import { CounterStore, DEFAULT_COUNTER_FILE, type Signing } from "./signing";
import { loadFleetKey } from "../../common/fleet-key";
import { nothingHeardHint, operatorTopics } from "../../broker/topics";
import { formatCount, formatDuration } from "../../common/units";

export interface ConfigFlags {
  broker?: string;
  username?: string;
  password?: string;
  ca?: string;
  prefix: string;
  interval?: number;
  sensitivity?: number;
  heartbeat?: number;
  sensors?: string[];
  buffer?: number;
  qos?: number;
  flushGap?: number;
  target?: string[];
  all?: boolean;
  expect?: number;
  timeout: number;
  req?: string;
  fleetKeyFile?: string;
  newFleetKeyFile?: string;
  counter?: number;
  /** Where the last counter used is kept (default .espfleet/config-counter). */
  counterFile?: string;
}

export { DEFAULT_COUNTER_FILE };

/** Ids listed one by one up to this many; beyond, counts and the first few. */
const LIST_LIMIT = 20;

export function buildChange(flags: ConfigFlags): ConfigChangeBody {
  if (flags.all === true && flags.target !== undefined) {
    throw new CliError("give either --target <id…> or --all, not both", 2);
  }
  if (flags.all !== true && flags.target === undefined) {
    throw new CliError("say which nodes: --target node-0003 [node-0004 …] or --all for every node", 2);
  }
  if (flags.expect !== undefined && flags.all !== true) {
    throw new CliError("--expect is for --all; with --target the command waits for exactly the targeted nodes", 2);
  }
  const req = flags.req ?? newRequestId();
  // Bytes, as the node counts them (issue 15: "é" is one character but two bytes).
  if (Buffer.byteLength(req) > 32) {
    throw new CliError(`--req must be at most 32 bytes in UTF-8 (the node rejects longer); got ${Buffer.byteLength(req)}`, 2);
  }
  const body: ConfigChangeBody = { req };
  if (flags.interval !== undefined) body.interval_ms = flags.interval;
  if (flags.sensitivity !== undefined) body.sensitivity = flags.sensitivity;
  if (flags.heartbeat !== undefined) body.heartbeat_ms = flags.heartbeat;
  if (flags.sensors !== undefined) body.sensors = flags.sensors;
  if (flags.buffer !== undefined) body.buffer_capacity = flags.buffer;
  if (flags.qos !== undefined) body.qos = flags.qos;
  if (flags.flushGap !== undefined) body.flush_gap_ms = flags.flushGap;
  if (flags.target !== undefined) {
    const ids = [...new Set(flags.target)];
    body.target = ids.length === 1 ? ids[0] : ids;
  }
  // Checked here against the node's own schema, so a value every node would reject is never sent.
  const checked = applyChange(defaultConfig(), body as unknown as Record<string, unknown>, ENVELOPE_KEYS);
  if (checked.config === undefined) {
    throw new CliError(checked.errors.map((e) => `${e.key} ${e.reason}`).join("; "), 2);
  }
  return body;
}

/**
 * The signing of this change: from --fleet-key-file or ESPFLEET_FLEET_KEY,
 * counter from --counter or the counter file (neither far ahead of the
 * clock), and the new key of a rotation (--new-fleet-key-file), which is only
 * ever sent encrypted under the current one.
 */
export function signingFor(flags: ConfigFlags, env: NodeJS.ProcessEnv = process.env, nowMs = Date.now()): Signing | undefined {
  const key = loadFleetKey(flags.fleetKeyFile, env);
  const newKey = flags.newFleetKeyFile !== undefined ? loadFleetKey(flags.newFleetKeyFile, {}, "--new-fleet-key-file") : undefined;
  if (key === undefined) {
    if (newKey !== undefined) {
      throw new CliError(
        "--new-fleet-key-file rotates the key of nodes that have one: give their current key with --fleet-key-file or ESPFLEET_FLEET_KEY " +
          "(it signs the change and encrypts the new key; a key is never sent in clear). Nodes without a key get one in config.json " +
          "(./flash.sh --fleet-key-file), or over MQTT only where config.json sets accept_first_key (README, Fleet key)",
        2,
      );
    }
    if (flags.counter !== undefined) {
      throw new CliError("--counter signs the change: give the current fleet key with --fleet-key-file or ESPFLEET_FLEET_KEY", 2);
    }
    return undefined;
  }
  if (newKey === key) {
    throw new CliError("--new-fleet-key-file holds the current fleet key: make a new one with openssl rand -hex 32", 2);
  }
  const store = new CounterStore(flags.counterFile ?? DEFAULT_COUNTER_FILE);
  const counter = flags.counter !== undefined ? flags.counter : store.next(nowMs);
  if (flags.counter !== undefined) {
    store.record(flags.counter, nowMs);
  }
  return newKey !== undefined ? { key, counter, newKey } : { key, counter };
}

/** Is `body` a query (no setting, only the envelope)? */
export function isQuery(body: ConfigChangeBody): boolean {
  return Object.keys(body).every((k) => k === "req" || k === "target");
}

export interface ConfigIo {
  /** Connect to the broker (default: connectClient on the flags' broker). */
  connect?: (flags: ConfigFlags) => Promise<MqttClient>;
  out?: NodeJS.WritableStream;
  env?: NodeJS.ProcessEnv;
}

/** Returns the process exit code. */
export async function configCommand(flags: ConfigFlags, io: ConfigIo = {}): Promise<number> {
  const out = io.out ?? process.stdout;
  const body = buildChange(flags);
  const signing = signingFor(flags, io.env ?? process.env);
  const query = isQuery(body) && signing?.newKey === undefined;
  if (query) {
    out.write(`no setting given: asking each node for its current config${signing !== undefined ? " (signed, as nodes with a fleet key require)" : ""}\n`);
  }
  const target = brokerFromFlags(flags);
  const client: MqttClient = io.connect !== undefined ? await io.connect(flags) : await connectClient(target, `espfleet-config-${process.pid}`);
  const expectation: AckExpectation =
    flags.target !== undefined ? { ids: [...new Set(flags.target)] } : flags.expect !== undefined ? { count: flags.expect } : { none: true };
  const who = flags.target !== undefined ? listIds([...new Set(flags.target)]) : "every node";
  const signed = signing !== undefined ? ` signed, ctr ${signing.counter}` : "";
  const rotating = signing?.newKey !== undefined ? ", with a new fleet key (encrypted: fleet_key_enc)" : "";
  out.write(`config_change ${JSON.stringify(body)}${signed}${rotating} -> ${who} on ${target.url}\n`);
  let outcome: ConfigOutcome;
  try {
    outcome = await sendConfigChange(client, flags.prefix, body, expectation, flags.timeout, signing);
  } finally {
    // Forced: the change was acknowledged by the broker (QoS 1) and the acks are in; nothing is left to wait for.
    await client.endAsync(true);
  }
  return report(outcome, flags, expectation, query, out, target.username);
}

/** A node's config from its ack, one line: `key=value` in the ack's order (values as JSON). */
export function formatConfig(config: Record<string, unknown> | undefined): string {
  if (config === undefined) {
    return "(the ack carries no config)";
  }
  return Object.entries(config)
    .map(([key, value]) => `${key}=${JSON.stringify(value) ?? String(value)}`)
    .join(" ");
}

function report(outcome: ConfigOutcome, flags: ConfigFlags, expectation: AckExpectation, query: boolean, out: NodeJS.WritableStream, user = ""): number {
  const applied = outcome.applied.map((a) => a.id);
  const answered = outcome.applied.length + outcome.rejected.length;
  const waited = formatDuration(Math.round(flags.timeout));
  if (answered === 0) {
    // Nothing heard at all: say the likely cause (issue 12), not only the count.
    const refused = outcome.acksRefused ? [operatorTopics(flags.prefix).acks] : [];
    out.write(`applied by 0: no node answered within ${waited}; ${nothingHeardHint(flags.prefix, refused, user)}\n`);
  } else {
    out.write(`applied by ${formatCount(applied.length)}${applied.length > 0 ? ": " + listIds(applied) : ""}\n`);
  }
  if (query) {
    // Grouped: a fleet mostly runs one config. Keyed by its text in a Map (keys from the wire, issue 15).
    const byConfig = new Map<string, string[]>();
    for (const ack of outcome.applied) {
      const line = formatConfig(ack.config);
      byConfig.set(line, [...(byConfig.get(line) ?? []), ack.id]);
    }
    for (const [line, ids] of byConfig) {
      out.write(`  ${listIds(ids)}: ${line}\n`);
    }
  }
  if (outcome.rejected.length > 0) {
    out.write(`rejected by ${formatCount(outcome.rejected.length)}:\n`);
    // Group by reason: a fleet rejects a bad change all the same way.
    const byReason = new Map<string, string[]>();
    for (const ack of outcome.rejected) {
      const reason = (ack.errors ?? []).map((e) => (e.key !== "" ? `${e.key} ${e.reason}` : e.reason)).join("; ") || "no reason given";
      byReason.set(reason, [...(byReason.get(reason) ?? []), ack.id]);
    }
    for (const [reason, ids] of byReason) {
      out.write(`  ${listIds(ids)}: ${reason}\n`);
    }
  }
  if (outcome.missing.length > 0) {
    out.write(`no answer within ${waited} from ${formatCount(outcome.missing.length)}: ${listIds(outcome.missing)}\n`);
    out.write("  (offline, a different --prefix, or not a node of this broker; `espfleet watch` shows who is online)\n");
  }
  let shortOfExpected = false;
  if ("count" in expectation) {
    if (answered < expectation.count) {
      shortOfExpected = true;
      out.write(`expected ${formatCount(expectation.count)} answers, got ${formatCount(answered)} within ${waited}\n`);
    }
  } else if ("none" in expectation) {
    out.write(`(waited the full ${waited}: pass --expect N to stop as soon as N nodes have answered)\n`);
    // --all heard by nobody: the change reached no node, so the job was not done.
    shortOfExpected = answered === 0;
  }
  const failed = outcome.rejected.length > 0 || outcome.missing.length > 0 || shortOfExpected;
  return failed ? 1 : 0;
}

function listIds(ids: string[]): string {
  if (ids.length <= LIST_LIMIT) {
    return ids.join(", ");
  }
  return `${ids.slice(0, LIST_LIMIT).join(", ")} and ${formatCount(ids.length - LIST_LIMIT)} more`;
}
