/**
 * Read an LFS image file the way NodeMCU's loader does (app/lua/lflash.c
 * loadLFS, procFirstPass, procSecondPass and luaN_init), then rebuild its
 * functions as Lua 5.1 Protos, so that a test or the virtual device can look
 * at them (and, through dumpChunk, run them on a stock Lua 5.1).
 *
 * Every check the device makes is made, in its order, and reported with the
 * device's own message in parentheses. Beyond that, since a corrupt image
 * would crash the device rather than be refused, every pointer is checked:
 * it must be marked in the relocation bitmap (and nothing else may be), lie
 * inside the image, point at an object of the right kind (a ROM string, a
 * function, an array of the right length), and no two objects may overlap.
 * Malformed input raises LfsFormatError, never another exception or an
 * out-of-range read.
 */
import { bytesToLatin1, dumpChunk, type Constant, type LocalVar, type Proto } from "./lua51-chunk";
import { BITRK, NUM_OPCODES, OP, OPCODE_NAMES, decode, rkOperands } from "./lua51-opcodes";
import { luaStringHash } from "./lua-string-hash";
import { unpackLineInfo } from "./packed-lineinfo";
import { inflateLikeDevice } from "./lfs-gzip";
import {
  DEFAULT_LFS_BYTES,
  FLASHTS_TT_MARKED,
  FLASHTS_WORDS,
  FLASH_FORMAT_MASK,
  FLASH_FORMAT_VERSION,
  FLASH_SIG,
  FLASH_SIG_ABSOLUTE,
  FLASH_SIG_BASE,
  FLASH_SIG_INTEGRAL,
  FLASH_SIG_IN_PROGRESS,
  FLASH_SIG_PACKED_TVALUES,
  HEADER_WORDS,
  H_MAIN,
  H_NROSIZE,
  H_NROUSE,
  H_ROHASH,
  H_SIG,
  H_SIZE,
  LOCVAR_WORDS,
  LfsFormatError,
  MAX_IMAGE_BYTES,
  PROTO_WORDS,
  P_BYTES,
  P_CODE,
  P_GCLIST,
  P_K,
  P_LASTLINEDEFINED,
  P_LINEDEFINED,
  P_LINEINFO,
  P_LOCVARS,
  P_NEXT,
  P_P,
  P_SIZECODE,
  P_SIZEK,
  P_SIZELOCVARS,
  P_SIZEP,
  P_SIZEUPVALUES,
  P_SOURCE,
  P_TT_MARKED,
  P_UPVALUES,
  TVALUE_WORDS,
  WORD,
  type LfsHeader,
} from "./lfs-format";

export interface ReadLfsOptions {
  /** Size of the LFS partition the image is for, in bytes (the device refuses larger images). Default 128 KB. */
  partitionBytes?: number;
}

export interface LfsModule {
  /** The name node.LFS.get() takes (UTF-8 decoded). */
  name: string;
  /** The module's main function. Every function has its source; none has local or upvalue names unless the image held them. */
  main: Proto;
}

export interface LfsImage {
  header: LfsHeader;
  /** The ROM strings (Latin-1: one char per byte, lossless), in image order: luac.cross's order. Line info strings included. */
  strings: string[];
  /** What node.LFS.list() lists, in its order, with the function node.LFS.get(name) returns. */
  modules: LfsModule[];
  /** The lookup function (the image's main function). */
  main: Proto;
  /** What node.LFS.time() returns: the lookup function's timestamp. */
  timestamp: number | undefined;
  /** The inflated file: flash image then relocation bitmap. */
  raw: Uint8Array;
}

function fail(message: string): never {
  throw new LfsFormatError(message);
}

const hex = (n: number): string => "0x" + (n >>> 0).toString(16).padStart(8, "0");
const utf8 = new TextDecoder("utf-8");

/** Deepest function nesting accepted (LUAI_MAXCCALLS bounds the parser's nesting at 200). */
const MAX_DEPTH = 200;

/**
 * Decode an LFS image file (gzip, as luac.cross -f writes it and
 * node.LFS.reload reads it).
 */
/**
 * Each module of a decoded image as a stock 32-bit Lua 5.1 chunk, by name:
 * how the virtual device and the heap benchmark run an image (loaded with
 * loadstring, as the device runs it from flash).
 */
export function moduleChunks(image: LfsImage): Map<string, Uint8Array> {
  return new Map(image.modules.map((m) => [m.name, dumpChunk(m.main)]));
}

