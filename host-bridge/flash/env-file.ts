/**
 * The local settings file (`espfleet.local.env` at the repository root,
 * git-ignored, or `--settings-file`): KEY=VALUE lines with the same names as
 * the environment variables.
 *
 * The flag is not `--env-file`: Node 20 takes `--env-file` for itself
 * wherever it appears on its command line, before espfleet runs (a missing
 * file ended `./flash.sh` with "node: … not found", exit 9; an existing one
 * had its NODE_OPTIONS applied to Node). The values of this file only ever
 * fill espfleet's settings: nothing in it reaches Node or process.env.
 */
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { CliError } from "../../common/errors";
import { checkRegularFile } from "../../common/input-file";
import { DEFAULT_ENV_FILE, OTHER_ENV_KEYS, SETTINGS } from "./settings";

/** The untracked settings file at the repository's root (.gitignore lists it). */
export const DEFAULT_ENV_PATH = resolve(import.meta.dirname, "..", "..", DEFAULT_ENV_FILE);

export interface EnvFile {
  values: Record<string, string>;
  /** Keys the file sets that espfleet does not know (a typo?). */
  unknown: string[];
}

/**
 * Parse KEY=VALUE lines: `#` comments, blank lines, an optional `export `,
 * values optionally in single or double quotes (kept verbatim inside).
 * Throws with the line number on anything else.
 */
export function parseEnvFile(text: string, name: string): EnvFile {
  const values: Record<string, string> = {};
  const unknown: string[] = [];
  const known = new Set([...SETTINGS.map((s) => s.env), ...OTHER_ENV_KEYS]);
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) {
      return;
    }
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (m === null) {
      // Never quote the line: it may hold a password.
      throw new Error(`${name} line ${index + 1} is not KEY=VALUE; write e.g. WIFI_SSID=mynetwork (one per line, # for comments)`);
    }
    const key = m[1] as string;
    let value = m[2] as string;
    const quoted = /^(["'])(.*)\1$/.exec(value);
    if (quoted !== null) {
      value = quoted[2] as string;
    }
    values[key] = value;
    if (!known.has(key)) {
      unknown.push(key);
    }
  });
  return { values, unknown };
}

/**
 * The values of `explicitPath` (which must exist), or of the default file
 * when there is one. Unknown keys are reported through `log` (a typo?).
 */
export function readEnvFile(explicitPath: string | undefined, log: (line: string) => void): Record<string, string> {
  const path = explicitPath ?? DEFAULT_ENV_PATH;
  if (!existsSync(path)) {
    if (explicitPath !== undefined) {
      throw new CliError(`--settings-file ${path}: no such file; create it with KEY=VALUE lines (WIFI_SSID=..., MQTT_URL=...)`, 2);
    }
    return {};
  }
  checkRegularFile(explicitPath !== undefined ? "--settings-file" : "the settings file", path);
  let parsed: EnvFile;
  try {
    parsed = parseEnvFile(readFileSync(path, "utf8"), path);
  } catch (error) {
    throw new CliError((error as Error).message, 2);
  }
  const nodeOptions = parsed.unknown.filter((key) => key.startsWith("NODE_"));
  const unknown = parsed.unknown.filter((key) => !key.startsWith("NODE_"));
  if (nodeOptions.length > 0) {
    log(`${path}: ignoring ${nodeOptions.join(", ")}: settings-file values never reach Node (set them in the environment if you mean it)`);
  }
  if (unknown.length > 0) {
    log(`${path}: ignoring ${unknown.join(", ")} (not a setting of espfleet flash; a typo?)`);
  }
  return parsed.values;
}

/** A value as parseEnvFile reads it back: quoted when spaces at its ends or a quote at its start would change it. */
function quoteValue(value: string): string {
  if (value === "" || (value.trim() === value && !/^["']/.test(value))) {
    return value;
  }
  return value.includes('"') ? `'${value}'` : `"${value}"`;
}

/**
 * Set `values` (KEY -> value) in the settings file at `path`: a line that
 * sets a key already is replaced in place, new keys are appended, every
 * other line (comments too) is kept. The file is written mode 600 (it may
 * hold a password), through a temporary file and a rename.
 */
export function writeEnvFileValues(path: string, values: Record<string, string>): void {
  const lines = existsSync(path) ? readFileSync(path, "utf8").replace(/\n$/, "").split("\n") : ["# espfleet settings (./flash.sh); git-ignored; KEY=VALUE per line"];
  const left = new Map(Object.entries(values));
  const out = lines.map((line) => {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=/.exec(line);
    const key = m?.[1];
    if (key === undefined || !left.has(key)) {
      return line;
    }
    const value = left.get(key) as string;
    left.delete(key);
    return `${key}=${quoteValue(value)}`;
  });
  for (const [key, value] of left) {
    out.push(`${key}=${quoteValue(value)}`);
  }
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, out.join("\n") + "\n", { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}
