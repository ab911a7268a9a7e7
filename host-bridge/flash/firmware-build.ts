/**
 * The build step of `espfleet flash`: `npm run build:firmware`'s own
 * function (scripts/build-firmware.ts) into a folder, and what the upload
 * needs of the result: the files to send, in a safe order, and the NodeMCU
 * modules the code requires (modules.txt).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CliError } from "../../common/errors";

/** What the device runs; app.lua/cfg.lua are the fallback for builds whose .lc files do not load (Lua 5.3). */
const DEVICE_FILES = ["app.lc", "cfg.lc"];
const SOURCE_FILES = ["app.lua", "cfg.lua"];

export interface BuildSummary {
  ms: number;
  files: Record<string, number>;
}

/** Build into `dir` with the project's build function (it exits the process with its own message on failure). */
export async function buildFirmwareInto(dir: string): Promise<BuildSummary> {
  const started = Date.now();
  // Loaded here, not at the top: it pulls in TypeScript and TypeScriptToLua, which only this step needs.
  const { buildFirmware } = await import("../../scripts/build-firmware");
  const result = buildFirmware(dir);
  return { ms: Date.now() - started, files: result.files };
}

export interface ModuleList {
  required: string[];
  optional: string[];
}

/** modules.txt: one module per line, "name (optional: ...)" for optional ones, # comments. */
export function parseModulesTxt(text: string): ModuleList {
  const required: string[] = [];
  const optional: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) {
      continue;
    }
    const m = /^([a-z0-9_]+)\s*(\(optional\b.*)?$/i.exec(line);
    if (m === null) {
      continue;
    }
    (m[2] !== undefined ? optional : required).push(m[1] as string);
  }
  return { required, optional };
}

export function readModules(dir: string): ModuleList {
  const path = join(dir, "modules.txt");
  if (!existsSync(path)) {
    throw new CliError(`${path} is missing: rebuild the firmware (drop --no-build)`);
  }
  return parseModulesTxt(readFileSync(path, "utf8"));
}

/**
 * Names of the build's files to upload, init.lua last: until it lands, a
 * reset leaves the board at the prompt instead of booting a half-uploaded
 * app. config.json is written separately (with the settings).
 */
export function filesToUpload(dir: string, withSource: boolean): string[] {
  const names = [...DEVICE_FILES, ...(withSource ? SOURCE_FILES : []), "init.lua"];
  const absent = names.filter((name) => !existsSync(join(dir, name)));
  if (absent.length > 0) {
    throw new CliError(`${dir} lacks ${absent.join(", ")}: build the firmware first (drop --no-build, or npm run build:firmware)`);
  }
  return names;
}
