/**
 * readLfsImage on damaged input: everything NodeMCU's loader refuses is
 * refused with a clear LfsFormatError, and anything else malformed is caught
 * before it could be read out of range. Images are damaged after inflating
 * (then gzipped again with plain zlib) to reach the structure checks, or as
 * files to reach the gzip checks. Offsets come from the C layout
 * (lflash.h FlashHeader, lobject.h Proto), not from the reader.
 */
import { crc32 as zlibCrc32, gunzipSync, gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LfsFormatError, readLfsImage, writeLfsImage } from "../../firmware/lfs";
import { WasmLua } from "../../common/wasm-lua";
import { compileFixture } from "./support";

let lua: WasmLua;
/** A small image (two modules) and a large one (the project, 65 KB: far more than the 16 KB window). */
let small: Uint8Array;
let large: Uint8Array;

beforeAll(() => {
  lua = new WasmLua({ version: "5.1" });
  small = writeLfsImage(["constants.lua", "closures.lua"].map((f) => ({ name: f.replace(".lua", ""), chunk: compileFixture(lua, f) })));
  large = writeLfsImage(["app.lua", "cfg.lua"].map((f) => ({ name: f.replace(".lua", ""), chunk: compileFixture(lua, f) })));
});
afterAll(() => lua.close());

const regzip = (raw: Uint8Array): Uint8Array => new Uint8Array(gzipSync(raw, { windowBits: 14, level: 9 }));
const inflate = (gz: Uint8Array): Buffer => Buffer.from(gunzipSync(gz));

/** The inflated image with word `i` changed by `f`. */
function withWord(gz: Uint8Array, i: number, f: (w: number) => number): Uint8Array {
  const raw = inflate(gz);
  raw.writeUInt32LE(f(raw.readUInt32LE(i * 4)) >>> 0, i * 4);
  return regzip(raw);
}

/** The inflated image with the relocation bit of word `i` flipped (the bitmap follows flash_size bytes). */
function withTagFlipped(gz: Uint8Array, i: number): Uint8Array {
  const raw = inflate(gz);
  const at = raw.readUInt32LE(4) + (i >> 5) * 4;
  raw.writeUInt32LE((raw.readUInt32LE(at) ^ (1 << (i & 31))) >>> 0, at);
  return regzip(raw);
}

function expectFormatError(image: Uint8Array, message: RegExp | string, partitionBytes?: number): void {
  const read = (): unknown => readLfsImage(image, partitionBytes === undefined ? {} : { partitionBytes });
  expect(read).toThrow(LfsFormatError);
  expect(read).toThrow(message);
}

// ---- A deflate writer for hand-made streams (RFC 1951): stored blocks and one fixed-Huffman match. ----

const DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];

class BitWriter {
  bytes: number[] = [];
  private cur = 0;
  private n = 0;
  bits(value: number, count: number): void {
    for (let i = 0; i < count; i++) {
      this.cur |= ((value >> i) & 1) << this.n;
      if (++this.n === 8) {
        this.flush();
      }
    }
  }
  /** Huffman codes go most significant bit first. */
  code(value: number, length: number): void {
    for (let i = length - 1; i >= 0; i--) {
      this.bits((value >> i) & 1, 1);
    }
  }
  flush(): void {
    if (this.n > 0) {
      this.bytes.push(this.cur);
      this.cur = 0;
      this.n = 0;
    }
  }
  stored(data: Uint8Array, final: boolean): void {
    for (let at = 0; at < data.length || (at === 0 && data.length === 0); at += 65535) {
      const part = data.subarray(at, at + 65535);
      this.bits(final && at + 65535 >= data.length ? 1 : 0, 1);
      this.bits(0, 2);
      this.flush();
      this.bytes.push(part.length & 0xff, part.length >> 8, ~part.length & 0xff, (~part.length >> 8) & 0xff);
      this.bytes.push(...part);
      if (data.length === 0) {
        break;
      }
    }
  }
  /** A fixed-Huffman block holding one 3-byte match `distance` back. */
  match3(distance: number): void {
    this.bits(0, 1);
    this.bits(1, 2);
    this.code(257 - 256, 7); // length 3: symbol 257, a 7-bit code
    let c = DIST_BASE.length - 1;
    while ((DIST_BASE[c] as number) > distance) {
      c--;
    }
    this.code(c, 5);
    this.bits(distance - (DIST_BASE[c] as number), DIST_EXTRA[c] as number);
    this.code(0, 7); // end of block
  }
}

/** gzip of `data`, whose bytes at `at` (3 of them) are sent as a match `distance` back. */
function gzipWithMatch(data: Uint8Array, at: number, distance: number): Uint8Array {
  const w = new BitWriter();
  w.stored(data.subarray(0, at), false);
  w.match3(distance);
  w.stored(data.subarray(at + 3), true);
  w.flush();
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(zlibCrc32(data) >>> 0, 0);
  trailer.writeUInt32LE(data.length, 4);
  return new Uint8Array(Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), Buffer.from(w.bytes), trailer]));
}

