/**
 * Lua 5.1 binary chunks (the output of `string.dump` and `luac`): parse them
 * completely, write them back (`dumpChunk`), and strip their debug info the
 * way `luac -s` does.
 *
 * NodeMCU loads compiled `.lc` files, and its builds drop local and upvalue
 * names anyway, so a stripped chunk is what the device really holds; its LFS
 * images (lfs-writer.ts) are built from the functions parsed here.
 * Sizes (int, size_t, Instruction, lua_Number) and byte order come from the
 * chunk's header, so the same code reads the 32-bit chunks of wasm Lua and
 * the 64-bit ones of a desktop `luac5.1`.
 *
 * Layout (lundump.c / ldump.c of Lua 5.1):
 *   header   "\x1bLua" 0x51 format endianness sizeof(int) sizeof(size_t)
 *            sizeof(Instruction) sizeof(lua_Number) integral-flag
 *   function source:string linedefined:int lastlinedefined:int
 *            nups:u8 numparams:u8 is_vararg:u8 maxstacksize:u8
 *            code:int n, n Instructions
 *            constants:int n, each u8 type then nil | u8 bool | lua_Number | string
 *            protos:int n, each a function
 *            lineinfo:int n, n ints
 *            locvars:int n, each string varname, int startpc, int endpc
 *            upvalues:int n, each string
 *   string   size_t n (0 = no string), then n bytes including the final NUL
 * A nested function's source is the null string when it equals its parent's
 * (ldump.c DumpFunction: `f->source==p ? NULL : f->source`); lundump.c
 * LoadFunction then gives it the parent's.
 *
 * NodeMCU's Lua 5.1 (app/lua/ldump.c, lundump.c) reads and writes one
 * variant of this layout: zero bytes pad the file to a multiple of 4 after
 * the instruction count (before the code) and after the line-info count
 * (Align4), so that code can be used in place. A stock chunk only loads there
 * when every such offset happens to be aligned; `nodemcuChunk` writes the
 * padded layout and `parseChunk(bytes, "nodemcu")` reads it.
 *
 * Runs on Node only (build and test tooling); never transpiled to Lua.
 */

const SIGNATURE = [0x1b, 0x4c, 0x75, 0x61];
const LUA51 = 0x51;
const HEADER_SIZE = 12;

export const LUA_TNIL = 0;
export const LUA_TBOOLEAN = 1;
export const LUA_TNUMBER = 3;
export const LUA_TSTRING = 4;

export interface ChunkHeader {
  littleEndian: boolean;
  sizeInt: number;
  sizeSizeT: number;
  sizeInstruction: number;
  sizeNumber: number;
  integral: boolean;
}

/**
 * The header of a 32-bit little-endian Lua 5.1 with double numbers: what
 * string.dump gives in the wasm32 Lua (common/wasm-lua.ts), in a stock
 * 32-bit Lua 5.1, and what NodeMCU's float build uses on the ESP8266.
 */
export const LUA51_32BIT_HEADER: Readonly<ChunkHeader> = Object.freeze({
  littleEndian: true,
  sizeInt: 4,
  sizeSizeT: 4,
  sizeInstruction: 4,
  sizeNumber: 8,
  integral: false,
});

/** nil, a boolean, a number, or a string's bytes (Lua strings are bytes, not text). */
export type Constant = null | boolean | number | { bytes: Uint8Array };

/** A local variable's debug record: its name and the pcs where it is in scope. */
export interface LocalVar {
  name: string;
  /** First instruction where the variable is active. */
  startPc: number;
  /** First instruction where it is dead. */
  endPc: number;
}

