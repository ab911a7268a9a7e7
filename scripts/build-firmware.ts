/**
 * npm run build:firmware — transpile the core + NodeMCU platform to Lua and
 * write firmware/dist/:
 *   init.lua      boot window and crash counter (firmware/nodemcu/init.lua)
 *   app.lua       the application, bundled by TypeScriptToLua (complete on its own)
 *   cfg.lua       the core's cold code (core/config.ts: boot, config schema and
 *                 config_change handling), bundled on its own: the app loads it
 *                 from flash when it needs it instead of keeping it on the heap
 *   app.lc, cfg.lc  the same, compiled and stripped: what a device without LFS runs
 *   lfs.img       modules `app` and `cfg` as a NodeMCU LFS image (what node.LFS.reload
 *                 loads; code and constant strings then live in flash), written by
 *                 firmware/lfs like `luac.cross -f`, sized for the LFS partition:
 *                 --lfs-size <bytes|nK> or ESPFLEET_LFS_SIZE, default 128K
 *   config.json   the default config (from the schema in firmware/core/config.ts)
 *   modules.txt   NodeMCU modules the code uses, derived from the code
 * and fail when lualib pulls in more than the allowlist or app.lua exceeds
 * its byte budget (see TS-SUBSET.md for why both matter on a 40 KB heap).
 *
 * The .lc files are compiled by a real Lua 5.1 built for wasm32 (string.dump:
 * 4-byte int and size_t, little-endian, double numbers: NodeMCU's default
 * "float" build), stripped as `luac -s` (no line info, local or upvalue
 * names: a third less heap than the source) and written in the layout
 * NodeMCU's Lua 5.1 loader reads, which pads code arrays to 4 bytes (see
 * firmware/lfs/lua51-chunk.ts). That should be what `luac.cross -s` writes;
 * TO BE VERIFIED ON HARDWARE. init.lua falls back to app.lua, and the app to
 * its bundled copy of cfg, when a .lc does not load (e.g. on a Lua 5.3 build,
 * whose bytecode format is different).
 */
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import * as tstl from "typescript-to-lua";
import { defaultConfig } from "../firmware/core/config";
import { analyseModules, lualibExports } from "./lib/lua-analysis";
import { nodemcuChunk, parseChunk } from "../firmware/lfs/lua51-chunk";
import { buildLfsImage, DEFAULT_LFS_BYTES, LfsBuildError, type LfsModuleInput } from "../firmware/lfs";
import { WasmLua } from "../common/wasm-lua";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** Where `npm run build:firmware` writes. */
export const DIST = join(root, "firmware", "dist");

/** lualib functions the firmware may use; anything else costs heap (TS-SUBSET.md). */
export const LUALIB_ALLOWLIST = ["__TS__Class", "__TS__New"];
/**
 * Largest app.lua, in bytes of Lua source (comments are not emitted). Raise
 * only with a heap measurement (npm run bench:firmware). app.lua holds the
 * cold code too (its bundled copy of cfg.lua), so this bounds the boot peak.
 */
export const APP_BYTE_BUDGET = 48000;

/** The bundles: TypeScriptToLua project, the Lua file it writes. */
const BUNDLES = [
  { project: join(root, "firmware", "tsconfig.json"), lua: "app.lua" },
  { project: join(root, "firmware", "tsconfig.cfg.json"), lua: "cfg.lua" },
];

function fail(message: string): never {
  process.stderr.write(`build:firmware: ${message}\n`);
  process.exit(1);
}

function transpile(project: string, outDir: string): void {
  const result = tstl.transpileProject(project, { outDir });
  if (result.diagnostics.length > 0) {
    const host: ts.FormatDiagnosticsHost = {
      getCanonicalFileName: (f) => f,
      getCurrentDirectory: () => root,
      getNewLine: () => "\n",
    };
    const errors = result.diagnostics.filter((d) => d.category === ts.DiagnosticCategory.Error);
    process.stderr.write(ts.formatDiagnosticsWithColorAndContext(result.diagnostics, host));
    if (errors.length > 0) {
      fail(`${errors.length} TypeScriptToLua error(s); nothing written`);
    }
  }
}