export function readLfsImage(image: Uint8Array, options: ReadLfsOptions = {}): LfsImage {
  const partition = options.partitionBytes ?? DEFAULT_LFS_BYTES;
  // The flash image plus its bitmap (one word per 32): the most a file can sensibly inflate to.
  const limit = Math.max(partition, MAX_IMAGE_BYTES);
  const raw = inflateLikeDevice(image, limit + Math.ceil(limit / 32 / WORD) * WORD + WORD);
  return decodeLfsRaw(raw, options);
}

/** Decode an inflated image (flash image then bitmap), e.g. what `luac.cross -f` lays out before gzip. */
export function decodeLfsRaw(raw: Uint8Array, options: ReadLfsOptions = {}): LfsImage {
  const partition = options.partitionBytes ?? DEFAULT_LFS_BYTES;
  return new Decoder(raw, partition).run();
}

type Value =
  | { t: "nil" }
  | { t: "boolean"; v: boolean }
  | { t: "number"; v: number }
  | { t: "string"; v: string }
  | { t: "function"; proto: number }
  | { t: "table"; items: Value[] };

const NIL: Value = { t: "nil" };

class Decoder {
  private readonly view: DataView;
  private nWords = 0;
  private header!: LfsHeader;
  /** Words read as pointers: must be exactly the flagged ones. */
  private readonly pointerWords = new Set<number>();
  /** Which object each word belongs to, to catch overlaps. */
  private owner!: (string | undefined)[];
  /** FlashTS word offset -> the string. */
  private readonly stringsAt = new Map<number, { bytes: Uint8Array; text: string }>();
  private readonly protosAt = new Set<number>();

  constructor(
    private readonly raw: Uint8Array,
    private readonly partition: number,
  ) {
    this.view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  }

  run(): LfsImage {
    this.checkHeader();
    this.readStrings();
    const main = this.readProto(this.requiredPointer(H_MAIN, "FlashHeader.mainProto"), 0, "main function");
    this.checkBitmap();
    const strings = [...this.stringsAt.entries()].sort((a, b) => a[0] - b[0]).map(([, s]) => s.text);
    const { modules, timestamp } = this.resolveModules(main);
    return { header: this.header, strings, modules, main, timestamp, raw: this.raw };
  }

  // ---- words, pointers, ownership ------------------------------------------------------------------

  private word(i: number, what: string): number {
    if (!Number.isInteger(i) || i < 0 || i >= this.nWords) {
      fail(`corrupt LFS image: ${what} at word ${i} is outside the ${this.nWords}-word image`);
    }
    return this.view.getUint32(i * WORD, true);
  }

  private int(i: number, what: string): number {
    return this.word(i, what) | 0;
  }

  private tagged(i: number): boolean {
    const at = this.header.imageBytes + (i >> 5) * WORD;
    return ((this.view.getUint32(at, true) >>> (i & 31)) & 1) === 1;
  }

  /** A pointer field: a flagged word offset inside the image, or NULL (0, not flagged). */
  private pointer(i: number, what: string): number | undefined {
    const v = this.word(i, what);
    if (!this.tagged(i)) {
      if (v !== 0) {
        fail(`corrupt LFS image: ${what} (word ${i}) holds ${hex(v)} but is not marked for relocation`);
      }
      return undefined;
    }
    this.pointerWords.add(i);
    if (v >= this.nWords) {
      fail(`corrupt LFS image: ${what} (word ${i}) points to word ${v}, outside the ${this.nWords}-word image`);
    }
    return v;
  }

  private requiredPointer(i: number, what: string): number {
    const p = this.pointer(i, what);
    if (p === undefined) {
      fail(`corrupt LFS image: ${what} (word ${i}) is NULL`);
    }
    return p;
  }

  /** A word that is data: must not be flagged for relocation (the loader would add the flash address to it). */
  private data(i: number, what: string): number {
    const v = this.word(i, what);
    if (this.tagged(i)) {
      fail(`corrupt LFS image: ${what} (word ${i}) is marked for relocation but is not an address`);
    }
    return v;
  }

  private claim(start: number, n: number, what: string): void {
    if (start + n > this.nWords) {
      fail(`corrupt LFS image: ${what} (words ${start}..${start + n - 1}) runs past the end of the ${this.nWords}-word image`);
    }
    for (let i = start; i < start + n; i++) {
      const other = this.owner[i];
      if (other !== undefined) {
        fail(`corrupt LFS image: ${what} overlaps ${other} at word ${i}`);
      }
      this.owner[i] = what;
    }
  }