/** One function prototype, everything a chunk holds about it. */
export interface Proto {
  /**
   * Source name ("@app.lua", "=stdin"), decoded as Latin-1 (byte for byte).
   * In a stock chunk only the main function carries one: a nested function
   * has undefined here and inherits its parent's. undefined everywhere in a
   * stripped chunk.
   */
  source: string | undefined;
  lineDefined: number;
  lastLineDefined: number;
  nups: number;
  numParams: number;
  /** VARARG_HASARG 1 | VARARG_ISVARARG 2 | VARARG_NEEDSARG 4 (lobject.h). */
  isVararg: number;
  maxStackSize: number;
  /** Number of instructions (= code.length). */
  sizeCode: number;
  /** The instruction words, unsigned. */
  code: number[];
  constants: Constant[];
  protos: Proto[];
  /** Number of line-info entries: sizeCode, or 0 when stripped (= lineInfo.length). */
  sizeLineInfo: number;
  /** The source line of each instruction. */
  lineInfo: number[];
  /** Local variables with their scopes, in declaration order. */
  locals: LocalVar[];
  /** locals' names (kept for callers that only count them). */
  localNames: string[];
  upvalueNames: string[];
}

export interface Chunk {
  header: ChunkHeader;
  main: Proto;
}

/** "lua": the stock layout (string.dump, luac); "nodemcu": with NodeMCU's Align4 padding. */
export type ChunkLayout = "lua" | "nodemcu";

/** Bytes as a string with one char per byte (U+0000..U+00FF): lossless, unlike TextDecoder("latin1"), which is windows-1252. */
export function bytesToLatin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
}

/** The inverse of bytesToLatin1 (chars above U+00FF keep their low byte). */
export function latin1ToBytes(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, "latin1"));
}

class Reader {
  pos = 0;
  constructor(
    readonly bytes: Uint8Array,
    readonly header: ChunkHeader,
  ) {}

  private need(n: number): void {
    if (this.pos + n > this.bytes.length) {
      throw new Error(`truncated Lua chunk: need ${n} bytes at offset ${this.pos} of ${this.bytes.length}`);
    }
  }

  u8(): number {
    this.need(1);
    return this.bytes[this.pos++] as number;
  }

  /** An unsigned integer of `size` bytes in the chunk's byte order (exact up to 2^53). */
  uint(size: number): number {
    this.need(size);
    let value = 0;
    for (let i = 0; i < size; i++) {
      const b = this.bytes[this.pos + (this.header.littleEndian ? size - 1 - i : i)] as number;
      value = value * 256 + b;
    }
    this.pos += size;
    if (value > Number.MAX_SAFE_INTEGER) {
      throw new Error(`integer too large at offset ${this.pos - size}`);
    }
    return value;
  }

  /** A C int (signed): linedefined can be -1 in hand-made chunks. */
  int(): number {
    const size = this.header.sizeInt;
    const value = this.uint(size);
    const limit = 2 ** (8 * size - 1);
    return size <= 6 && value >= limit ? value - 2 * limit : value;
  }

  /** A count (int) that must be non-negative and fit in what is left. */
  count(unit: number): number {
    const n = this.int();
    if (n < 0 || n * unit > this.bytes.length - this.pos) {
      throw new Error(`bad count ${n} at offset ${this.pos - this.header.sizeInt}`);
    }
    return n;
  }

  /** Skip NodeMCU's padding to the next multiple of 4 (zero bytes). */
  align4(): void {
    while (this.pos % 4 !== 0) {
      if (this.u8() !== 0) {
        throw new Error(`non-zero padding byte at offset ${this.pos - 1}`);
      }
    }
  }

  /** Bytes of a string without its final NUL; undefined for the null string. */
  string(): Uint8Array | undefined {
    const n = this.uint(this.header.sizeSizeT);
    if (n === 0) {
      return undefined;
    }
    this.need(n);
    const s = this.bytes.subarray(this.pos, this.pos + n - 1);
    this.pos += n;
    return s;
  }

  number(): number {
    const size = this.header.sizeNumber;
    this.need(size);
    const view = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.pos, size);
    this.pos += size;
    if (this.header.integral) {
      return size === 8 ? Number(view.getBigInt64(0, this.header.littleEndian)) : view.getInt32(0, this.header.littleEndian);
    }
    return size === 8 ? view.getFloat64(0, this.header.littleEndian) : view.getFloat32(0, this.header.littleEndian);
  }
}

class Writer {
  private readonly parts: Uint8Array[] = [];
  private length = 0;
  constructor(private readonly header: ChunkHeader) {}

  bytes(b: Uint8Array): void {
    this.parts.push(b);
    this.length += b.length;
  }

  u8(value: number): void {
    this.bytes(Uint8Array.of(value));
  }