/**
 * An LFS partition size: bytes, or KB with a K suffix ("131072", "128K").
 * A multiple of 4 KB, as flash sectors and `luac.cross -m` require.
 */
export function parseLfsSize(text: string): number {
  const m = /^\s*(\d+)\s*(k|kb|kib)?\s*$/i.exec(text);
  const bytes = m === null ? NaN : Number(m[1]) * (m[2] === undefined ? 1 : 1024);
  if (!Number.isSafeInteger(bytes) || bytes <= 0 || bytes % 4096 !== 0) {
    throw new Error(`LFS size ${JSON.stringify(text)}: give bytes or KB with a K suffix, a multiple of 4K (e.g. 128K or 131072)`);
  }
  return bytes;
}

/** The LFS partition size asked for on the command line (--lfs-size N) or in ESPFLEET_LFS_SIZE; default 128K. */
export function lfsSizeFrom(argv: readonly string[], env: NodeJS.ProcessEnv): number {
  const i = argv.findIndex((a) => a === "--lfs-size" || a.startsWith("--lfs-size="));
  const arg = i < 0 ? undefined : argv[i]?.startsWith("--lfs-size=") === true ? argv[i]?.slice("--lfs-size=".length) : argv[i + 1];
  if (i >= 0 && arg === undefined) {
    throw new Error("--lfs-size needs a size (e.g. --lfs-size 128K)");
  }
  const text = arg ?? env.ESPFLEET_LFS_SIZE;
  return text === undefined || text === "" ? DEFAULT_LFS_BYTES : parseLfsSize(text);
}

export interface BuildOptions {
  /** Size of the device's LFS partition: lfs.img must fit (FlashHeader.flash_size). Default 128 KB. */
  lfsBytes?: number;
}

export interface LfsSummary {
  /** The LFS partition size the image was checked against. */
  partitionBytes: number;
  /** Bytes the image takes in the LFS partition (flash image, uncompressed). */
  imageBytes: number;
  /** Bytes of the inflated file: the image and its relocation bitmap. */
  rawBytes: number;
  /** Bytes of lfs.img (gzip). */
  gzBytes: number;
}

export interface BuildResult {
  appBytes: number;
  /** Bytes of each file written, by name. */
  files: Record<string, number>;
  modules: string[];
  optional: string[];
  lfs: LfsSummary;
}

/**
 * lfs.img from the unstripped chunks (the writer checks NodeMCU's limits on
 * their local names, then drops the names as luac.cross does). Its timestamp
 * (node.LFS.time) is SOURCE_DATE_EPOCH when set, else 0: the same sources give
 * the same image.
 */
function writeLfs(dist: string, modules: LfsModuleInput[], partitionBytes: number): LfsSummary {
  const epoch = Number(process.env.SOURCE_DATE_EPOCH ?? "0");
  let built;
  try {
    built = buildLfsImage(modules, { maxBytes: partitionBytes, timestamp: Number.isFinite(epoch) ? epoch : 0 });
  } catch (e) {
    if (e instanceof LfsBuildError) {
      fail(`lfs.img: ${e.message}`);
    }
    throw e;
  }
  writeFileSync(join(dist, "lfs.img"), built.gz);
  return { partitionBytes, imageBytes: built.imageBytes, rawBytes: built.raw.length, gzBytes: built.gz.length };
}

