/**
 * Write a NodeMCU 3.x LFS image (Lua 5.1 float build, relocatable, gzipped)
 * from standard Lua 5.1 chunks, laid out as `luac.cross -f` lays it out
 * (app/lua/luac_cross/luac.c and lflashimg.c), so that the same functions
 * give the same uncompressed image, byte for byte, except where noted:
 *
 *  - the timestamp: luac.c `combine` stores `time(NULL)` as the last constant
 *    of the lookup function (node.LFS.time()); here it is options.timestamp,
 *    default 0, so that builds are reproducible;
 *  - line info that luac.cross's parser re-dated while compiling (a call
 *    whose last argument is a call, or that has none, closed on a later
 *    line; see packed-lineinfo.ts): luac.cross can then split one line into
 *    two runs. Bytecode no longer shows the re-dating, so the canonical form
 *    is written: every instruction decodes to the same line, only the bytes
 *    of that line-info string differ, and with them the string table (its
 *    hashes and order) and the offsets after it. (When such a `)` is more
 *    than 64 lines down, luac.cross's lines are even wrong; ours are not.)
 *
 * What luac.cross takes from its own compiler and this takes from the chunk:
 * instructions, constants, nested functions, line info, nups, numparams,
 * is_vararg, maxstacksize, linedefined and the source name. Stock Lua 5.1.5
 * and NodeMCU's parser generate the same code (NodeMCU changed the line-info
 * representation, not code generation; test/lfs checks this on every
 * fixture). Local and upvalue names are not written: NodeMCU compiles with
 * LUAI_OPTIMIZE_DEBUG 1 (app/include/user_config.h), so lparser.c
 * compile_stripdebug drops them before luac.cross sees the functions.
 *
 * The image is written only after it passes readLfsImage, the same checks as
 * the device's loader.
 */
import { bytesToLatin1, latin1ToBytes, parseChunk, type Constant, type Proto } from "./lua51-chunk";
import { BITRK, MAXARG_SBX, OP, createABC, createABx, int2fb } from "./lua51-opcodes";
import { luaStringHash } from "./lua-string-hash";
import { LuaStringTable } from "./lua-table-order";
import { packLineInfo } from "./packed-lineinfo";
import { checkNodemcuLimits } from "./lfs-limits";
import { gzipForDevice } from "./lfs-gzip";
import { readLfsImage } from "./lfs-reader";
import {
  DEFAULT_LFS_BYTES,
  FLASHTS_TT_MARKED,
  FLASHTS_WORDS,
  FLASH_SIG,
  HEADER_WORDS,
  H_MAIN,
  H_NROSIZE,
  H_NROUSE,
  H_ROHASH,
  H_SIG,
  H_SIZE,
  LfsBuildError,
  MAX_IMAGE_BYTES,
  MAX_MODULES,
  PROTO_WORDS,
  P_BYTES,
  P_CODE,
  P_K,
  P_LASTLINEDEFINED,
  P_LINEDEFINED,
  P_LINEINFO,
  P_P,
  P_SIZECODE,
  P_SIZEK,
  P_SIZEP,
  P_SOURCE,
  TVALUE_WORDS,
  WORD,
} from "./lfs-format";

export interface LfsModuleInput {
  /** What node.LFS.get(name) and require() find it by (luac.cross uses the file name without path and extension). */
  name: string;
  /** A standard Lua 5.1 chunk (string.dump / luac): 4-byte instructions, 8-byte float numbers; unstripped for the limit checks. */
  chunk: Uint8Array;
}

export interface WriteLfsOptions {
  /** Size of the device's LFS partition in bytes; a larger image is an error. Default 128 KB. */
  maxBytes?: number;
  /** What node.LFS.time() returns (luac.cross: the Unix time of the build). Default 0. */
  timestamp?: number;
}

export interface LfsBuild {
  /** The image file: what node.LFS.reload() reads. */
  gz: Uint8Array;
  /** The uncompressed stream: flash image then relocation bitmap. */
  raw: Uint8Array;
  /** Bytes of the flash image (FlashHeader.flash_size): what occupies the LFS partition. */
  imageBytes: number;
}

/** The source name luac.c gives the lookup function (`"=(" PROGNAME ")"`). */
export const LOOKUP_SOURCE = "=(luac)";

const utf8 = new TextEncoder();

