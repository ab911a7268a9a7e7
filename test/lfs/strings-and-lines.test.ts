/**
 * The two encodings an image shares with NodeMCU's C code, checked against
 * luac.cross's images directly (read here by the C layout, not by the
 * reader): Lua 5.1's string hash (lstring.c) and the packed line info
 * (lcode.c / ldebug.c).
 */
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { luaStringHash } from "../../firmware/lfs/lua-string-hash";
import { INFO_MAX_LINECNT, packLineInfo, unpackLineInfo } from "../../firmware/lfs/packed-lineinfo";
import { FIXTURES, readFixture } from "./support";

/** The ROM strings of an inflated luac.cross image, in order: after the 8-word header and the nROsize-word bucket vector, FlashTS records (next, tt|marked, hash, len) each followed by its bytes and a NUL, padded to a word. */
function romStrings(raw: Buffer): { hash: number; bytes: Buffer }[] {
  const count = raw.readUInt32LE(16);
  const buckets = raw.readUInt32LE(20);
  let at = (8 + buckets) * 4;
  const out: { hash: number; bytes: Buffer }[] = [];
  for (let i = 0; i < count; i++) {
    expect(raw.readUInt32LE(at + 4)).toBe(0x4004);
    const len = raw.readUInt32LE(at + 12);
    out.push({ hash: raw.readUInt32LE(at + 8), bytes: raw.subarray(at + 16, at + 16 + len) });
    at += 16 + Math.ceil((len + 1) / 4) * 4;
  }
  return out;
}

describe("luaStringHash", () => {
  it.each(FIXTURES)("gives the hash luac.cross stored for every string of $image", ({ image }) => {
    const strings = romStrings(gunzipSync(readFixture(image)));
    expect(strings.length).toBeGreaterThan(3);
    for (const s of strings) {
      expect(luaStringHash(s.bytes)).toBe(s.hash);
    }
  });

  it("covers strings over 31 bytes (only some of their bytes are hashed) and line-info strings", () => {
    const all = FIXTURES.flatMap(({ image }) => romStrings(gunzipSync(readFixture(image))));
    expect(all.filter((s) => s.bytes.length > 31).length).toBeGreaterThan(10);
    expect(all.some((s) => s.bytes.length > 2000)).toBe(true);
    expect(all.some((s) => s.bytes.some((b) => b >= 0x80))).toBe(true);
  });
});

describe("packed line info", () => {
  it("round-trips any line sequence: long runs, big jumps both ways, repeats", () => {
    let seed = 7;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let t = 0; t < 200; t++) {
      const lines: number[] = [];
      let line = 1 + random(50);
      for (let i = 0, n = 1 + random(400); i < n; i++) {
        const r = random(10);
        line = r < 5 ? line : r < 8 ? line + random(3) : Math.max(0, line + random(40000) - 20000);
        lines.push(line);
      }
      const packed = packLineInfo(lines);
      expect(packed.includes(0)).toBe(false); // a C string, as lflashimg.c interns it
      expect(unpackLineInfo(packed, lines.length)).toEqual(lines);
    }
  });

  it("splits a run at 126 instructions, as NodeMCU's compiler does", () => {
    const lines = new Array<number>(300).fill(5);
    const packed = packLineInfo(lines);
    // line 5: delta byte 0x80|(5-0-2), then runs of 126, 126, 48, each later run restarting on the same line (0xC0)
    expect([...packed]).toEqual([0x83, INFO_MAX_LINECNT, 0xc0, INFO_MAX_LINECNT, 0xc0, 48]);
  });

  it("refuses info that does not cover the code exactly", () => {
    const packed = packLineInfo([1, 1, 2]);
    expect(() => unpackLineInfo(packed, 2)).toThrow(/more than the 2 instructions/);
    expect(() => unpackLineInfo(packed, 4)).toThrow(/covers 3 of 4/);
  });
});
