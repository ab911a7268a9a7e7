/**
 * Lua 5.1's string hash, as NodeMCU computes it (app/lua/lstring.c,
 * luaS_newlstr): seeded with the length, and for strings longer than 31
 * bytes only every `step`-th byte from the end is mixed in. All arithmetic
 * is on a 32-bit `unsigned int`. NodeMCU keeps this algorithm precisely so
 * that a string's hash does not depend on where it is stored: the device
 * looks strings up in the ROM string table of an LFS image by this hash
 * (lstring.c searches `ROstrt.hash[lmod(h, ROstrt.size)]`), so an image whose
 * hashes differ would not find its own strings.
 */
export function luaStringHash(bytes: Uint8Array): number {
  const l = bytes.length;
  let h = l >>> 0; // seed
  const step = (l >>> 5) + 1; // if string is too long, don't hash all its chars
  for (let l1 = l; l1 >= step; l1 -= step) {
    // h ^ ((h<<5) + (h>>2) + byte), wrapping at 2^32 as C's unsigned int does
    h = (h ^ (((h << 5) + (h >>> 2) + (bytes[l1 - 1] as number)) >>> 0)) >>> 0;
  }
  return h;
}