/**
 * The lookup function of luac.c `combine` (type 1), built the same way:
 *   for each module i:  EQ 0 R0 K(i); JMP +2; CLOSURE R1 P(i); RETURN R1 2
 *   then                LOADK R1 K(n) (the timestamp); NEWTABLE R2; LOADK R3.. K(0..n-1);
 *                       SETLIST R2 n 1; RETURN R1 3 (timestamp, names); RETURN R0 1
 * Called with a name it returns that module's main function (node.LFS.get);
 * with anything else, the timestamp and the array of names (node.LFS.time, .list).
 */
export function lookupFunction(names: Uint8Array[], mains: Proto[], timestamp: number): Proto {
  const n = names.length;
  const code: number[] = [];
  for (let i = 0; i < n; i++) {
    code.push(createABC(OP.EQ, 0, 0, i | BITRK));
    code.push(createABx(OP.JMP, 0, MAXARG_SBX + 2));
    code.push(createABx(OP.CLOSURE, 1, i));
    code.push(createABC(OP.RETURN, 1, 2, 0));
  }
  code.push(createABx(OP.LOADK, 1, n));
  code.push(createABC(OP.NEWTABLE, 2, int2fb(n), 0));
  for (let i = 0; i < n; i++) {
    code.push(createABx(OP.LOADK, i + 3, i));
  }
  code.push(createABC(OP.SETLIST, 2, n, 1));
  code.push(createABC(OP.RETURN, 1, 3, 0));
  code.push(createABC(OP.RETURN, 0, 1, 0));
  const constants: Constant[] = names.map((bytes) => ({ bytes }));
  constants.push(timestamp);
  // luaF_newproto's defaults for the rest: no upvalues, not vararg, line 0, no line info.
  return {
    source: LOOKUP_SOURCE,
    lineDefined: 0,
    lastLineDefined: 0,
    nups: 0,
    numParams: 1,
    isVararg: 0,
    maxStackSize: n + 3,
    sizeCode: code.length,
    code,
    constants,
    protos: mains,
    sizeLineInfo: 0,
    lineInfo: [],
    locals: [],
    localNames: [],
    upvalueNames: [],
  };
}

/** luaO_log2 (lobject.c): floor(log2(x)) for x >= 1. */
function floorLog2(x: number): number {
  let l = -1;
  while (x >= 1) {
    x = Math.floor(x / 2);
    l++;
  }
  return l;
}

/** A growing array of 32-bit words with a relocation flag per word. */
class FlashImage {
  words = new Uint32Array(4096);
  tags = new Uint8Array(4096);
  used = 0;

  /** lflashimg.c flashAlloc: the next `n` words, zeroed. */
  alloc(n: number): number {
    const at = this.used;
    this.used += n;
    if (this.used > this.words.length) {
      const size = Math.max(this.used, this.words.length * 2);
      const words = new Uint32Array(size);
      words.set(this.words);
      this.words = words;
      const tags = new Uint8Array(size);
      tags.set(this.tags);
      this.tags = tags;
    }
    return at;
  }

  set(at: number, value: number): void {
    this.words[at] = value >>> 0;
  }

  /** lflashimg.c toFlashAddr: a word offset, flagged for relocation; NULL stays 0 and unflagged. */
  pointer(at: number, target: number | undefined): void {
    if (target !== undefined) {
      this.words[at] = target;
      this.tags[at] = 1;
    }
  }

  /** Bytes into words, little-endian (the rest of the last word stays 0: a string's NUL and padding). */
  bytes(at: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) {
      const w = at + (i >> 2);
      this.words[w] = ((this.words[w] as number) | ((data[i] as number) << (8 * (i & 3)))) >>> 0;
    }
  }

  /** The flash image, then the bitmap: bit i of bitmap word i>>5 set when word i is a pointer. */
  serialize(): Uint8Array {
    const bitmapWords = Math.ceil(this.used / 32);
    const out = new Uint8Array((this.used + bitmapWords) * WORD);
    const view = new DataView(out.buffer);
    for (let i = 0; i < this.used; i++) {
      view.setUint32(i * WORD, this.words[i] as number, true);
    }
    for (let i = 0; i < this.used; i++) {
      if (this.tags[i] === 1) {
        const at = (this.used + (i >> 5)) * WORD;
        view.setUint32(at, (view.getUint32(at, true) | (1 << (i & 31))) >>> 0, true);
      }
    }
    return out;
  }
}

/**
 * The strings of a function tree in the order lflashimg.c scanProtoStrings
 * meets them. A nested function without a source has its parent's (the stock
 * chunk leaves it out, lundump.c fills it in); a module's main function never
 * inherits the lookup function's "=(luac)": from a stripped chunk it has none.
 */
