/**
 * npm run build:firmware — transpile the core + NodeMCU platform to Lua and
 * write firmware/dist/:
 *   init.lua      boot window and crash counter (firmware/nodemcu/init.lua)
 *   app.lua       the application, bundled by TypeScriptToLua (complete on its own)
 *   cfg.lua       the core's cold code (core/config.ts: boot, config schema and
 *                 config_change handling), bundled on its own: the app loads it
 *                 from flash when it needs it instead of keeping it on the heap
 *   app.lc, cfg.lc  the same, compiled and stripped: what the device should run
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
 * scripts/lib/lua-bytecode.ts). That should be what `luac.cross -s` writes;
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
import { nodemcuChunk, parseChunk } from "./lib/lua-bytecode";
import { WasmLua } from "./lib/wasm-lua";

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
export const APP_BYTE_BUDGET = 42000;

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

export interface BuildResult {
  appBytes: number;
  /** Bytes of each file written, by name. */
  files: Record<string, number>;
  modules: string[];
  optional: string[];
}

/** Build into `dist` (emptied first): firmware/dist unless told otherwise (tests build elsewhere). */
export function buildFirmware(dist = DIST): BuildResult {
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
      const lc = nodemcuChunk(compiler.compile(lua, "@" + bundle.lua));
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
  return { appBytes, files, modules: required, optional };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { appBytes, files, modules, optional } = buildFirmware();
  process.stdout.write(
    `firmware/dist: app.lua ${appBytes} B (budget ${APP_BYTE_BUDGET}), ` +
      ["app.lc", "cfg.lua", "cfg.lc"].map((f) => `${f} ${files[f]} B`).join(", ") +
      ", init.lua, config.json, modules.txt\n" +
      `upload to the device: init.lua, app.lc, cfg.lc, config.json (app.lua and cfg.lua too where the .lc files do not load, e.g. a Lua 5.3 build)\n` +
      `NodeMCU modules: ${modules.join(", ")}${optional.length > 0 ? `; optional: ${optional.join(", ")}` : ""}\n`,
  );
}
