/**
 * NodeMCU 3.x LFS (Lua Flash Store) image format for its Lua 5.1 float build,
 * as written by `luac.cross -f` (app/lua/luac_cross/lflashimg.c,
 * dumpToFlashImage) and loaded by `node.LFS.reload` (app/lua/lflash.c,
 * loadLFS). Constants and layouts only; see lfs-writer.ts and lfs-reader.ts.
 *
 * An image file is gzip of
 *   the flash image   a multiple of 4 bytes, every pointer a word offset
 *                     from the start of the image
 *   a bitmap          one bit per flash word, set where the word is a pointer
 *                     (32 flags to a little-endian word), that the device's
 *                     loader uses to add the partition's mapped address
 *                     (lflash.c procSecondPass: `buf[i] = 4*buf[i] + flashAddr`)
 * The flash image, bottom up (lflashimg.c uses a serial allocator, so every
 * pointer except the header's points backwards):
 *   FlashHeader       8 words (lflash.h)
 *   ROstrt hash       nROsize words, bucket heads
 *   strings           each a FlashTS (4 words) and its bytes with a NUL,
 *                     padded to a word
 *   functions         for each function, depth first: its nested functions,
 *                     then its p[] (1 word each), k[] (3 words each), code[]
 *                     (1 word each), then the Proto (18 words); line info is
 *                     a string of the string table
 *   the main function last: the lookup function luac.c `combine` generates
 * Everything is little-endian: the ESP8266 is, and luac.cross only runs on
 * little-endian hosts (lflashimg.c header comment).
 */

/** Thrown by the writer: an input NodeMCU would not accept, or an image that does not fit. */
export class LfsBuildError extends Error {
  override name = "LfsBuildError";
}

/** Thrown by the reader: an image the device's loader would reject, or that is corrupt. */
export class LfsFormatError extends Error {
  override name = "LfsFormatError";
}

/** Bytes per word, and per target pointer (lflashimg.c: `#error "luac.cross requires C toolchain with 4 byte word size"`). */
export const WORD = 4;

// ---- FlashHeader signature (lflash.h) ---------------------------------------------------------

/** The fixed part of every signature. */
export const FLASH_SIG_BASE = 0xfafaa050;
/** FLASH_FORMAT_VERSION (1 << 8), checked under FLASH_FORMAT_MASK. */
export const FLASH_FORMAT_VERSION = 0x100;
export const FLASH_FORMAT_MASK = 0xf00;
/** FLASH_SIG_B1: set by integer builds (LUA_NUMBER_INTEGRAL). */
export const FLASH_SIG_INTEGRAL = 0x02;
/**
 * FLASH_SIG_B2: LUA_PACK_TVALUES, 12-byte TValues. app/include/user_config.h
 * defines it for every float build (unless LUA_DWORD_ALIGNED_TVALUES), so a
 * float image has it and an integer one cannot (lflash.h #error).
 */
export const FLASH_SIG_PACKED_TVALUES = 0x04;
/** FLASH_SIG_ABSOLUTE: `luac.cross -a addr`, an uncompressed image for a fixed flash address. */
export const FLASH_SIG_ABSOLUTE = 0x01;
/** FLASH_SIG_IN_PROGRESS: set in flash while the loader writes, never in a file. */
export const FLASH_SIG_IN_PROGRESS = 0x08;
/** FLASH_SIG of NodeMCU's Lua 5.1 float build: 0xfafaa154. */
export const FLASH_SIG = (FLASH_SIG_BASE | FLASH_FORMAT_VERSION | FLASH_SIG_PACKED_TVALUES) >>> 0;

/** The 8 words of FlashHeader, in order. */
export const HEADER_WORDS = 8;
export const H_SIG = 0;
/** flash_size: bytes of the flash image (without the bitmap). */
export const H_SIZE = 1;
/** mainProto: pointer to the main (lookup) function. */
export const H_MAIN = 2;
/** pROhash: pointer to the ROM string table's bucket vector. */
export const H_ROHASH = 3;
/** nROuse: number of strings. */
export const H_NROUSE = 4;
/** nROsize: number of buckets, 2 << floor(log2(nROuse)) (lflashimg.c createROstrt). */
export const H_NROSIZE = 5;

// ---- ROM strings: FlashTS (lflashimg.c), the 32-bit layout of TString ---------------------------

