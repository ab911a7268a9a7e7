/**
 * The fleet key: the shared secret that signs config changes
 * (ops/config/signing.ts) and that nodes keep as fleet_key. Read here for
 * every command that needs it: config signs with it, run hands it to
 * simulated nodes, flash writes it into a board's config.json.
 */
import { readFileSync } from "node:fs";
import { CliError } from "./errors";
import { checkRegularFile } from "./input-file";

/** Longest fleet key the node stores (fleet_key: 1-64 characters). */
export const MAX_FLEET_KEY = 64;

/** Is `key` usable as a fleet key? undefined when it is, else why not. */
export function fleetKeyProblem(key: string): string | undefined {
  if (key.length === 0) {
    return "is empty";
  }
  if (Buffer.byteLength(key) > MAX_FLEET_KEY) {
    return `is ${Buffer.byteLength(key)} bytes; the node stores at most ${MAX_FLEET_KEY} (openssl rand -hex 32 makes a good one)`;
  }
  // Printable ASCII: what a node takes from fleet_key_enc (config.ts decryptKey), and what JSON carries unescaped.
  if ([...key].some((c) => c < " " || c > "~" || c === '"' || c === "\\")) {
    return "holds control characters, quotes, backslashes or non-ASCII characters; use letters and digits (openssl rand -hex 32)";
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
    // A FIFO or a device would block the read forever: refused before opening (issue 15).
    checkRegularFile(flag, file);
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