  /** Zero bytes up to the next multiple of 4 (NodeMCU's Align4). */
  align4(): void {
    const pad = (4 - (this.length % 4)) % 4;
    if (pad > 0) {
      this.bytes(new Uint8Array(pad));
    }
  }

  uint(value: number, size: number): void {
    const out = new Uint8Array(size);
    let v = value;
    for (let i = 0; i < size; i++) {
      out[this.header.littleEndian ? i : size - 1 - i] = v % 256;
      v = Math.floor(v / 256);
    }
    this.bytes(out);
  }

  int(value: number): void {
    const size = this.header.sizeInt;
    this.uint(value < 0 ? value + 2 ** (8 * size) : value, size);
  }

  /** A string (size_t length including the NUL, bytes, NUL), or the null string. */
  string(s: Uint8Array | undefined): void {
    if (s === undefined) {
      this.uint(0, this.header.sizeSizeT);
      return;
    }
    this.uint(s.length + 1, this.header.sizeSizeT);
    this.bytes(s);
    this.u8(0);
  }

  number(n: number): void {
    const { sizeNumber: size, littleEndian, integral } = this.header;
    const out = new Uint8Array(size);
    const view = new DataView(out.buffer);
    if (integral) {
      if (!Number.isInteger(n)) {
        throw new Error(`cannot write ${n} in an integral chunk`);
      }
      if (size === 8) {
        view.setBigInt64(0, BigInt(n), littleEndian);
      } else {
        view.setInt32(0, n, littleEndian);
      }
    } else if (size === 8) {
      view.setFloat64(0, n, littleEndian);
    } else {
      view.setFloat32(0, n, littleEndian);
    }
    this.bytes(out);
  }

