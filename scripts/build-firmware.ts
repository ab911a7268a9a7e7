/**
 * npm run build:firmware — transpile the core + NodeMCU platform to one Lua
 * file and write firmware/dist/:
 *   init.lua      boot window and crash counter (firmware/nodemcu/init.lua)
 *   app.lua       the application, bundled by TypeScriptToLua
 *   config.json   the default config (from the schema in firmware/core/config.ts)
 *   modules.txt   NodeMCU modules the code uses, derived from the code
 * and fail when lualib pulls in more than the allowlist or app.lua exceeds
 * its byte budget (see TS-SUBSET.md for why both matter on a 40 KB heap).
 */
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import * as tstl from "typescript-to-lua";
import { defaultConfig } from "../firmware/core/config";
import { analyseModules, lualibExports } from "./lib/lua-analysis";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "firmware", "dist");

/** lualib functions the firmware may use; anything else costs heap (TS-SUBSET.md). */
export const LUALIB_ALLOWLIST = ["__TS__Class", "__TS__New"];
/** Largest app.lua, in bytes of Lua source. Raise only with a heap measurement (npm run bench:firmware). */
export const APP_BYTE_BUDGET = 40000;

function fail(message: string): never {
  process.stderr.write(`build:firmware: ${message}\n`);
  process.exit(1);
}

export function buildFirmware(): { appBytes: number; modules: string[]; optional: string[] } {
  rmSync(dist, { recursive: true, force: true });
  mkdirSync(dist, { recursive: true });
  const result = tstl.transpileProject(join(root, "firmware", "tsconfig.json"));
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
  const app = readFileSync(join(dist, "app.lua"), "utf8");
  copyFileSync(join(root, "firmware", "nodemcu", "init.lua"), join(dist, "init.lua"));
  const init = readFileSync(join(dist, "init.lua"), "utf8");

  const extra = lualibExports(app).filter((name) => !LUALIB_ALLOWLIST.includes(name));
  if (extra.length > 0) {
    fail(`lualib exports ${extra.join(", ")} beyond the allowlist (${LUALIB_ALLOWLIST.join(", ")}); see ../shared/design/TS-SUBSET.md for cheaper constructs`);
  }
  const appBytes = Buffer.byteLength(app);
  if (appBytes > APP_BYTE_BUDGET) {
    fail(`app.lua is ${appBytes} bytes, over the budget of ${APP_BYTE_BUDGET}`);
  }

  writeFileSync(join(dist, "config.json"), JSON.stringify(defaultConfig(), null, 1) + "\n");
  const { required, optional } = analyseModules(app + "\n" + init);
  writeFileSync(
    join(dist, "modules.txt"),
    "# NodeMCU modules this firmware uses; select them when building the NodeMCU image.\n" +
      required.join("\n") +
      "\n" +
      optional.map((m) => `${m} (optional: used when present)`).join("\n") +
      (optional.length > 0 ? "\n" : ""),
  );
  return { appBytes, modules: required, optional };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { appBytes, modules, optional } = buildFirmware();
  process.stdout.write(
    `firmware/dist: app.lua ${appBytes} B (budget ${APP_BYTE_BUDGET}), init.lua, config.json, modules.txt\n` +
      `NodeMCU modules: ${modules.join(", ")}${optional.length > 0 ? `; optional: ${optional.join(", ")}` : ""}\n`,
  );
}