/** next (pointer), tt|marked (bytes, 2 bytes padding), hash, len; then len+1 bytes. */
export const FLASHTS_WORDS = 4;
/** tt = LUA_TSTRING, marked = bitmask(LFSBIT) with LFSBIT 6 (lgc.h): the low half-word of word 1. */
export const FLASHTS_TT_MARKED = 0x4004;

// ---- Proto (lobject.h), as lflashimg.c PROTO_COPY_MASK "AHAAAAAASIIIIIIIAI" writes it -------------

export const PROTO_WORDS = 18;
/** next (A): NULL. */
export const P_NEXT = 0;
/** tt, marked (H): written as 0 (`*d++ = (*s++) & 0`). */
export const P_TT_MARKED = 1;
export const P_K = 2;
export const P_CODE = 3;
export const P_P = 4;
export const P_LINEINFO = 5;
export const P_LOCVARS = 6;
export const P_UPVALUES = 7;
export const P_SOURCE = 8;
export const P_SIZEUPVALUES = 9;
export const P_SIZEK = 10;
export const P_SIZECODE = 11;
export const P_SIZEP = 12;
export const P_SIZELOCVARS = 13;
export const P_LINEDEFINED = 14;
export const P_LASTLINEDEFINED = 15;
/** gclist (A): NULL. */
export const P_GCLIST = 16;
/** nups, numparams, is_vararg, maxstacksize: one byte each, in that order. */
export const P_BYTES = 17;

/** A TValue with LUA_PACK_TVALUES: 8 bytes of value (a double, or a pointer / boolean in the first word), then the type as an int. */
export const TVALUE_WORDS = 3;
/** LocVar (lflashimg.c "SII"): varname, startpc, endpc. luac.cross never writes any (see lfs-writer.ts). */
export const LOCVAR_WORDS = 3;

// ---- Limits --------------------------------------------------------------------------------------

/** LUA_MAX_FLASH_SIZE in lflashimg.c: 0x10000 words, the most luac.cross can lay out ("Out of Flash memory"). */
export const MAX_IMAGE_BYTES = 0x10000 * WORD;
/** Modules in one image: luac.c `combine` builds the module list with one SETLIST (LFIELDS_PER_FLUSH, lopcodes.h). */
export const MAX_MODULES = 50;
/** LUAI_MAXVARS in NodeMCU's app/lua/luaconf.h (stock Lua 5.1: 200). Active locals per function, checked in lparser.c new_localvar. */
export const MAX_LOCALS = 50;
/** LUAI_MAXUPVALUES in app/lua/luaconf.h (as stock): checked in lparser.c indexupvalue. */
export const MAX_UPVALUES = 60;
/** MAXSTACK in app/lua/llimits.h (as stock): registers per function, checked in lcode.c luaK_checkstack. */
export const MAX_STACK = 250;
/** Default LFS partition size assumed by the writer and reader: 128 KB. */
export const DEFAULT_LFS_BYTES = 128 * 1024;

// ---- The device's inflater (lflash.c) --------------------------------------------------------------

/** DICTIONARY_WINDOW: history the loader keeps; a back-reference further than this fails. zlib windowBits 14. */
export const DICTIONARY_WINDOW = 16384;
/** loadLFS rejects files of at most 200 bytes ("size of an empty luac output") before inflating. */
export const MIN_FILE_BYTES = 201;

/** The FlashHeader fields, decoded. */
export interface LfsHeader {
  /** flash_sig as stored. */
  signature: number;
  /** FLASH_FORMAT_VERSION bits (0x100 for this format). */
  formatVersion: number;
  /** LUA_NUMBER_INTEGRAL build flag (false: float). */
  integral: boolean;
  /** LUA_PACK_TVALUES build flag (12-byte TValues). */
  packedTValues: boolean;
  /** FLASH_SIG_ABSOLUTE: an image for a fixed address (luac.cross -a), not relocatable. */
  absolute: boolean;
  /** flash_size: bytes of the flash image, without the relocation bitmap. */
  imageBytes: number;
  /** Byte offset of the main (lookup) function's Proto. */
  mainOffset: number;
  /** Byte offset of the ROM string table's bucket vector. */
  stringTableOffset: number;
  /** nROuse: number of strings. */
  stringCount: number;
  /** nROsize: number of buckets. */
  stringTableSize: number;
}
