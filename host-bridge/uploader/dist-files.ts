/**
 * Which files of a firmware build (firmware/dist) go on the board, and the
 * NodeMCU modules the build requires (modules.txt).
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const DEFAULT_DIST_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "firmware", "dist");

/**
 * The board runs the app from LFS: init.lua loads lfs.img at the next boot
 * (without it, an app already in LFS, an older build, would keep running);
 * app.lc/cfg.lc are the fallback on a firmware without LFS. init.lua last.
 */
export const DEVICE_FILES: readonly string[] = ["lfs.img", "app.lc", "cfg.lc", "config.json", "init.lua"];

/** Required (not "optional") module names of modules.txt in `dist`; none when the file is missing. */
export function requiredModules(dist: string): string[] {
  const path = join(dist, "modules.txt");
  if (!existsSync(path)) {
    return [];
  }
  return readFileSync(path, "utf8")
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => /^[a-z0-9_]+$/i.test(l));
}
