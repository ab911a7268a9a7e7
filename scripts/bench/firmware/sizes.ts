/**
 * Bytes of firmware/dist: each file as source, as `luac5.1 -s` bytecode
 * (desktop luac: 64-bit format, size only) and as the wasm32 `.lc` the device
 * would hold; the lualib section of app.lua; and the sections of a TSTL
 * bundle, one per module.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { allProtos, parseChunk, stripChunk } from "../../../firmware/lfs/lua51-chunk";
import { WasmLua } from "../../../common/wasm-lua";

export interface FileSize {
  file: string;
  sourceBytes: number;
  /** `luac5.1 -s` on this machine (64-bit size_t): size only, the device cannot load it. */
  luacStrippedBytes: number | undefined;
  /** string.dump in wasm32 Lua 5.1: what `node.compile` on the device produces. */
  wasmLcBytes: number | undefined;
  /** The same, stripped as `luac -s`. */
  wasmLcStrippedBytes: number | undefined;
}

export interface Sizes {
  files: FileSize[];
  /** app.lua compiled in wasm32 Lua 5.1 with debug info. */
  appLcFull: Uint8Array;
  /** app.lc as the device runs it, in the stock layout for this Lua. */
  appLc: Uint8Array;
  /** The cold code as shipped; undefined for a build without it. */
  cfgLc: Uint8Array | undefined;
  lualibBytes: number;
  /** Every function prototype of app.lua. */
  protos: ReturnType<typeof allProtos>;
}

function luacStripped(path: string, scratch: string): number | undefined {
  const out = join(scratch, "out.luac");
  try {
    execFileSync("luac5.1", ["-s", "-o", out, path], { stdio: ["ignore", "ignore", "pipe"] });
    return statSync(out).size;
  } catch {
    return undefined;
  }
}

/** Bytes of the `["lualib_bundle"] = function(...) ... end,` section of a TSTL bundle. */
function lualibSectionBytes(app: string): number {
  const start = app.indexOf('["lualib_bundle"] = function(...)');
  if (start < 0) {
    return 0;
  }
  const end = app.indexOf("\n end,\n", start);
  return Buffer.byteLength(app.slice(start, end < 0 ? app.length : end + "\n end,".length));
}

/** The modules of a TSTL bundle, by name, each as the body of its `function(...)`. */
export function bundleModules(app: string): { name: string; body: string }[] {
  const out: { name: string; body: string }[] = [];
  const re = /^\["([^"]+)"\] = function\(\.\.\.\) \n([\s\S]*?)\n end,$/gm;
  for (const m of app.matchAll(re)) {
    out.push({ name: m[1] as string, body: m[2] as string });
  }
  return out;
}

/** Sizes of every file in `dist`; checks that each shipped .lc is its .lua compiled. */
export function measureSizes(dist: string, appLua: string): Sizes {
  // Compile in wasm32 Lua 5.1, the device's format; strip as luac -s.
  const compiler = new WasmLua({ version: "5.1" });
  const scratch = mkdtempSync(join(tmpdir(), "bench-firmware-"));
  const files: FileSize[] = [];
  const shipped: Record<string, Uint8Array> = {};
  let appLcFull: Uint8Array | undefined;
  for (const name of readdirSync(dist).sort()) {
    const path = join(dist, name);
    const sourceBytes = statSync(path).size;
    if (name.endsWith(".lc")) {
      // What the device runs (NodeMCU's layout), back in the stock layout for this Lua: the same code byte for byte.
      const stock = stripChunk(new Uint8Array(readFileSync(path)), "nodemcu");
      const expected = stripChunk(compiler.compile(readFileSync(path.replace(/\.lc$/, ".lua"), "utf8"), "@" + name.replace(/\.lc$/, ".lua")));
      if (!Buffer.from(stock).equals(Buffer.from(expected))) {
        throw new Error(`firmware/dist/${name} is not the compiled ${name.replace(/\.lc$/, ".lua")}`);
      }
      shipped[name] = stock;
      files.push({ file: `${name} (shipped, NodeMCU layout)`, sourceBytes, luacStrippedBytes: undefined, wasmLcBytes: undefined, wasmLcStrippedBytes: undefined });
      continue;
    }
    if (!name.endsWith(".lua")) {
      files.push({ file: name, sourceBytes, luacStrippedBytes: undefined, wasmLcBytes: undefined, wasmLcStrippedBytes: undefined });
      continue;
    }
    const full = compiler.compile(readFileSync(path, "utf8"), "@" + name);
    const stripped = stripChunk(full);
    if (name === "app.lua") {
      appLcFull = full;
    }
    files.push({ file: name, sourceBytes, luacStrippedBytes: luacStripped(path, scratch), wasmLcBytes: full.length, wasmLcStrippedBytes: stripped.length });
  }
  compiler.close();
  rmSync(scratch, { recursive: true, force: true });
  if (appLcFull === undefined) {
    throw new Error("firmware/dist/app.lua missing after the build");
  }
  return {
    files,
    appLcFull,
    // (A build that ships no .lc files: the bench compiles app.lua as the device would.)
    appLc: shipped["app.lc"] ?? stripChunk(appLcFull),
    cfgLc: shipped["cfg.lc"],
    lualibBytes: lualibSectionBytes(appLua),
    protos: allProtos(parseChunk(appLcFull).main),
  };
}