  // ---- header: lflash.c procFirstPass and luaN_init ------------------------------------------------

  private checkHeader(): void {
    const raw = this.raw;
    if (raw.length < HEADER_WORDS * WORD) {
      fail(`LFS image inflates to ${raw.length} bytes, less than its 32-byte header`);
    }
    const sig = this.view.getUint32(H_SIG * WORD, true);
    const imageBytes = this.view.getUint32(H_SIZE * WORD, true);
    if ((sig & ~0xf0f) >>> 0 !== FLASH_SIG_BASE) {
      fail(`not an LFS image: signature ${hex(sig)}, NodeMCU 3.x Lua 5.1 float images have ${hex(FLASH_SIG)}`);
    }
    if ((sig & FLASH_FORMAT_MASK) !== FLASH_FORMAT_VERSION) {
      fail(`LFS image format version ${hex(sig & FLASH_FORMAT_MASK)}; NodeMCU 3.x Lua 5.1 reads ${hex(FLASH_FORMAT_VERSION)} (device: Incorrect LFS header version)`);
    }
    if ((sig & FLASH_SIG_PACKED_TVALUES) === 0) {
      fail(
        (sig & FLASH_SIG_INTEGRAL) !== 0
          ? "LFS image is for an integer build (LUA_NUMBER_INTEGRAL); this firmware is NodeMCU's float build (device: Incorrect LFS build type)"
          : "LFS image has unpacked 16-byte TValues (built with LUA_DWORD_ALIGNED_TVALUES); NodeMCU's float build packs them (device: Incorrect LFS build type)",
      );
    }
    if ((sig & FLASH_SIG_INTEGRAL) !== 0) {
      fail(`LFS image signature ${hex(sig)} has the integer-build flag with packed TValues, which no NodeMCU build makes (device: incorrect LFS header signature)`);
    }
    if ((sig & FLASH_SIG_IN_PROGRESS) !== 0) {
      fail(`LFS image signature ${hex(sig)} has the in-progress flag, which only a half-written flash partition carries (device: incorrect LFS header signature)`);
    }
    if ((sig & FLASH_SIG_ABSOLUTE) !== 0) {
      fail("LFS image is absolute (luac.cross -a): it is for flashing at a fixed address, not for node.LFS.reload");
    }
    if (imageBytes > this.partition) {
      fail(
        `image is ${imageBytes.toLocaleString("en-US")} bytes; the LFS partition holds ${this.partition.toLocaleString("en-US")} ` +
          `(device: LFS Image too big for configured LFS region)`,
      );
    }
    // (flash_size & 3) || flagsLen != 1 + (flashLen/WORDSIZE - 1) / BITS_PER_WORD, in C's truncating division
    const flagsLen = Math.trunc((raw.length - imageBytes) / WORD);
    if (imageBytes % WORD !== 0 || imageBytes > raw.length || flagsLen !== 1 + Math.trunc((imageBytes / WORD - 1) / 32)) {
      fail(
        `LFS image is ${imageBytes} bytes by its header but inflates to ${raw.length} with its bitmap; ` +
          `a ${Math.ceil(imageBytes / WORD / 32) * WORD}-byte bitmap should follow it (device: LFS length mismatch)`,
      );
    }
    if (imageBytes < HEADER_WORDS * WORD) {
      fail(`LFS image size ${imageBytes} is smaller than its own header`);
    }
    this.nWords = imageBytes / WORD;
    this.owner = new Array<string | undefined>(this.nWords).fill(undefined);
    this.header = {
      signature: sig,
      formatVersion: sig & FLASH_FORMAT_MASK,
      integral: false,
      packedTValues: true,
      absolute: false,
      imageBytes,
      mainOffset: 0,
      stringTableOffset: 0,
      stringCount: this.view.getUint32(H_NROUSE * WORD, true),
      stringTableSize: this.view.getInt32(H_NROSIZE * WORD, true),
    };
    this.claim(0, HEADER_WORDS, "FlashHeader");
    this.data(H_SIG, "FlashHeader.flash_sig");
    this.data(H_SIZE, "FlashHeader.flash_size");
    this.data(H_NROUSE, "FlashHeader.nROuse");
    this.data(H_NROSIZE, "FlashHeader.nROsize");
    for (const i of [6, 7]) {
      if (this.data(i, "FlashHeader.fill") !== 0) {
        fail(`corrupt LFS image: reserved header word ${i} is ${hex(this.word(i, "fill"))}, luac.cross writes 0`);
      }
    }
    // luaN_init: pROhash must be set and mainProto inside the image (checked by requiredPointer when read).
    this.header.stringTableOffset = this.requiredPointer(H_ROHASH, "FlashHeader.pROhash") * WORD;
    this.header.mainOffset = this.requiredPointer(H_MAIN, "FlashHeader.mainProto") * WORD;
  }

