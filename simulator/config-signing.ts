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
 */
import { createHmac } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { MAX_COUNTER } from "../firmware/core/config";
import { CliError } from "./cli-error";

/** Longest fleet key the node stores (fleet_key: 1-64 characters). */
export const MAX_FLEET_KEY = 64;

export interface Signing {
  /** The fleet key (fleet_key on the nodes). */
  key: string;
  /** This message's counter; must be above every counter the nodes applied before. */
  counter: number;
}

/** The config_change text: plain JSON, or signed with `ctr` added when `signing` is given. */
export function encodeConfigChange(body: Record<string, unknown>, signing?: Signing): string {
  if (signing === undefined) {
    return JSON.stringify(body);
  }
  const { sig: _sig, ctr: _ctr, ...rest } = body;
  const text = JSON.stringify({ ...rest, ctr: signing.counter });
  const sig = createHmac("sha256", signing.key).update(text).digest("hex");
  return `{"sig":"${sig}",${text.slice(1)}`;
}

/** Is `key` usable as a fleet key? undefined when it is, else why not. */
export function fleetKeyProblem(key: string): string | undefined {
  if (key.length === 0) {
    return "is empty";
  }
  if (Buffer.byteLength(key) > MAX_FLEET_KEY) {
    return `is ${Buffer.byteLength(key)} bytes; the node stores at most ${MAX_FLEET_KEY} (openssl rand -hex 32 makes a good one)`;
  }
  if ([...key].some((c) => c < " " || c === '"' || c === "\\")) {
    return "holds control characters, quotes or backslashes; use letters and digits (openssl rand -hex 32)";
  }
  return undefined;
}

/**
 * The fleet key from a file (`--fleet-key-file`, one line, trailing newline
 * ignored) or the environment (`ESPFLEET_FLEET_KEY`), or undefined for none.
 * Errors never quote the key.
 */
export function loadFleetKey(file: string | undefined, env: NodeJS.ProcessEnv = process.env, flag = "--fleet-key-file"): string | undefined {
  let key: string | undefined;
  let source: string;
  if (file !== undefined) {
    try {
      key = readFileSync(file, "utf8").replace(/\r?\n$/, "");
    } catch (error) {
      throw new CliError(`cannot read ${flag} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}; make one with: openssl rand -hex 32 > ${file}`, 2);
    }
    source = `${flag} ${file}`;
  } else if (env.ESPFLEET_FLEET_KEY !== undefined && env.ESPFLEET_FLEET_KEY !== "") {
    key = env.ESPFLEET_FLEET_KEY;
    source = "ESPFLEET_FLEET_KEY";
  } else {
    return undefined;
  }
  const problem = fleetKeyProblem(key);
  if (problem !== undefined) {
    throw new CliError(`the fleet key in ${source} ${problem}`, 2);
  }
  return key;
}

/**
 * Counters for signed changes: the current Unix time in seconds, or one more
 * than the last counter this machine used when that is higher (two changes
 * within a second). Time keeps operators on different machines roughly in
 * step; the file keeps one machine strictly increasing.
 */
export class CounterStore {
  constructor(private readonly file: string) {}

  next(nowMs = Date.now()): number {
    const counter = Math.max(Math.floor(nowMs / 1000), this.last() + 1);
    if (counter > MAX_COUNTER) {
      throw new CliError(`the config counter would pass ${MAX_COUNTER}, the most a node holds; reset config_counter on the nodes and ${this.file}`, 2);
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

  /** Remember a counter given with --counter, so the next default is above it (never lowers the file). */
  record(counter: number): void {
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
