/**
 * `espfleet config`: publish one `config_change` (human units in, the
 * contract's units on the wire), wait for the acknowledgements, print who
 * applied and who rejected (with reasons), and exit non-zero when any node
 * rejected or a targeted node did not answer in time.
 */
import { join } from "node:path";
import { applyChange, defaultConfig, ENVELOPE_KEYS } from "../firmware/core/config";
import type { MqttClient } from "mqtt";
import { connectClient } from "./broker-target";
import { CliError } from "./cli-error";
import { brokerFromFlags } from "./cli-options";
import { type AckExpectation, type ConfigChangeBody, type ConfigOutcome, newRequestId, sendConfigChange } from "./config-change";
import { CounterStore, loadFleetKey, type Signing } from "./config-signing";
import { formatCount, formatDuration } from "./units";

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

export const DEFAULT_COUNTER_FILE = join(".espfleet", "config-counter");

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
  if (req.length > 32) {
    throw new CliError(`--req must be at most 32 characters (the node rejects longer); got ${req.length}`, 2);
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
  const newKey = flags.newFleetKeyFile !== undefined ? loadFleetKey(flags.newFleetKeyFile, {}, "--new-fleet-key-file") : undefined;
  if (newKey !== undefined) {
    body.fleet_key = newKey;
  }
  return body;
}

/** The signing of this change: from --fleet-key-file or ESPFLEET_FLEET_KEY, counter from --counter or the counter file. */
export function signingFor(flags: ConfigFlags, env: NodeJS.ProcessEnv = process.env): Signing | undefined {
  const key = loadFleetKey(flags.fleetKeyFile, env);
  if (key === undefined) {
    if (flags.counter !== undefined || flags.newFleetKeyFile !== undefined) {
      throw new CliError("--counter and --new-fleet-key-file sign the change: give the current fleet key with --fleet-key-file or ESPFLEET_FLEET_KEY", 2);
    }
    return undefined;
  }
  const store = new CounterStore(flags.counterFile ?? DEFAULT_COUNTER_FILE);
  if (flags.counter !== undefined) {
    store.record(flags.counter);
    return { key, counter: flags.counter };
  }
  return { key, counter: store.next() };
}

/** The change as shown to the operator: the new fleet key masked. */
function shown(body: ConfigChangeBody): string {
  return JSON.stringify(body.fleet_key !== undefined ? { ...body, fleet_key: "***" } : body);
}

/** Returns the process exit code. */
export async function configCommand(flags: ConfigFlags): Promise<number> {
  const body = buildChange(flags);
  const signing = signingFor(flags);
  const settings = Object.keys(body).filter((k) => k !== "req" && k !== "target");
  if (settings.length === 0) {
    process.stdout.write("no setting given: sending an empty change, which asks each node for its current config\n");
  }
  const target = brokerFromFlags(flags);
  const client: MqttClient = await connectClient(target, `espfleet-config-${process.pid}`);
  const expectation: AckExpectation =
    flags.target !== undefined ? { ids: [...new Set(flags.target)] } : flags.expect !== undefined ? { count: flags.expect } : { none: true };
  const who = flags.target !== undefined ? listIds([...new Set(flags.target)]) : "every node";
  const signed = signing !== undefined ? ` signed, ctr ${signing.counter}` : "";
  process.stdout.write(`config_change ${shown(body)}${signed} -> ${who} on ${target.url}\n`);
  let outcome: ConfigOutcome;
  try {
    outcome = await sendConfigChange(client, flags.prefix, body, expectation, flags.timeout, signing);
  } finally {
    await client.endAsync();
  }
  return report(outcome, flags, expectation);
}

function report(outcome: ConfigOutcome, flags: ConfigFlags, expectation: AckExpectation): number {
  const out = process.stdout;
  const applied = outcome.applied.map((a) => a.id);
  out.write(`applied by ${formatCount(applied.length)}${applied.length > 0 ? ": " + listIds(applied) : ""}\n`);
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
  const waited = formatDuration(Math.round(flags.timeout));
  if (outcome.missing.length > 0) {
    out.write(`no answer within ${waited} from ${formatCount(outcome.missing.length)}: ${listIds(outcome.missing)}\n`);
    out.write("  (offline, a different --prefix, or not a node of this broker; `espfleet watch` shows who is online)\n");
  }
  let shortOfExpected = false;
  if ("count" in expectation) {
    const answered = outcome.applied.length + outcome.rejected.length;
    if (answered < expectation.count) {
      shortOfExpected = true;
      out.write(`expected ${formatCount(expectation.count)} answers, got ${formatCount(answered)} within ${waited}\n`);
    }
  } else if ("none" in expectation) {
    out.write(`(waited the full ${waited}: pass --expect N to stop as soon as N nodes have answered)\n`);
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