  // ---- the ROM string table (lflashimg.c createROstrt) -----------------------------------------------

  private readStrings(): void {
    const size = this.header.stringTableSize;
    const count = this.header.stringCount;
    if (size < 1 || (size & (size - 1)) !== 0) {
      fail(`corrupt LFS image: string table size ${size} is not a power of 2`);
    }
    const table = this.header.stringTableOffset / WORD;
    this.claim(table, size, "the string table's buckets");
    let found = 0;
    for (let b = 0; b < size; b++) {
      let ts = this.pointer(table + b, `string bucket ${b}`);
      while (ts !== undefined) {
        if (this.stringsAt.has(ts) || found >= count) {
          fail(`corrupt LFS image: string bucket ${b} has a loop or more strings than nROuse (${count})`);
        }
        const s = this.readString(ts);
        if ((s.hash & (size - 1)) !== b) {
          fail(`corrupt LFS image: string ${JSON.stringify(s.text.slice(0, 40))} (hash ${hex(s.hash)}) is in bucket ${b}, not ${s.hash & (size - 1)}`);
        }
        found++;
        ts = this.pointer(ts, `next string after word ${ts}`);
      }
    }
    if (found !== count) {
      fail(`corrupt LFS image: the string table holds ${found} strings, its header says ${count}`);
    }
  }

  private readString(ts: number): { hash: number; text: string } {
    const what = `ROM string at word ${ts}`;
    this.claim(ts, FLASHTS_WORDS, what);
    const ttMarked = this.data(ts + 1, `${what}: tt/marked`);
    if (ttMarked !== FLASHTS_TT_MARKED) {
      fail(`corrupt LFS image: ${what} has tt/marked ${hex(ttMarked)}, a ROM string has ${hex(FLASHTS_TT_MARKED)} (LUA_TSTRING, LFS bit)`);
    }
    const hash = this.data(ts + 2, `${what}: hash`);
    const len = this.data(ts + 3, `${what}: len`);
    const start = (ts + FLASHTS_WORDS) * WORD;
    if (len >= this.header.imageBytes || start + len + 1 > this.header.imageBytes) {
      fail(`corrupt LFS image: ${what} is ${len} bytes long, past the end of the image`);
    }
    const words = Math.ceil((len + 1) / WORD);
    this.claim(ts + FLASHTS_WORDS, words, `${what}: bytes`);
    for (let i = 0; i < words; i++) {
      this.data(ts + FLASHTS_WORDS + i, `${what}: bytes`);
    }
    const bytes = this.raw.subarray(start, start + len);
    if (this.raw[start + len] !== 0) {
      fail(`corrupt LFS image: ${what} has no NUL after its ${len} bytes`);
    }
    if (luaStringHash(bytes) !== hash) {
      fail(`corrupt LFS image: ${what} has hash ${hex(hash)}, its bytes hash to ${hex(luaStringHash(bytes))}: the device would not find it`);
    }
    const text = bytesToLatin1(bytes);
    this.stringsAt.set(ts, { bytes, text });
    return { hash, text };
  }

  /** A TString pointer field: NULL or a ROM string's FlashTS. */
  private stringRef(i: number, what: string): { bytes: Uint8Array; text: string } | undefined {
    const p = this.pointer(i, what);
    if (p === undefined) {
      return undefined;
    }
    const s = this.stringsAt.get(p);
    if (s === undefined) {
      fail(`corrupt LFS image: ${what} (word ${i}) points to word ${p}, which is not a ROM string`);
    }
    return s;
  }

  // ---- functions (lflashimg.c functionToFlash) --------------------------------------------------------