function scanStrings(p: Proto, parentSource: string | undefined, out: (s: string) => void, isLookup = false): void {
  const source = p.source ?? parentSource;
  if (source !== undefined) {
    out(source);
  }
  if (p.lineInfo.length > 0) {
    out(bytesToLatin1(packLineInfo(p.lineInfo)));
  }
  for (const k of p.constants) {
    if (k !== null && typeof k === "object") {
      out(bytesToLatin1(k.bytes));
    }
  }
  // upvalue and local names: none, see the header comment
  for (const child of p.protos) {
    scanStrings(child, isLookup ? undefined : source, out);
  }
}

function parseModule(m: LfsModuleInput): Proto {
  let chunk;
  try {
    chunk = parseChunk(m.chunk);
  } catch (e) {
    throw new LfsBuildError(`${m.name}: not a standard Lua 5.1 chunk: ${(e as Error).message}`);
  }
  const h = chunk.header;
  if (h.sizeInstruction !== 4 || h.sizeNumber !== 8 || h.integral) {
    throw new LfsBuildError(
      `${m.name}: chunk has ${h.sizeInstruction}-byte instructions and ${h.sizeNumber}-byte ${h.integral ? "integer" : "float"} numbers; ` +
        `NodeMCU's Lua 5.1 float build needs 4-byte instructions and 8-byte floats`,
    );
  }
  return chunk.main;
}

