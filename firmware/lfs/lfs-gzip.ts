/**
 * The gzip wrapper of an LFS image, both ways, with the device's rules.
 *
 * Reading: NodeMCU inflates an image with its own streaming uzlib
 * (app/uzlib/uzlib_inflate.c) driven by app/lua/lflash.c, keeping only 16 KB
 * of output as history (DICTIONARY_WINDOW; recall_byte fails "invalid
 * dictionary offset on inflate" past it). zlib itself cannot be told to
 * enforce that: with windowBits 14 it still resolves a farther distance from
 * the output it has in hand, and a gzip header does not record the window
 * size. So `inflateLikeDevice` is a small RFC 1951 inflater of its own that
 * applies the loader's checks exactly, and reports each with the loader's
 * message next to an explanation.
 *
 * Writing: zlib deflate (node:zlib) with windowBits 14, so no back-reference
 * reaches further than 16 KB - 262 bytes (zlib's MAX_DIST), at a fixed level,
 * with a fixed header (mtime 0, OS byte 3 as luac.cross's uzlib writes), so
 * that the same image gives the same file. Compressed bytes depend on the
 * zlib that Node bundles; the image inside does not.
 */
import { gzipSync } from "node:zlib";
import { DICTIONARY_WINDOW, LfsFormatError, MIN_FILE_BYTES } from "./lfs-format";

// ---- CRC-32 (gzip's, as uzlib_crc32 computes it) ----------------------------------------------------

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) {
      c = (c & 1) !== 0 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    }
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) {
    c = (CRC_TABLE[(c ^ (data[i] as number)) & 0xff] as number) ^ (c >>> 8);
  }
  return (c ^ 0xffffffff) >>> 0;
}

// ---- Writing -------------------------------------------------------------------------------------------

/** zlib settings of LFS images: 16 KB window for the device, best compression. */
export const DEFLATE_OPTIONS = { level: 9, memLevel: 9, windowBits: 14 } as const;

const FEXTRA = 0x04;

/**
 * gzip `data` for the device: windowBits 14, level 9, mtime 0, OS 3. A
 * result of 200 bytes or less, which the loader refuses to open, gets an
 * empty FEXTRA field to pass that check (uzlib skips FEXTRA).
 */
export function gzipForDevice(data: Uint8Array): Uint8Array {
  const gz = new Uint8Array(gzipSync(data, DEFLATE_OPTIONS));
  gz.fill(0, 4, 8); // MTIME: none (Node writes 0 already; stated here because reproducibility depends on it)
  gz[9] = 3; // OS: Unix, whatever the build host is (zlib writes its own OS_CODE)
  if (gz.length >= MIN_FILE_BYTES) {
    return gz;
  }
  // FEXTRA: XLEN, then one subfield "LF" with `pad` zero bytes (RFC 1952 2.3.1.1).
  const pad = Math.max(0, MIN_FILE_BYTES - gz.length - 6);
  const extra = new Uint8Array(6 + pad);
  extra[0] = (4 + pad) & 0xff;
  extra[1] = (4 + pad) >> 8;
  extra[2] = 0x4c; // 'L'
  extra[3] = 0x46; // 'F'
  extra[4] = pad & 0xff;
  extra[5] = pad >> 8;
  const out = new Uint8Array(gz.length + extra.length);
  out.set(gz.subarray(0, 10), 0);
  out[3] = (out[3] as number) | FEXTRA;
  out.set(extra, 10);
  out.set(gz.subarray(10), 10 + extra.length);
  return out;
}

// ---- Reading -------------------------------------------------------------------------------------------

const LENGTH_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LENGTH_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
/** Order of the code-length code lengths in a dynamic block header (RFC 1951 3.2.7). */
const CLEN_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

function fail(message: string): never {
  throw new LfsFormatError(message);
}

/** A canonical Huffman code: how many codes of each length, and the symbols in code order. */
interface Huffman {
  counts: Uint16Array;
  symbols: Uint16Array;
}

function buildHuffman(lengths: ArrayLike<number>, what: string): Huffman {
  const counts = new Uint16Array(16);
  for (let i = 0; i < lengths.length; i++) {
    counts[lengths[i] as number] = (counts[lengths[i] as number] as number) + 1;
  }
  let left = 1;
  for (let len = 1; len < 16; len++) {
    left = left * 2 - (counts[len] as number);
    if (left < 0) {
      fail(`corrupt gzip stream: over-subscribed ${what} code`);
    }
  }
  const offsets = new Uint16Array(16);
  for (let len = 1; len < 15; len++) {
    offsets[len + 1] = (offsets[len] as number) + (counts[len] as number);
  }
  const symbols = new Uint16Array(lengths.length);
  for (let s = 0; s < lengths.length; s++) {
    const len = lengths[s] as number;
    if (len !== 0) {
      symbols[offsets[len] as number] = s;
      offsets[len] = (offsets[len] as number) + 1;
    }
  }
  counts[0] = 0;
  return { counts, symbols };
}

