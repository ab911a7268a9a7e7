/**
 * The LFS images `espfleet flash` uploads: the build's lfs.img
 * (scripts/build-firmware.ts writes it with firmware/lfs), and an image with
 * no modules, which empties a board's LFS so that init.lua runs app.lc
 * (--no-lfs on a board whose LFS holds an older app).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** The modules the build puts into LFS; node.LFS.list() must show them after the reload. */
export const LFS_MODULES: readonly string[] = ["app", "cfg"];

/** The build's lfs.img, or undefined for a build without one. */
export function readBuildLfsImage(buildDir: string): Buffer | undefined {
  const path = join(buildDir, "lfs.img");
  return existsSync(path) ? readFileSync(path) : undefined;
}

/** The one module of the "empty" image: firmware/lfs (like luac.cross) makes no image without a module, and this one is not `app`. */
export const EMPTY_IMAGE_MODULE = "espfleet_empty";

/**
 * An LFS image that holds no app: one module, EMPTY_IMAGE_MODULE, that does
 * nothing. Loaded, it replaces an older app in LFS, so init.lua runs app.lc.
 */
export async function emptyLfsImage(): Promise<Buffer> {
  // Loaded here, not at the top: only this case needs the image writer and a Lua compiler.
  const [{ writeLfsImage }, { WasmLua }] = await Promise.all([import("../../firmware/lfs"), import("../../common/wasm-lua")]);
  const lua = new WasmLua({ version: "5.1" });
  try {
    const chunk = lua.compile("-- espfleet flash --no-lfs: LFS holds no app, so init.lua runs app.lc\nreturn nil\n", `@${EMPTY_IMAGE_MODULE}.lua`);
    return Buffer.from(writeLfsImage([{ name: EMPTY_IMAGE_MODULE, chunk }]));
  } finally {
    lua.close();
  }
}