/** Lay out the uncompressed image (flash image + bitmap) as luac.cross does. */
export function layoutLfsImage(modules: readonly LfsModuleInput[], options: WriteLfsOptions = {}): { raw: Uint8Array; imageBytes: number } {
  const maxBytes = options.maxBytes ?? DEFAULT_LFS_BYTES;
  const timestamp = options.timestamp ?? 0;
  if (modules.length === 0) {
    throw new LfsBuildError("an LFS image needs at least one module");
  }
  if (modules.length > MAX_MODULES) {
    throw new LfsBuildError(`${modules.length} modules; luac.cross puts at most ${MAX_MODULES} in one image (LFIELDS_PER_FLUSH)`);
  }
  const seen = new Set<string>();
  for (const m of modules) {
    if (m.name === "") {
      throw new LfsBuildError("a module needs a name");
    }
    if (seen.has(m.name)) {
      throw new LfsBuildError(`module name ${JSON.stringify(m.name)} given twice; node.LFS.get would only find the first`);
    }
    seen.add(m.name);
  }
  const mains = modules.map((m) => {
    const main = parseModule(m);
    checkNodemcuLimits(m.name, main);
    return main;
  });
  const main = lookupFunction(
    modules.map((m) => utf8.encode(m.name)),
    mains,
    timestamp,
  );

  // Strings: collected into a Lua table, laid out in its lua_next order (lflashimg.c createROstrt).
  const table = new LuaStringTable();
  const hashes = new Map<string, number>();
  scanStrings(main, undefined, (s) => {
    let h = hashes.get(s);
    if (h === undefined) {
      h = luaStringHash(latin1ToBytes(s));
      hashes.set(s, h);
    }
    table.insert(s, h);
  }, true);
  const strings = table.keys();

  const img = new FlashImage();
  const header = img.alloc(HEADER_WORDS);
  const nROuse = strings.length;
  const nROsize = 2 << floorLog2(nROuse); // 2 << luaO_log2(nROuse): the power of 2 above nROuse
  const hashTab = img.alloc(nROsize);
  img.pointer(header + H_ROHASH, hashTab);
  const stringAt = new Map<string, number>();
  for (const s of strings) {
    const bytes = latin1ToBytes(s);
    const hash = hashes.get(s) as number;
    const bucket = hashTab + (hash & (nROsize - 1));
    const last = img.tags[bucket] === 1 ? (img.words[bucket] as number) : undefined;
    const ts = img.alloc(FLASHTS_WORDS);
    img.pointer(bucket, ts);
    img.pointer(ts, last); // chain to the previous head of the bucket
    img.set(ts + 1, FLASHTS_TT_MARKED);
    img.set(ts + 2, hash);
    img.set(ts + 3, bytes.length);
    img.bytes(img.alloc(Math.ceil((bytes.length + 1) / WORD)), bytes); // with its NUL (zeroed word)
    stringAt.set(s, ts);
  }
  const stringRef = (s: string): number => {
    const at = stringAt.get(s);
    if (at === undefined) {
      throw new Error(`lfs-writer: string not in the table: ${JSON.stringify(s)}`);
    }
    return at;
  };

  // Functions, bottom up (lflashimg.c functionToFlash).
  const emit = (p: Proto, parentSource: string | undefined): number => {
    const source = p.source ?? parentSource;
    const children = p.protos.map((child) => emit(child, p === main ? undefined : source));
    let pArray: number | undefined;
    if (children.length > 0) {
      pArray = img.alloc(children.length);
      children.forEach((c, i) => img.pointer((pArray as number) + i, c));
    }
    let k: number | undefined;
    if (p.constants.length > 0) {
      k = img.alloc(p.constants.length * TVALUE_WORDS);
      p.constants.forEach((c, i) => {
        const at = (k as number) + i * TVALUE_WORDS;
        if (c === null) {
          img.set(at + 2, 0); // LUA_TNIL
        } else if (typeof c === "boolean") {
          img.set(at, c ? 1 : 0);
          img.set(at + 2, 1); // LUA_TBOOLEAN
        } else if (typeof c === "number") {
          const d = new DataView(new ArrayBuffer(8));
          d.setFloat64(0, c, true);
          img.set(at, d.getUint32(0, true));
          img.set(at + 1, d.getUint32(4, true));
          img.set(at + 2, 3); // LUA_TNUMBER
        } else {
          img.pointer(at, stringRef(bytesToLatin1(c.bytes)));
          img.set(at + 2, 4); // LUA_TSTRING
        }
      });
    }
    let code: number | undefined;
    if (p.code.length > 0) {
      code = img.alloc(p.code.length);
      p.code.forEach((ins, i) => img.set((code as number) + i, ins));
    }
    const at = img.alloc(PROTO_WORDS);
    img.pointer(at + P_K, k);
    img.pointer(at + P_CODE, code);
    img.pointer(at + P_P, pArray);
    if (p.lineInfo.length > 0) {
      // the Proto points at the string's bytes, just past its FlashTS
      img.pointer(at + P_LINEINFO, stringRef(bytesToLatin1(packLineInfo(p.lineInfo))) + FLASHTS_WORDS);
    }
    img.pointer(at + P_SOURCE, source === undefined ? undefined : stringRef(source));
    img.set(at + P_SIZEK, p.constants.length);
    img.set(at + P_SIZECODE, p.code.length);
    img.set(at + P_SIZEP, p.protos.length);
    img.set(at + P_LINEDEFINED, p.lineDefined);
    img.set(at + P_LASTLINEDEFINED, p.lastLineDefined);
    img.set(at + P_BYTES, p.nups | (p.numParams << 8) | (p.isVararg << 16) | (p.maxStackSize << 24));
    return at;
  };
  img.pointer(header + H_MAIN, emit(main, undefined));

  const imageBytes = img.used * WORD;
  img.set(header + H_SIG, FLASH_SIG);
  img.set(header + H_SIZE, imageBytes);
  img.set(header + H_NROUSE, nROuse);
  img.set(header + H_NROSIZE, nROsize);
  if (imageBytes > MAX_IMAGE_BYTES) {
    throw new LfsBuildError(`image is ${imageBytes.toLocaleString("en-US")} bytes; luac.cross can lay out at most ${MAX_IMAGE_BYTES.toLocaleString("en-US")}`);
  }
  if (imageBytes > maxBytes) {
    throw new LfsBuildError(`image is ${imageBytes.toLocaleString("en-US")} bytes; the LFS partition holds ${maxBytes.toLocaleString("en-US")} (--lfs-size)`);
  }
  return { raw: img.serialize(), imageBytes };
}

/** The image file and what it holds; see writeLfsImage. */
export function buildLfsImage(modules: readonly LfsModuleInput[], options: WriteLfsOptions = {}): LfsBuild {
  const { raw, imageBytes } = layoutLfsImage(modules, options);
  const gz = gzipForDevice(raw);
  // Never hand out an image the device's loader would refuse.
  readLfsImage(gz, { partitionBytes: options.maxBytes ?? DEFAULT_LFS_BYTES });
  return { gz, raw, imageBytes };
}

/**
 * The gzipped LFS image of `modules` in NodeMCU 3.x's Lua 5.1 float
 * relocatable format, as `luac.cross -f` writes it (see the header comment
 * for the two differences). Same input, same bytes. Throws LfsBuildError.
 */
export function writeLfsImage(modules: readonly LfsModuleInput[], options: WriteLfsOptions = {}): Uint8Array {
  return buildLfsImage(modules, options).gz;
}
