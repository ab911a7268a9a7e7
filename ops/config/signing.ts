/**
 * The operator's half of signed config changes (the node's half is
 * checkSignature in firmware/core/config.ts).
 *
 * Wire form: `{"sig":"<64 hex>",` + the rest of the JSON object, where the
 * signature is HMAC-SHA256 under the fleet key over `{` + that rest, i.e. the
 * object without its `sig` member, byte for byte as sent. The body carries
 * `ctr`, a counter the node must see grow: it keeps the last one it applied
 * (config_counter) and rejects anything not above it, so a recorded message
 * cannot be replayed.
 *
 * A new fleet key (rotation) never crosses the broker in clear: it goes as
 * `fleet_key_enc`, its bytes XOR a keystream made from the current key and
 * the message's counter (encryptFleetKey; decryptKey in config.ts).
 */
import { createHmac } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { MAX_COUNTER } from "../../firmware/core/config";
import { CliError } from "../../common/errors";

/** How far ahead of now a counter may be: a node that applies it refuses every lower one until then. */
/** Where `espfleet config` keeps the last counter it used (--counter-file). */
export const DEFAULT_COUNTER_FILE = join(".espfleet", "config-counter");

export const MAX_COUNTER_AHEAD_S = 24 * 3600;

export interface Signing {
  /** The fleet key (fleet_key on the nodes). */
  key: string;
  /** This message's counter; must be above every counter the nodes applied before. */
  counter: number;
  /** Rotate: the nodes' new fleet key, sent encrypted under `key` as `fleet_key_enc`. */
  newKey?: string;
}

/**
 * `newKey` encrypted for `fleet_key_enc` in a change signed with `key` and
 * carrying `counter`: hex of newKey's bytes XOR the keystream whose block j
 * (32 bytes) is HMAC-SHA256(key, "fleet_key_enc:<counter>:<j>"). The counter
 * is never used twice, so neither is a keystream; the signature covers the
 * ciphertext. The node's half is decryptKey in firmware/core/config.ts.
 */
export function encryptFleetKey(key: string, counter: number, newKey: string): string {
  const plain = Buffer.from(newKey, "utf8");
  const out = Buffer.alloc(plain.length);
  let stream = Buffer.alloc(0);
  for (let i = 0; i < plain.length; i++) {
    if (i % 32 === 0) {
      stream = createHmac("sha256", key).update(`fleet_key_enc:${counter}:${i / 32}`).digest();
    }
    out[i] = (plain[i] as number) ^ (stream[i % 32] as number);
  }
  return out.toString("hex");
}

/** The config_change text: plain JSON, or signed with `ctr` (and `fleet_key_enc` for a rotation) added when `signing` is given. */
export function encodeConfigChange(body: Record<string, unknown>, signing?: Signing): string {
  if (signing === undefined) {
    return JSON.stringify(body);
  }
  const { sig: _sig, ctr: _ctr, ...rest } = body;
  if (signing.newKey !== undefined) {
    rest.fleet_key_enc = encryptFleetKey(signing.key, signing.counter, signing.newKey);
  }
  const text = JSON.stringify({ ...rest, ctr: signing.counter });
  const sig = createHmac("sha256", signing.key).update(text).digest("hex");
  return `{"sig":"${sig}",${text.slice(1)}`;
}

/** How to get nodes back when they hold a counter no operator can go above (README, "Fleet key"). */
const COUNTER_RECOVERY =
  "nodes that applied it refuse every signed change with a lower counter: re-flash their config.json " +
  "(./flash.sh --fleet-key-file <key> … writes config_counter = now; simulated nodes: espfleet run --fresh)";

/**
 * Why `counter` must not be used at `nowMs`, or undefined: more than
 * MAX_COUNTER_AHEAD_S ahead of the Unix time (a node that applied it would
 * refuse this command's time-based counters until then), or past MAX_COUNTER.
 */
export function counterProblem(counter: number, nowMs = Date.now()): string | undefined {
  const now = Math.floor(nowMs / 1000);
  if (counter > MAX_COUNTER) {
    return `${counter} is past ${MAX_COUNTER}, the most a node holds`;
  }
  if (counter > now + MAX_COUNTER_AHEAD_S) {
    const days = (counter - now) / 86400;
    return `${counter} is ${days >= 2 ? `${Math.floor(days)} days` : `${Math.ceil((counter - now) / 3600)} hours`} ahead of now (Unix time ${now}); counters are Unix seconds and may run at most a day ahead`;
  }
  return undefined;
}

/**
 * Counters for signed changes: the current Unix time in seconds, or one more
 * than the last counter this machine used when that is higher (two changes
 * within a second). Time keeps operators on different machines roughly in
 * step; the file keeps one machine strictly increasing. A counter far ahead
 * of the clock is refused (issue 15): once a node applied it, nothing lower
 * gets through until then.
 */
export class CounterStore {
  constructor(private readonly file: string) {}

  next(nowMs = Date.now()): number {
    const last = this.last();
    const counter = Math.max(Math.floor(nowMs / 1000), last + 1);
    const problem = counterProblem(counter, nowMs);
    if (problem !== undefined) {
      throw new CliError(
        `the next config counter would be ${problem}: ${this.file} holds ${last}. If no node applied it, lower or delete ${this.file}; ${COUNTER_RECOVERY}`,
        2,
      );
    }
    this.write(counter);
    return counter;
  }

  /** The last counter this machine used; 0 before the first. */
  last(): number {
    try {
      return Number.parseInt(readFileSync(this.file, "utf8"), 10) || 0;
    } catch {
      return 0;
    }
  }

  /** Remember a counter given with --counter, so the next default is above it (never lowers the file); refuses one far ahead. */
  record(counter: number, nowMs = Date.now()): void {
    const problem = counterProblem(counter, nowMs);
    if (problem !== undefined) {
      throw new CliError(`--counter ${problem}. Leave --counter out (the default is the Unix time) or give one within a day of now; ${COUNTER_RECOVERY}`, 2);
    }
    if (counter > this.last()) {
      this.write(counter);
    }
  }

  private write(counter: number): void {
    mkdirSync(dirname(this.file), { recursive: true });
    const temp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(temp, `${counter}\n`);
    renameSync(temp, this.file);
  }
}