/** Build into `dist` (emptied first): firmware/dist unless told otherwise (tests build elsewhere). */
export function buildFirmware(dist = DIST, options: BuildOptions = {}): BuildResult {
  const lfsModules: LfsModuleInput[] = [];
  rmSync(dist, { recursive: true, force: true });
  mkdirSync(dist, { recursive: true });
  const files: Record<string, number> = {};
  const sources: string[] = [];
  const compiler = new WasmLua({ version: "5.1" });
  try {
    for (const bundle of BUNDLES) {
      transpile(bundle.project, dist);
      const lua = readFileSync(join(dist, bundle.lua), "utf8");
      const extra = lualibExports(lua).filter((name) => !LUALIB_ALLOWLIST.includes(name));
      if (extra.length > 0) {
        fail(`${bundle.lua}: lualib exports ${extra.join(", ")} beyond the allowlist (${LUALIB_ALLOWLIST.join(", ")}); see ../shared/design/TS-SUBSET.md for cheaper constructs`);
      }
      const chunk = compiler.compile(lua, "@" + bundle.lua);
      lfsModules.push({ name: bundle.lua.replace(/\.lua$/, ""), chunk });
      const lc = nodemcuChunk(chunk);
      parseChunk(lc, "nodemcu");
      const lcName = bundle.lua.replace(/\.lua$/, ".lc");
      writeFileSync(join(dist, lcName), lc);
      files[bundle.lua] = Buffer.byteLength(lua);
      files[lcName] = lc.length;
      sources.push(lua);
    }
  } finally {
    compiler.close();
  }
  const appBytes = files["app.lua"] as number;
  if (appBytes > APP_BYTE_BUDGET) {
    fail(`app.lua is ${appBytes} bytes, over the budget of ${APP_BYTE_BUDGET}`);
  }
  const lfs = writeLfs(dist, lfsModules, options.lfsBytes ?? DEFAULT_LFS_BYTES);
  files["lfs.img"] = lfs.gzBytes;

  copyFileSync(join(root, "firmware", "nodemcu", "init.lua"), join(dist, "init.lua"));
  const init = readFileSync(join(dist, "init.lua"), "utf8");
  files["init.lua"] = Buffer.byteLength(init);
  const configJson = JSON.stringify(defaultConfig(), null, 1) + "\n";
  writeFileSync(join(dist, "config.json"), configJson);
  files["config.json"] = Buffer.byteLength(configJson);
  const { required, optional } = analyseModules(sources.join("\n") + "\n" + init);
  writeFileSync(
    join(dist, "modules.txt"),
    "# NodeMCU modules this firmware uses; select them when building the NodeMCU image.\n" +
      required.join("\n") +
      "\n" +
      optional.map((m) => `${m} (optional: used when present)`).join("\n") +
      (optional.length > 0 ? "\n" : ""),
  );
  return { appBytes, files, modules: required, optional, lfs };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  let lfsBytes: number;
  try {
    lfsBytes = lfsSizeFrom(process.argv.slice(2), process.env);
  } catch (e) {
    fail((e as Error).message);
  }
  const { appBytes, files, modules, optional, lfs } = buildFirmware(DIST, { lfsBytes });
  const kb = (n: number): string => `${(n / 1024).toFixed(1)} KB`;
  process.stdout.write(
    `firmware/dist: app.lua ${appBytes} B (budget ${APP_BYTE_BUDGET}), ` +
      ["app.lc", "cfg.lua", "cfg.lc"].map((f) => `${f} ${files[f]} B`).join(", ") +
      `, lfs.img ${lfs.gzBytes} B gzipped (image ${lfs.imageBytes} B = ${kb(lfs.imageBytes)} of the ${kb(lfs.partitionBytes)} LFS partition, ` +
      `${lfs.rawBytes} B with its bitmap), init.lua, config.json, modules.txt\n` +
      `upload to the device: init.lua, lfs.img, config.json; without LFS app.lc and cfg.lc (app.lua and cfg.lua too where the .lc files do not load, e.g. a Lua 5.3 build)\n` +
      `NodeMCU modules: ${modules.join(", ")}${optional.length > 0 ? `; optional: ${optional.join(", ")}` : ""}\n`,
  );
}