const FIXED = (() => {
  const lengths = new Array<number>(288);
  for (let s = 0; s < 288; s++) {
    lengths[s] = s < 144 ? 8 : s < 256 ? 9 : s < 280 ? 7 : 8;
  }
  return { lit: buildHuffman(lengths, "fixed literal"), dist: buildHuffman(new Array<number>(30).fill(5), "fixed distance") };
})();

class Inflater {
  private pos: number;
  private bitBuf = 0;
  private bitCount = 0;
  out: Uint8Array;
  outLen = 0;

  constructor(
    private readonly src: Uint8Array,
    start: number,
    private readonly maxOut: number,
  ) {
    this.pos = start;
    this.out = new Uint8Array(Math.min(maxOut, 1 << 16));
  }

  /** Where the next byte-aligned read would start (after the final block). */
  get offset(): number {
    return this.pos;
  }

  private byte(): number {
    if (this.pos >= this.src.length) {
      fail("LFS image file is truncated: the gzip stream ends before its last block (device: read error on LFS image file)");
    }
    return this.src[this.pos++] as number;
  }

  private bits(n: number): number {
    while (this.bitCount < n) {
      this.bitBuf |= this.byte() << this.bitCount;
      this.bitCount += 8;
    }
    const v = this.bitBuf & ((1 << n) - 1);
    this.bitBuf >>>= n;
    this.bitCount -= n;
    return v;
  }

  private decode(h: Huffman): number {
    let code = 0;
    let first = 0;
    let index = 0;
    for (let len = 1; len < 16; len++) {
      code |= this.bits(1);
      const count = h.counts[len] as number;
      if (code - count < first) {
        return h.symbols[index + (code - first)] as number;
      }
      index += count;
      first = (first + count) << 1;
      code <<= 1;
    }
    return fail("corrupt gzip stream: invalid Huffman code (device: Data_error during decompression)");
  }

  private put(b: number): void {
    if (this.outLen >= this.maxOut) {
      fail(`corrupt LFS image: inflates to more than the ${this.maxOut} bytes its gzip trailer announces`);
    }
    if (this.outLen === this.out.length) {
      const bigger = new Uint8Array(Math.min(this.maxOut, this.out.length * 2));
      bigger.set(this.out);
      this.out = bigger;
    }
    this.out[this.outLen++] = b;
  }

  private stored(): void {
    this.bitBuf = 0;
    this.bitCount = 0;
    const len = this.byte() | (this.byte() << 8);
    const nlen = this.byte() | (this.byte() << 8);
    if (len !== (~nlen & 0xffff)) {
      fail("corrupt gzip stream: stored block length check fails (device: Data_error during decompression)");
    }
    for (let i = 0; i < len; i++) {
      this.put(this.byte());
    }
  }

  private codes(lit: Huffman, dist: Huffman): void {
    for (;;) {
      const sym = this.decode(lit);
      if (sym < 256) {
        this.put(sym);
        continue;
      }
      if (sym === 256) {
        return;
      }
      const li = sym - 257;
      if (li >= 29) {
        fail(`corrupt gzip stream: invalid length symbol ${sym}`);
      }
      const length = (LENGTH_BASE[li] as number) + this.bits(LENGTH_EXTRA[li] as number);
      const ds = this.decode(dist);
      if (ds >= 30) {
        fail(`corrupt gzip stream: invalid distance symbol ${ds}`);
      }
      const distance = (DIST_BASE[ds] as number) + this.bits(DIST_EXTRA[ds] as number);
      // lflash.c recall_byte: `if (offset > DICTIONARY_WINDOW || offset >= out->ndx) flash_error(...)`.
      if (distance > DICTIONARY_WINDOW) {
        fail(
          `LFS image needs a ${distance}-byte inflate window at output byte ${this.outLen}; NodeMCU's loader keeps ${DICTIONARY_WINDOW} ` +
            `(compress with zlib windowBits 14, not 15) (device: invalid dictionary offset on inflate)`,
        );
      }
      if (distance >= this.outLen) {
        // Deflate allows distance == bytes written (a copy of byte 0); the loader does not. zlib never emits one (its hash
        // chains use position 0 as "empty"), so only a hand-made or foreign compressor trips on it.
        fail(
          `LFS image refers back ${distance} bytes at output byte ${this.outLen}, ` +
            `${distance > this.outLen ? "before the start of the data" : "to the first byte, which NodeMCU's loader cannot recall"} ` +
            `(device: invalid dictionary offset on inflate)`,
        );
      }
      for (let i = 0; i < length; i++) {
        this.put(this.out[this.outLen - distance] as number);
      }
    }
  }