  result(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

export function readHeader(bytes: Uint8Array): ChunkHeader {
  if (bytes.length < HEADER_SIZE || SIGNATURE.some((b, i) => bytes[i] !== b)) {
    throw new Error("not a Lua binary chunk (no \\x1bLua signature)");
  }
  if (bytes[4] !== LUA51) {
    throw new Error(`not a Lua 5.1 chunk (version byte 0x${(bytes[4] ?? 0).toString(16)})`);
  }
  if (bytes[5] !== 0) {
    throw new Error(`unknown chunk format ${bytes[5]}`);
  }
  const header: ChunkHeader = {
    littleEndian: bytes[6] === 1,
    sizeInt: bytes[7] as number,
    sizeSizeT: bytes[8] as number,
    sizeInstruction: bytes[9] as number,
    sizeNumber: bytes[10] as number,
    integral: bytes[11] === 1,
  };
  for (const [name, size] of [
    ["int", header.sizeInt],
    ["size_t", header.sizeSizeT],
    ["Instruction", header.sizeInstruction],
    ["lua_Number", header.sizeNumber],
  ] as const) {
    if (size < 1 || size > 8) {
      throw new Error(`unsupported sizeof(${name}) = ${size}`);
    }
  }
  if (header.sizeNumber !== 4 && header.sizeNumber !== 8) {
    throw new Error(`unsupported sizeof(lua_Number) = ${header.sizeNumber}`);
  }
  return header;
}

/** The 12 header bytes of a chunk with these sizes. */
function headerBytes(h: ChunkHeader): Uint8Array {
  return Uint8Array.of(...SIGNATURE, LUA51, 0, h.littleEndian ? 1 : 0, h.sizeInt, h.sizeSizeT, h.sizeInstruction, h.sizeNumber, h.integral ? 1 : 0);
}

/** How a chunk is read and (when stripping) written. */
interface Layouts {
  in: ChunkLayout;
  out: ChunkLayout;
}

function readProto(r: Reader, w: Writer | undefined, layouts: Layouts): Proto {
  const h = r.header;
  // source: stripped chunks carry none (the loader uses the chunk name)
  const source = r.string();
  w?.uint(0, h.sizeSizeT);
  const start = r.pos;
  const lineDefined = r.int();
  const lastLineDefined = r.int();
  const nups = r.u8();
  const numParams = r.u8();
  const isVararg = r.u8();
  const maxStackSize = r.u8();
  const sizeCode = r.count(h.sizeInstruction);
  // linedefined through the instruction count is copied unchanged; then the padding of the output layout.
  w?.bytes(r.bytes.subarray(start, r.pos));
  if (layouts.in === "nodemcu") {
    r.align4();
  }
  if (layouts.out === "nodemcu") {
    w?.align4();
  }
  const codeStart = r.pos;
  const code: number[] = [];
  for (let i = 0; i < sizeCode; i++) {
    code.push(r.uint(h.sizeInstruction));
  }
  const nk = r.count(1);
  const constants: Constant[] = [];
  for (let i = 0; i < nk; i++) {
    const type = r.u8();
    switch (type) {
      case LUA_TNIL:
        constants.push(null);
        break;
      case LUA_TBOOLEAN:
        constants.push(r.u8() !== 0);
        break;
      case LUA_TNUMBER:
        constants.push(r.number());
        break;
      case LUA_TSTRING: {
        const s = r.string();
        constants.push({ bytes: s ?? new Uint8Array(0) });
        break;
      }
      default:
        throw new Error(`bad constant type ${type} at offset ${r.pos - 1}`);
    }
  }
  // The code and the constants are copied unchanged.
  w?.bytes(r.bytes.subarray(codeStart, r.pos));
  const np = r.count(1);
  w?.int(np);
  const protos: Proto[] = [];
  for (let i = 0; i < np; i++) {
    protos.push(readProto(r, w, layouts));
  }
  // Debug info: read it all; a stripping writer writes three empty lists.
  const sizeLineInfo = r.count(h.sizeInt);
  if (layouts.in === "nodemcu") {
    r.align4();
  }
  const lineInfo: number[] = [];
  for (let i = 0; i < sizeLineInfo; i++) {
    lineInfo.push(r.int());
  }
  const nloc = r.count(1);
  const locals: LocalVar[] = [];
  for (let i = 0; i < nloc; i++) {
    const name = bytesToLatin1(r.string() ?? new Uint8Array(0));
    const startPc = r.int();
    const endPc = r.int();
    locals.push({ name, startPc, endPc });
  }
  const nupn = r.count(1);
  const upvalueNames: string[] = [];
  for (let i = 0; i < nupn; i++) {
    upvalueNames.push(bytesToLatin1(r.string() ?? new Uint8Array(0)));
  }
  w?.int(0);
  if (layouts.out === "nodemcu") {
    w?.align4();
  }
  w?.int(0);
  w?.int(0);
  return {
    source: source === undefined ? undefined : bytesToLatin1(source),
    lineDefined,
    lastLineDefined,
    nups,
    numParams,
    isVararg,
    maxStackSize,
    sizeCode,
    code,
    constants,
    protos,
    sizeLineInfo,
    lineInfo,
    locals,
    localNames: locals.map((l) => l.name),
    upvalueNames,
  };
}

function walk(bytes: Uint8Array, strip: boolean, layouts: Layouts): { chunk: Chunk; stripped: Uint8Array | undefined } {
  const header = readHeader(bytes);
  const r = new Reader(bytes, header);
  r.pos = HEADER_SIZE;
  const w = strip ? new Writer(header) : undefined;
  w?.bytes(bytes.subarray(0, HEADER_SIZE));
  const main = readProto(r, w, layouts);
  if (r.pos !== bytes.length) {
    throw new Error(`${bytes.length - r.pos} trailing bytes after the main function`);
  }
  return { chunk: { header, main }, stripped: w?.result() };
}

/** Parse a Lua 5.1 binary chunk (in the stock layout unless told otherwise). */
export function parseChunk(bytes: Uint8Array, layout: ChunkLayout = "lua"): Chunk {
  return walk(bytes, false, { in: layout, out: layout }).chunk;
}

/**
 * The chunk without debug info, as `luac -s` writes it: every function's
 * source is the null string and its line info, local names and upvalue
 * names are empty. Error messages then say `?:` instead of `file:line:`.
 * `layout` is that of the input; the output is always in the stock layout.
 */
export function stripChunk(bytes: Uint8Array, layout: ChunkLayout = "lua"): Uint8Array {
  const { stripped } = walk(bytes, true, { in: layout, out: "lua" });
  if (stripped === undefined) {
    throw new Error("unreachable");
  }
  return stripped;
}

/**
 * A stock Lua 5.1 chunk (e.g. string.dump in wasm32 Lua), stripped as
 * `luac -s` and written in the layout NodeMCU's Lua 5.1 loads: what its
 * `luac.cross -s` writes for a 32-bit little-endian float build. Only the
 * padding differs from `stripChunk`; the same chunk without it (stripChunk)
 * is what a stock Lua 5.1 loads.
 */
export function nodemcuChunk(bytes: Uint8Array): Uint8Array {
  const { stripped } = walk(bytes, true, { in: "lua", out: "nodemcu" });
  if (stripped === undefined) {
    throw new Error("unreachable");
  }
  return stripped;
}

/**
 * Write `main` as a stock Lua 5.1 binary chunk (ldump.c's layout, as
 * string.dump writes it), with the sizes and byte order of `header`
 * (default: 32-bit little-endian, double numbers). parseChunk of the result
 * gives `main` back; a stock Lua of those sizes loads it with loadstring.
 * Everything the Proto holds is written, debug info included: pass a Proto
 * without line info or names for a stripped chunk. A nested function whose
 * source equals its parent's gets the null string, as ldump.c writes it.
 * This is how an LFS function (lfs-reader.ts) becomes loadable again on a
 * stock 32-bit Lua 5.1 (the virtual device).
 */
export function dumpChunk(main: Proto, header: ChunkHeader = LUA51_32BIT_HEADER): Uint8Array {
  readHeader(headerBytes(header)); // validates the sizes
  const w = new Writer(header);
  w.bytes(headerBytes(header));
  dumpProto(w, header, main, undefined);
  return w.result();
}

function dumpProto(w: Writer, h: ChunkHeader, f: Proto, parentSource: string | undefined): void {
  const where = `function at line ${f.lineDefined}`;
  if (f.lineInfo.length !== 0 && f.lineInfo.length !== f.code.length) {
    throw new Error(`${where}: ${f.lineInfo.length} line-info entries for ${f.code.length} instructions`);
  }
  for (const [name, v] of [
    ["nups", f.nups],
    ["numparams", f.numParams],
    ["is_vararg", f.isVararg],
    ["maxstacksize", f.maxStackSize],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 255) {
      throw new Error(`${where}: ${name} ${v} does not fit in a byte`);
    }
  }
  w.string(f.source === undefined || f.source === parentSource ? undefined : latin1ToBytes(f.source));
  w.int(f.lineDefined);
  w.int(f.lastLineDefined);
  w.u8(f.nups);
  w.u8(f.numParams);
  w.u8(f.isVararg);
  w.u8(f.maxStackSize);
  w.int(f.code.length);
  for (const ins of f.code) {
    w.uint(ins >>> 0, h.sizeInstruction);
  }
  w.int(f.constants.length);
  for (const k of f.constants) {
    if (k === null) {
      w.u8(LUA_TNIL);
    } else if (typeof k === "boolean") {
      w.u8(LUA_TBOOLEAN);
      w.u8(k ? 1 : 0);
    } else if (typeof k === "number") {
      w.u8(LUA_TNUMBER);
      w.number(k);
    } else {
      w.u8(LUA_TSTRING);
      w.string(k.bytes);
    }
  }
  w.int(f.protos.length);
  const source = f.source ?? parentSource;
  for (const p of f.protos) {
    dumpProto(w, h, p, source);
  }
  w.int(f.lineInfo.length);
  for (const line of f.lineInfo) {
    w.int(line);
  }
  w.int(f.locals.length);
  for (const l of f.locals) {
    w.string(latin1ToBytes(l.name));
    w.int(l.startPc);
    w.int(l.endPc);
  }
  w.int(f.upvalueNames.length);
  for (const name of f.upvalueNames) {
    w.string(latin1ToBytes(name));
  }
}

/** All prototypes of a chunk, depth first, main function first. */
export function allProtos(main: Proto): Proto[] {
  const out: Proto[] = [main];
  for (const p of main.protos) {
    out.push(...allProtos(p));
  }
  return out;
}