/** A position in `data` whose next 3 bytes occur between `min` and `max` bytes earlier, and that distance. */
function findRepeat(data: Uint8Array, min: number, max: number): { at: number; distance: number } {
  for (let at = max; at + 3 <= data.length; at++) {
    for (let d = min; d <= max; d++) {
      if (data[at] === data[at - d] && data[at + 1] === data[at + 1 - d] && data[at + 2] === data[at + 2 - d]) {
        return { at, distance: d };
      }
    }
  }
  throw new Error("no repeat found");
}

describe("the device's inflater rules", () => {
  it("accepts the hand-made stream format: a near match decodes and reads", () => {
    const raw = new Uint8Array(inflate(large));
    const near = findRepeat(raw, 16000, 16384);
    const gz = gzipWithMatch(raw, near.at, near.distance);
    expect(Buffer.from(gunzipSync(gz)).equals(Buffer.from(raw))).toBe(true);
    expect(readLfsImage(gz).modules.map((m) => m.name)).toEqual(["app", "cfg"]);
  });

  it("rejects a stream that needs a 32 KB window (zlib windowBits 15): the loader keeps 16 KB", () => {
    const raw = new Uint8Array(inflate(large));
    const far = findRepeat(raw, 16385, 32768);
    const gz = gzipWithMatch(raw, far.at, far.distance);
    expect(Buffer.from(gunzipSync(gz)).equals(Buffer.from(raw))).toBe(true); // valid gzip for zlib
    expectFormatError(gz, `needs a ${far.distance}-byte inflate window`);
    expectFormatError(gz, /windowBits 14, not 15.*invalid dictionary offset on inflate/);
  });

  it("rejects a copy of the very first byte, which the loader's recall_byte refuses", () => {
    const data = new Uint8Array(300).map((_, i) => (i * 37) & 0xff);
    data.set(data.subarray(0, 3), 200);
    const gz = gzipWithMatch(data, 200, 200);
    expect(Buffer.from(gunzipSync(gz)).equals(Buffer.from(data))).toBe(true);
    expectFormatError(gz, /to the first byte/);
  });

  it("rejects a file of 200 bytes or less, and what is not gzip", () => {
    expectFormatError(small.subarray(0, 200), /200 bytes or less.*read error on LFS image file/);
    expectFormatError(new Uint8Array(1000).fill(0x41), /no gzip signature/);
  });

  it("rejects flipped bits in the compressed file (CRC or deflate errors)", () => {
    let checked = 0;
    for (let at = 10; at < small.length - 9; at += 37) {
      const bad = new Uint8Array(small);
      bad[at] = (bad[at] as number) ^ (1 << (at % 8));
      expect(() => readLfsImage(bad)).toThrow(LfsFormatError);
      checked++;
    }
    expect(checked).toBeGreaterThan(20);
    const crc = new Uint8Array(small);
    crc[crc.length - 8] = (crc[crc.length - 8] as number) ^ 1;
    expectFormatError(crc, /CRC-32 mismatch \(device: checksum error on LFS image file\)/);
  });

  it("rejects truncated files", () => {
    for (const cut of [1, 4, 8, 9, 100, small.length - 300]) {
      expect(() => readLfsImage(small.subarray(0, small.length - cut))).toThrow(LfsFormatError);
    }
    expectFormatError(small.subarray(0, small.length - 8), /truncated|claims|mismatch/);
  });

  it("rejects a wrong inflated length in the last 4 bytes", () => {
    const bad = new Uint8Array(small);
    new DataView(bad.buffer).setUint32(bad.length - 4, inflate(small).length + 4, true);
    expectFormatError(bad, /last 4 bytes say/);
  });
});