  /** A counted array: the count must be >= 0 and the pointer NULL exactly when it is 0. */
  private array(ptrWord: number, countWord: number, unit: number, what: string): { at: number; n: number } {
    const n = this.int(countWord, `${what} count`);
    this.data(countWord, `${what} count`);
    const at = this.pointer(ptrWord, what);
    if (n < 0 || n * unit > this.nWords) {
      fail(`corrupt LFS image: ${what} count ${n} is impossible`);
    }
    if ((n === 0) !== (at === undefined)) {
      fail(`corrupt LFS image: ${what} has ${n} entries but its pointer is ${at === undefined ? "NULL" : `word ${at}`}`);
    }
    if (at !== undefined) {
      this.claim(at, n * unit, what);
    }
    return { at: at ?? 0, n };
  }

  private readProto(at: number, depth: number, name: string): Proto {
    if (depth > MAX_DEPTH) {
      fail(`corrupt LFS image: functions nested deeper than ${MAX_DEPTH}`);
    }
    if (this.protosAt.has(at)) {
      fail(`corrupt LFS image: the function at word ${at} is referenced twice`);
    }
    this.protosAt.add(at);
    const what = `${name} (Proto at word ${at})`;
    this.claim(at, PROTO_WORDS, what);
    for (const [i, field] of [
      [P_NEXT, "next"],
      [P_TT_MARKED, "tt/marked"],
      [P_GCLIST, "gclist"],
    ] as const) {
      if (this.data(at + i, `${what}.${field}`) !== 0) {
        fail(`corrupt LFS image: ${what}.${field} is ${hex(this.word(at + i, field))}, luac.cross writes 0`);
      }
    }
    const bytes = this.data(at + P_BYTES, `${what} nups/numparams/is_vararg/maxstacksize`);
    const lineDefined = this.int(at + P_LINEDEFINED, `${what}.linedefined`);
    const lastLineDefined = this.int(at + P_LASTLINEDEFINED, `${what}.lastlinedefined`);
    this.data(at + P_LINEDEFINED, `${what}.linedefined`);
    this.data(at + P_LASTLINEDEFINED, `${what}.lastlinedefined`);

    const k = this.array(at + P_K, at + P_SIZEK, TVALUE_WORDS, `${what} constants`);
    const constants: Constant[] = [];
    for (let i = 0; i < k.n; i++) {
      constants.push(this.readConstant(k.at + i * TVALUE_WORDS, `${what} constant ${i}`));
    }
    const c = this.array(at + P_CODE, at + P_SIZECODE, 1, `${what} code`);
    if (c.n === 0) {
      fail(`corrupt LFS image: ${what} has no instructions`);
    }
    const code: number[] = [];
    for (let i = 0; i < c.n; i++) {
      code.push(this.data(c.at + i, `${what} instruction ${i}`));
    }
    const p = this.array(at + P_P, at + P_SIZEP, 1, `${what} functions`);
    const protos: Proto[] = [];
    for (let i = 0; i < p.n; i++) {
      protos.push(this.readProto(this.requiredPointer(p.at + i, `${what} function ${i}`), depth + 1, `function ${i} of ${name}`));
    }
    let lineInfo: number[] = [];
    const li = this.pointer(at + P_LINEINFO, `${what}.packedlineinfo`);
    if (li !== undefined) {
      const s = this.stringsAt.get(li - FLASHTS_WORDS);
      if (s === undefined) {
        fail(`corrupt LFS image: ${what}.packedlineinfo points to word ${li}, which is not the text of a ROM string`);
      }
      try {
        lineInfo = unpackLineInfo(s.bytes, code.length);
      } catch (e) {
        fail(`corrupt LFS image: ${what} line info: ${(e as Error).message}`);
      }
    }
    const lv = this.array(at + P_LOCVARS, at + P_SIZELOCVARS, LOCVAR_WORDS, `${what} local names`);
    const locals: LocalVar[] = [];
    for (let i = 0; i < lv.n; i++) {
      const r = lv.at + i * LOCVAR_WORDS;
      const n = this.stringRef(r, `${what} local ${i} name`);
      locals.push({ name: n?.text ?? "", startPc: this.data(r + 1, "startpc") | 0, endPc: this.data(r + 2, "endpc") | 0 });
    }
    const uv = this.array(at + P_UPVALUES, at + P_SIZEUPVALUES, 1, `${what} upvalue names`);
    const upvalueNames: string[] = [];
    for (let i = 0; i < uv.n; i++) {
      upvalueNames.push(this.stringRef(uv.at + i, `${what} upvalue name ${i}`)?.text ?? "");
    }
    const source = this.stringRef(at + P_SOURCE, `${what}.source`)?.text;
    const proto: Proto = {
      source,
      lineDefined,
      lastLineDefined,
      nups: bytes & 0xff,
      numParams: (bytes >>> 8) & 0xff,
      isVararg: (bytes >>> 16) & 0xff,
      maxStackSize: bytes >>> 24,
      sizeCode: code.length,
      code,
      constants,
      protos,
      sizeLineInfo: lineInfo.length,
      lineInfo,
      locals,
      localNames: locals.map((l) => l.name),
      upvalueNames,
    };
    if (upvalueNames.length !== 0 && upvalueNames.length !== proto.nups) {
      fail(`corrupt LFS image: ${what} has ${proto.nups} upvalues but ${upvalueNames.length} upvalue names`);
    }
    checkCode(proto, what);
    return proto;
  }

