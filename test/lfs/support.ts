/**
 * Shared by the LFS tests: the reference images made by NodeMCU's own
 * `luac.cross -f` (test/fixtures/lfs/README.md), the sources they were made
 * from, and a way to compare function trees field by field.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Constant, Proto } from "../../firmware/lfs";
import { WasmLua } from "../../common/wasm-lua";

export const FIXTURES_DIR = join(import.meta.dirname, "..", "fixtures", "lfs");
export const CHUNKS_DIR = join(FIXTURES_DIR, "chunks");

export interface Fixture {
  /** The image luac.cross wrote, in test/fixtures/lfs. */
  image: string;
  /** Its sources, in test/fixtures/lfs/chunks, in the order given to luac.cross. */
  files: string[];
  /** Whether our uncompressed image must equal luac.cross's byte for byte (see fixline.lua for the exception). */
  identical: boolean;
}

const single = (name: string): Fixture => ({ image: `${name}.img`, files: [`${name}.lua`], identical: true });

export const FIXTURES: Fixture[] = [
  single("constants"),
  single("closures"),
  single("strings"),
  single("many-strings"),
  single("tables"),
  single("limits"),
  single("lines"),
  { image: "modules.img", files: ["constants.lua", "closures.lua", "strings.lua", "tables.lua"], identical: true },
  { image: "project.img", files: ["app.lua", "cfg.lua"], identical: true },
  { image: "fixline.img", files: ["fixline.lua"], identical: false },
];

/** The small sources that run on a bare Lua 5.1 and return a string (app.lua and cfg.lua need NodeMCU's modules). */
export const RUNNABLE = ["constants.lua", "closures.lua", "strings.lua", "many-strings.lua", "tables.lua", "limits.lua", "lines.lua", "fixline.lua"];

export const readFixture = (name: string): Uint8Array => new Uint8Array(readFileSync(join(FIXTURES_DIR, name)));
export const readSource = (file: string): string => readFileSync(join(CHUNKS_DIR, file), "utf8");

/** luac.cross's module name for a file (luac.c corename): the file name without directory and extension. */
export const moduleName = (file: string): string => file.replace(/^.*\//, "").replace(/\..*$/, "");

/**
 * Compile as luac.cross was run (from the chunks folder, file names as given):
 * the chunk name is "@" + the file name, which becomes every function's source.
 */
export function compileFixture(lua: WasmLua, file: string): Uint8Array {
  return lua.compile(readSource(file), "@" + file);
}

/** A function as the comparisons see it: everything an LFS image keeps, with its nested functions flattened depth first. */
export interface FlatProto {
  path: string;
  source: string | undefined;
  lineDefined: number;
  lastLineDefined: number;
  nups: number;
  numParams: number;
  isVararg: number;
  maxStackSize: number;
  code: number[];
  constants: (null | boolean | number | string)[];
  lineInfo: number[];
  nprotos: number;
}

const constantView = (k: Constant): null | boolean | number | string =>
  k !== null && typeof k === "object" ? "str:" + Buffer.from(k.bytes).toString("hex") : k;

/** Depth first; a nested function without a source (stock chunks) gets its parent's, as lundump.c does. */
export function flatten(main: Proto): FlatProto[] {
  const out: FlatProto[] = [];
  const visit = (p: Proto, path: string, parentSource: string | undefined): void => {
    const source = p.source ?? parentSource;
    out.push({
      path,
      source,
      lineDefined: p.lineDefined,
      lastLineDefined: p.lastLineDefined,
      nups: p.nups,
      numParams: p.numParams,
      isVararg: p.isVararg,
      maxStackSize: p.maxStackSize,
      code: p.code,
      constants: p.constants.map(constantView),
      lineInfo: p.lineInfo,
      nprotos: p.protos.length,
    });
    p.protos.forEach((c, i) => visit(c, `${path}/${i}`, source));
  };
  visit(main, "main", undefined);
  return out;
}