  private dynamic(): void {
    const nlen = this.bits(5) + 257;
    const ndist = this.bits(5) + 1;
    const ncode = this.bits(4) + 4;
    if (nlen > 286 || ndist > 30) {
      fail("corrupt gzip stream: bad dynamic block header");
    }
    const clens = new Array<number>(19).fill(0);
    for (let i = 0; i < ncode; i++) {
      clens[CLEN_ORDER[i] as number] = this.bits(3);
    }
    const clcode = buildHuffman(clens, "code-length");
    const lengths = new Array<number>(nlen + ndist).fill(0);
    for (let i = 0; i < nlen + ndist; ) {
      const sym = this.decode(clcode);
      if (sym < 16) {
        lengths[i++] = sym;
        continue;
      }
      let value = 0;
      let repeat: number;
      if (sym === 16) {
        if (i === 0) {
          fail("corrupt gzip stream: repeat with no previous length");
        }
        value = lengths[i - 1] as number;
        repeat = 3 + this.bits(2);
      } else if (sym === 17) {
        repeat = 3 + this.bits(3);
      } else {
        repeat = 11 + this.bits(7);
      }
      if (i + repeat > nlen + ndist) {
        fail("corrupt gzip stream: too many code lengths (device: Data_error during decompression)");
      }
      for (; repeat > 0; repeat--) {
        lengths[i++] = value;
      }
    }
    if (lengths[256] === 0) {
      fail("corrupt gzip stream: no end-of-block code");
    }
    this.codes(buildHuffman(lengths.slice(0, nlen), "literal/length"), buildHuffman(lengths.slice(nlen), "distance"));
  }

  run(): void {
    let final = 0;
    while (final === 0) {
      final = this.bits(1);
      const type = this.bits(2);
      if (type === 0) {
        this.stored();
      } else if (type === 1) {
        this.codes(FIXED.lit, FIXED.dist);
      } else if (type === 2) {
        this.dynamic();
      } else {
        fail("corrupt gzip stream: block type 3 (device: Data_error during decompression)");
      }
    }
  }
}

/**
 * Inflate an LFS image file as NodeMCU's loader does (lflash.c loadLFS): the
 * file must be over 200 bytes; its last 4 bytes give the inflated length;
 * uzlib parses the gzip header (method 8, no reserved flags, optional extra,
 * name, comment, header CRC); back-references reach at most 16 KB; the CRC-32
 * after the deflate data must match. Returns the flash image and its
 * relocation bitmap, as one buffer.
 */
export function inflateLikeDevice(file: Uint8Array, maxBytes: number): Uint8Array {
  if (file.length < MIN_FILE_BYTES) {
    fail(`LFS image file is ${file.length} bytes; NodeMCU's loader refuses files of 200 bytes or less (device: read error on LFS image file)`);
  }
  if (file[0] !== 0x1f || file[1] !== 0x8b) {
    fail("not an LFS image file: no gzip signature 1f 8b (luac.cross -f writes gzip; an absolute image from -a is flashed, not loaded)");
  }
  if (file[2] !== 8) {
    fail(`not an LFS image file: gzip method ${file[2]}, only deflate (8) inflates`);
  }
  const flags = file[3] as number;
  if ((flags & 0xe0) !== 0) {
    fail("not an LFS image file: reserved gzip flag bits set");
  }
  let p = 10;
  const need = (n: number): void => {
    if (p + n > file.length) {
      fail("LFS image file is truncated inside its gzip header");
    }
  };
  if ((flags & 0x04) !== 0) {
    need(2);
    p += 2 + ((file[p] as number) | ((file[p + 1] as number) << 8));
  }
  for (const bit of [0x08, 0x10]) {
    if ((flags & bit) !== 0) {
      while (p < file.length && file[p] !== 0) {
        p++;
      }
      p++;
    }
  }
  if ((flags & 0x02) !== 0) {
    p += 2;
  }
  need(0);
  const isize = new DataView(file.buffer, file.byteOffset + file.length - 4, 4).getUint32(0, true);
  if (isize > maxBytes) {
    fail(`LFS image claims ${isize} bytes inflated (gzip trailer); an image and its bitmap are at most ${maxBytes}`);
  }
  const inflater = new Inflater(file, p, isize);
  inflater.run();
  const end = inflater.offset;
  if (end + 8 > file.length) {
    fail("LFS image file is truncated: no CRC and length after the deflate data (device: read error on LFS image file)");
  }
  const data = inflater.out.subarray(0, inflater.outLen);
  const crc = new DataView(file.buffer, file.byteOffset + end, 4).getUint32(0, true);
  if (crc !== crc32(data)) {
    fail("LFS image file is corrupt: CRC-32 mismatch (device: checksum error on LFS image file)");
  }
  if (data.length !== isize) {
    fail(`LFS image inflates to ${data.length} bytes but the file's last 4 bytes say ${isize} (device: LFS length mismatch)`);
  }
  return data;
}