  /** A packed TValue: 8 bytes of value, then the type (lflashimg.c flashCopy "V"). */
  private readConstant(at: number, what: string): Constant {
    const tt = this.data(at + 2, `${what} type`);
    switch (tt) {
      case 0: // LUA_TNIL
        if (this.data(at, what) !== 0 || this.data(at + 1, what) !== 0) {
          fail(`corrupt LFS image: ${what} is nil with a non-zero value`);
        }
        return null;
      case 1: {
        // LUA_TBOOLEAN
        const v = this.data(at, what);
        if (v > 1 || this.data(at + 1, what) !== 0) {
          fail(`corrupt LFS image: ${what} is a boolean with value ${hex(v)}`);
        }
        return v === 1;
      }
      case 3: // LUA_TNUMBER
        this.data(at, what);
        this.data(at + 1, what);
        return this.view.getFloat64(at * WORD, true);
      case 4: {
        // LUA_TSTRING
        const s = this.stringRef(at, what);
        if (s === undefined || this.data(at + 1, what) !== 0) {
          fail(`corrupt LFS image: ${what} is a string without a ROM string`);
        }
        return { bytes: s.bytes };
      }
      default:
        return fail(`corrupt LFS image: ${what} has type ${tt}; constants are nil, boolean, number or string`);
    }
  }

  private checkBitmap(): void {
    for (let i = 0; i < this.nWords; i++) {
      if (this.tagged(i) && !this.pointerWords.has(i)) {
        fail(`corrupt LFS image: word ${i} is marked for relocation but is not a pointer field (${this.owner[i] ?? "unused"})`);
      }
    }
  }

  // ---- the lookup function (luac.c combine, lnodemcu.c luaL_pushlfsmodule / luaL_pushlfsmodules) -----

  private resolveModules(main: Proto): { modules: LfsModule[]; timestamp: number | undefined } {
    // node.LFS.list(): call the lookup function with no argument, keep its 2nd result.
    const [dts, list] = callLookup(main, NIL);
    if (list === undefined || list.t !== "table") {
      fail("corrupt LFS image: the main function does not return the module list (node.LFS.list would fail)");
    }
    const modules: LfsModule[] = [];
    for (const item of list.items) {
      if (item.t !== "string") {
        fail(`corrupt LFS image: the module list holds a ${item.t}, not a name`);
      }
      // node.LFS.get(name): call it with the name; a function result is the module.
      const [fn] = callLookup(main, item);
      if (fn === undefined || fn.t !== "function") {
        fail(`corrupt LFS image: node.LFS.get(${JSON.stringify(item.v)}) would return nil for a listed module`);
      }
      const bytes = Buffer.from(item.v, "latin1");
      modules.push({ name: utf8.decode(bytes), main: main.protos[fn.proto] as Proto });
    }
    return { modules, timestamp: dts?.t === "number" ? dts.v : undefined };
  }
}

/** Light luaG_checkcode: operands that index the constants and the nested functions stay in range (the VM does not check). */
function checkCode(p: Proto, what: string): void {
  p.code.forEach((ins, pc) => {
    const d = decode(ins);
    const bad = (msg: string): never => fail(`corrupt LFS image: ${what} instruction ${pc} (${OPCODE_NAMES[d.op] ?? d.op}) ${msg}`);
    if (d.op >= NUM_OPCODES) {
      bad("has an unknown opcode");
    }
    if ((d.op === OP.LOADK || d.op === OP.GETGLOBAL || d.op === OP.SETGLOBAL) && d.bx >= p.constants.length) {
      bad(`uses constant ${d.bx} of ${p.constants.length}`);
    }
    if (d.op === OP.CLOSURE && d.bx >= p.protos.length) {
      bad(`uses function ${d.bx} of ${p.protos.length}`);
    }
    const rk = rkOperands(d.op);
    for (const [use, x] of [
      [rk.b, d.b],
      [rk.c, d.c],
    ] as const) {
      if (use && x >= BITRK && x - BITRK >= p.constants.length) {
        bad(`uses constant ${x - BITRK} of ${p.constants.length}`);
      }
    }
  });
}

