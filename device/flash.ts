/**
 * Put a built firmware on a virtual device's file system, as ./flash.sh
 * would upload it: every file of the build folder (firmware/dist) except the
 * build notes, and config.json with the given settings merged in; with
 * `lfs`, the build's lfs.img in the LFS partition too.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DeviceError } from "./errors";
import { FlashRegions } from "./flash-regions";
import { DEFAULT_FS_BYTES, DEFAULT_LFS_KB } from "./options";

export interface FlashOptions {
  /** true: put the build's lfs.img into the device's LFS partition, as a reload would; false: empty it; default: leave it. */
  lfs?: boolean;
}

function regions(fsDir: string): FlashRegions {
  return new FlashRegions(fsDir, { lfsBytes: DEFAULT_LFS_KB * 1024, spiffsBytes: DEFAULT_FS_BYTES });
}

/** Files of the build that are notes for people, not for the device. */
const NOT_UPLOADED = new Set(["modules.txt"]);

/**
 * Copy the build to `fsDir`. `only` limits the upload to some files (e.g.
 * init.lua, app.lc, cfg.lc: each file is also held in the device's RAM-side
 * mirror, so a fleet uploads no more than it runs).
 */
export function flashFirmware(
  fsDir: string,
  firmwareDir: string,
  config: Record<string, unknown> = {},
  only?: readonly string[],
  options: FlashOptions = {},
): string[] {
  if (!existsSync(join(firmwareDir, "init.lua"))) {
    throw new DeviceError(`${firmwareDir} has no init.lua: build the firmware first (npm run build:firmware)`);
  }
  // config.json holds passwords and the fleet key: the owner's only.
  mkdirSync(fsDir, { recursive: true, mode: 0o700 });
  const written: string[] = [];
  for (const name of readdirSync(firmwareDir)) {
    const from = join(firmwareDir, name);
    if (NOT_UPLOADED.has(name) || name === "config.json" || (only !== undefined && !only.includes(name)) || !statSync(from).isFile()) {
      continue;
    }
    copyFileSync(from, join(fsDir, name));
    written.push(name);
  }
  const base = existsSync(join(firmwareDir, "config.json"))
    ? (JSON.parse(readFileSync(join(firmwareDir, "config.json"), "utf8")) as Record<string, unknown>)
    : {};
  const configPath = join(fsDir, "config.json");
  writeFileSync(configPath, JSON.stringify({ ...base, ...config }), { mode: 0o600 });
  chmodSync(configPath, 0o600);
  written.push("config.json");
  if (options.lfs === true) {
    const image = join(firmwareDir, "lfs.img");
    if (!existsSync(image)) {
      throw new DeviceError(`${firmwareDir} has no lfs.img: build the firmware first (npm run build:firmware)`);
    }
    // What node.LFS.reload leaves in the LFS partition, without the extra restart.
    regions(fsDir).storeLfs(readFileSync(image));
    written.push("LFS: lfs.img");
  } else if (options.lfs === false) {
    // An app left in LFS by an earlier flash would run instead of the .lc files.
    regions(fsDir).clearLfs();
  }
  return written;
}