describe("the loader's header checks (lflash.c procFirstPass)", () => {
  it("rejects a wrong signature", () => {
    expectFormatError(
      withWord(small, 0, () => 0x12345678),
      "not an LFS image: signature 0x12345678",
    );
  });

  it("rejects another format version", () => {
    expectFormatError(
      withWord(small, 0, (w) => (w & ~0xf00) | 0x200),
      /format version 0x00000200.*Incorrect LFS header version/,
    );
  });

  it("rejects an integer build's image (LUA_NUMBER_INTEGRAL, no packed TValues)", () => {
    expectFormatError(
      withWord(small, 0, (w) => (w & ~0x04) | 0x02),
      /integer build.*Incorrect LFS build type/,
    );
    expectFormatError(
      withWord(small, 0, (w) => w | 0x02),
      /integer-build flag/,
    );
  });

  it("rejects an image for 16-byte TValues, an absolute image and a half-written one", () => {
    expectFormatError(
      withWord(small, 0, (w) => w & ~0x04),
      /16-byte TValues.*Incorrect LFS build type/,
    );
    expectFormatError(
      withWord(small, 0, (w) => w | 0x01),
      /absolute \(luac.cross -a\)/,
    );
    expectFormatError(
      withWord(small, 0, (w) => w | 0x08),
      /in-progress flag/,
    );
  });

  it("rejects an image larger than the LFS partition, with both sizes", () => {
    const size = inflate(small).readUInt32LE(4);
    expectFormatError(small, `image is ${size.toLocaleString("en-US")} bytes; the LFS partition holds 1,024 (device: LFS Image too big for configured LFS region)`, 1024);
    expect(() => readLfsImage(small, { partitionBytes: size })).not.toThrow();
  });

  it("rejects an image whose bitmap does not match its size", () => {
    const raw = inflate(small);
    expectFormatError(regzip(Buffer.concat([raw, Buffer.alloc(4)])), /LFS length mismatch/);
    expectFormatError(regzip(raw.subarray(0, raw.length - 4)), /LFS length mismatch/);
    expectFormatError(
      withWord(small, 1, (w) => w + 2),
      /LFS length mismatch/,
    );
  });
});

describe("structure checks", () => {
  // FlashHeader (lflash.h): sig, flash_size, mainProto, pROhash, nROuse, nROsize, fill1, fill2
  const MAIN = 2;
  const ROHASH = 3;
  const NROUSE = 4;

  it("rejects a pointer the bitmap does not mark, and a marked word that is not a pointer", () => {
    expectFormatError(withTagFlipped(small, MAIN), /mainProto \(word 2\) holds 0x[0-9a-f]+ but is not marked for relocation/);
    expectFormatError(withTagFlipped(small, NROUSE), /nROuse \(word 4\) is marked for relocation but is not an address/);
  });

  it("rejects pointers outside the image or to the wrong kind of object", () => {
    const words = inflate(small).readUInt32LE(4) / 4;
    expectFormatError(
      withWord(small, MAIN, () => words + 10),
      /points to word \d+, outside the \d+-word image/,
    );
    // mainProto pointed at the string table: the words there are not a Proto
    expectFormatError(
      withWord(small, MAIN, () => inflate(small).readUInt32LE(ROHASH * 4)),
      /corrupt LFS image/,
    );
  });

  it("rejects a string whose bytes no longer match its hash (the device would not find it)", () => {
    const raw = inflate(small);
    const at = raw.indexOf(Buffer.from("=(luac)\0", "latin1"));
    expect(at).toBeGreaterThan(0);
    raw[at + 2] = "X".charCodeAt(0);
    expectFormatError(regzip(raw), /hash 0x[0-9a-f]+, its bytes hash to 0x[0-9a-f]+/);
  });

  it("rejects a wrong string count and a constant of an impossible type", () => {
    expectFormatError(
      withWord(small, NROUSE, (w) => w + 1),
      /holds \d+ strings, its header says \d+/,
    );
    // The lookup function (Proto at mainProto; lobject.h: k is its word 2) ends its constants with the
    // timestamp, a number: k[n] for n modules, each TValue 3 words with the type last.
    const raw = inflate(small);
    const main = raw.readUInt32LE(MAIN * 4);
    const k = raw.readUInt32LE((main + 2) * 4);
    const typeWord = k + 2 * 3 + 2;
    expect(raw.readUInt32LE(typeWord * 4)).toBe(3); // LUA_TNUMBER
    expectFormatError(
      withWord(small, typeWord, () => 9),
      /has type 9; constants are nil, boolean, number or string/,
    );
  });

  it("never fails with anything but LfsFormatError, whatever bit is flipped or wherever it is cut", () => {
    const raw = inflate(small);
    let seed = 12345;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    let rejected = 0;
    for (let i = 0; i < 400; i++) {
      const bad = Buffer.from(raw);
      const bit = random(bad.length * 8);
      bad[bit >> 3] = (bad[bit >> 3] as number) ^ (1 << (bit & 7));
      try {
        readLfsImage(regzip(bad));
      } catch (e) {
        expect(e).toBeInstanceOf(LfsFormatError);
        rejected++;
      }
    }
    for (let i = 0; i < 60; i++) {
      try {
        readLfsImage(regzip(raw.subarray(0, random(raw.length))));
        expect.unreachable("a cut image was accepted");
      } catch (e) {
        expect(e).toBeInstanceOf(LfsFormatError);
      }
    }
    // most flips land in a pointer, a size, a string or the bitmap; some (instructions, numbers) stay valid images
    expect(rejected).toBeGreaterThan(100);
  });
});