/**
 * Run the lookup function on one argument, as the device does for
 * node.LFS.get / list / time. Only the instructions luac.c `combine`
 * generates are understood; anything else means the image's main function is
 * not an LFS index, which the device could not use either.
 */
function callLookup(main: Proto, arg: Value): Value[] {
  const R: Value[] = new Array<Value>(Math.max(main.maxStackSize, 1)).fill(NIL);
  if (main.numParams >= 1) {
    R[0] = arg;
  }
  const K = (i: number): Value => {
    const k = main.constants[i];
    if (k === undefined || k === null) {
      return NIL;
    }
    if (typeof k === "boolean") {
      return { t: "boolean", v: k };
    }
    if (typeof k === "number") {
      return { t: "number", v: k };
    }
    return { t: "string", v: bytesToLatin1(k.bytes) };
  };
  const reg = (i: number): Value => {
    if (i >= R.length) {
      fail(`corrupt LFS image: the lookup function uses register ${i} of ${R.length}`);
    }
    return R[i] as Value;
  };
  const setReg = (i: number, v: Value): void => {
    reg(i);
    R[i] = v;
  };
  const RK = (x: number): Value => (x >= BITRK ? K(x - BITRK) : reg(x));
  const equal = (a: Value, b: Value): boolean => {
    if (a.t !== b.t) {
      return false;
    }
    if (a.t === "nil") {
      return true;
    }
    if (a.t === "function" || a.t === "table") {
      return a === b;
    }
    return a.v === (b as typeof a).v;
  };
  let pc = 0;
  for (let steps = 0; steps < 10 * main.code.length + 100; steps++) {
    const ins = main.code[pc];
    if (ins === undefined) {
      fail(`corrupt LFS image: the lookup function runs off its end at pc ${pc}`);
    }
    const d = decode(ins);
    pc++;
    switch (d.op) {
      case OP.MOVE:
        setReg(d.a, reg(d.b));
        break;
      case OP.LOADK:
        setReg(d.a, K(d.bx));
        break;
      case OP.NEWTABLE:
        setReg(d.a, { t: "table", items: [] });
        break;
      case OP.SETLIST: {
        const t = reg(d.a);
        if (t.t !== "table" || d.b === 0 || d.c === 0) {
          fail("corrupt LFS image: unexpected SETLIST in the lookup function");
        }
        for (let j = 1; j <= d.b; j++) {
          t.items[(d.c - 1) * 50 + j - 1] = reg(d.a + j);
        }
        break;
      }
      case OP.EQ: {
        // lvm.c: if (equalobj(RK(B), RK(C)) == A) dojump(next JMP); pc++
        const jmp = main.code[pc];
        if (jmp === undefined || decode(jmp).op !== OP.JMP) {
          fail("corrupt LFS image: EQ without a JMP in the lookup function");
        }
        if (equal(RK(d.b), RK(d.c)) === (d.a !== 0)) {
          pc += decode(jmp).sbx;
        }
        pc++;
        break;
      }
      case OP.JMP:
        pc += d.sbx;
        break;
      case OP.CLOSURE: {
        const p = main.protos[d.bx];
        if (p === undefined || p.nups !== 0) {
          fail(`corrupt LFS image: the lookup function closes over function ${d.bx}, which is missing or has upvalues`);
        }
        setReg(d.a, { t: "function", proto: d.bx });
        break;
      }
      case OP.RETURN: {
        if (d.b === 0) {
          fail("corrupt LFS image: open RETURN in the lookup function");
        }
        const out: Value[] = [];
        for (let j = 0; j < d.b - 1; j++) {
          out.push(reg(d.a + j));
        }
        return out;
      }
      default:
        fail(`corrupt LFS image: the main function is not luac.cross's module lookup (${OPCODE_NAMES[d.op] ?? d.op} at pc ${pc - 1})`);
    }
  }
  return fail("corrupt LFS image: the lookup function does not return");
}
