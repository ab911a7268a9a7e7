/**
 * NodeMCU's packed line info (app/lua/lcode.c generateInfoDeltaLine,
 * app/lua/ldebug.c luaG_getline). Instead of one int per instruction, a
 * function's lines are a NUL-terminated byte string of runs; in an LFS image
 * that string is an ordinary ROM string and the Proto points at its bytes.
 *
 * A run is optional line-delta bytes, then a count byte (1..126,
 * INFO_MAX_LINECNT) of consecutive instructions on that line. Starting from
 * line 0, a run with no delta bytes is on the next line (last + 1). Otherwise
 * the first delta byte is 1 s d5..d0 (0x80 | sign 0x40 | 6 bits), followed by
 * 1 d..d bytes of 7 more bits each, least significant first; with d the
 * accumulated value the line is last + d + 2 (sign 0) or last - d (sign 1).
 * A run on the same line as the previous one (after 126 instructions) is
 * therefore 0xC0 then its count.
 */

const INFO_DELTA_MASK = 0x80;
const INFO_SIGN_MASK = 0x40;
const INFO_DELTA_6BITS = 0x3f;
const INFO_DELTA_7BITS = 0x7f;
const INFO_FILL_BYTE = 0x7f;
/** Most instructions one count byte covers. */
export const INFO_MAX_LINECNT = 126;

/**
 * Pack one line per instruction into NodeMCU's run-length form: a new run
 * whenever the line changes or a run reaches 126, deltas as
 * generateInfoDeltaLine writes them. The result has no NUL (every byte is a
 * count 1..126 or has its top bit set), so it is a C string, as lflashimg.c
 * needs (it interns it with luaS_new, i.e. strlen).
 *
 * This is the canonical form, what luac.cross writes unless its parser
 * re-dated an instruction (lcode.c luaK_fixline: lparser.c funcargs moves a
 * call from the line of its `)` to the line where the call starts). When the
 * call was alone on the `)` line, luaK_fixline removes that run and appends a
 * new one, which can leave two runs for one line (`f(g()` / `)`: both on the
 * first line); those decode to the same lines as the canonical form. If that
 * removed run's delta took two or more bytes (the `)` more than 64 lines
 * below), luaK_fixline reads it back with the wrong shift (`<<7` for `<<6`)
 * and luac.cross's lines are wrong from there on; stock Lua's line info, and
 * so this, stays right. test/fixtures/lfs/chunks/fixline*.lua show both.
 */
export function packLineInfo(lines: readonly number[]): Uint8Array {
  const out: number[] = [];
  let last = 0;
  let count = 0;
  let countAt = -1;
  for (const line of lines) {
    if (countAt >= 0 && line === last && count < INFO_MAX_LINECNT) {
      count++;
      out[countAt] = count;
      continue;
    }
    const delta = line - last - 1;
    if (delta !== 0) {
      let d: number;
      if (delta < 0) {
        d = -delta - 1;
        out.push(INFO_DELTA_MASK | INFO_SIGN_MASK | (d & INFO_DELTA_6BITS));
      } else {
        d = delta - 1;
        out.push(INFO_DELTA_MASK | (d & INFO_DELTA_6BITS));
      }
      d = Math.floor(d / 64);
      while (d !== 0) {
        out.push(INFO_DELTA_MASK | (d & INFO_DELTA_7BITS));
        d = Math.floor(d / 128);
      }
    }
    countAt = out.length;
    count = 1;
    out.push(count);
    last = line;
  }
  return Uint8Array.from(out);
}

/**
 * The line of each instruction, decoded as luaG_getline walks the runs. The
 * string ends at a NUL or a fill byte (0x7F); `sizeCode` instructions must be
 * covered exactly, else the info is corrupt (the device would report lines
 * for the wrong instructions).
 */
export function unpackLineInfo(packed: Uint8Array, sizeCode: number): number[] {
  const lines: number[] = [];
  let line = 0;
  let p = 0;
  const at = (i: number): number => packed[i] ?? 0;
  while (at(p) !== 0 && at(p) !== INFO_FILL_BYTE) {
    if ((at(p) & INFO_DELTA_MASK) !== 0) {
      let delta = at(p) & INFO_DELTA_6BITS;
      const sign = at(p) & INFO_SIGN_MASK;
      p++;
      for (let shift = 6; (at(p) & INFO_DELTA_MASK) !== 0; p++, shift += 7) {
        if (shift > 31) {
          throw new Error(`line delta longer than 32 bits at byte ${p}`);
        }
        delta += (at(p) & INFO_DELTA_7BITS) * 2 ** shift;
      }
      line += sign !== 0 ? -delta : delta + 2;
    } else {
      line++;
    }
    const count = at(p++);
    if (count === 0 || count >= INFO_FILL_BYTE) {
      throw new Error(`line info ends inside a run at byte ${p - 1}`);
    }
    for (let i = 0; i < count; i++) {
      lines.push(line);
    }
    if (lines.length > sizeCode) {
      throw new Error(`line info covers more than the ${sizeCode} instructions`);
    }
  }
  if (lines.length !== sizeCode) {
    throw new Error(`line info covers ${lines.length} of ${sizeCode} instructions`);
  }
  return lines;
}
