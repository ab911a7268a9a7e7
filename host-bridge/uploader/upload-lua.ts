/**
 * The Lua the uploader types at the NodeMCU prompt: helper functions sent
 * once per boot, and data lines that fit the 255-character input limit.
 */
import { createHash } from "node:crypto";

/**
 * Every name the uploader keeps on the board starts with this, and no file
 * of the user's may: whatever of these a cut upload leaves is removed on the
 * next connect (RECOVER_LINE). Covers LEGACY_TEMP_NAME too.
 */
export const RESERVED_PREFIX = "espfleet.up";
/** The one temporary file of uploaders before the staged switch (up to a whole file); removed like the others. */
export const LEGACY_TEMP_NAME = "espfleet.upload.tmp";
/** Where the i-th file of an upload (1-based) is written and verified before the switch. */
export function stagedName(index: number): string {
  return `${RESERVED_PREFIX}.${index}`;
}
/** The switch list while it is written: the target names, line i for stagedName(i), in switch order. */
export const SWITCH_LIST_NAME = `${RESERVED_PREFIX}.list`;
/**
 * The switch list once committed (renamed from SWITCH_LIST_NAME after it was
 * verified): while it exists, the switch is under way, and it is completed
 * (never undone) by the next connect. Removed when every file is in place.
 */
export const SWITCH_NAME = `${RESERVED_PREFIX}.switch`;
/** Printed by __ur: how many files the switch put in place (0: none pending), -1 when a rename failed. */
export const RECOVERED = "ESPFLEET_RECOVERED";
/** Printed by the write helper when the file system refuses the data. */
export const WRITE_FAILED = "ESPFLEET_WRITE_FAILED";

export type Encoding = "base64" | "hex";

/**
 * __ud: decodes a data line (base64 with encoder, hex without);
 * __uw: appends to the open temp file __uf, prints WRITE_FAILED when refused;
 * __hx: a binary digest in hex; __uh: the piecewise hash below;
 * __uv: prints a file's size, how it was hashed and its SHA-256 in hex:
 *   "F" crypto.fhash over the file; "P" (when fhash runs out of heap, as it
 *   can on a build that hashes in Lua) SHA-256 over the SHA-256 digests of
 *   its HASH_PIECE-byte pieces; "-" without crypto.
 * __us: the switch: reads SWITCH_NAME (when there is one) and __sw puts each
 *   staged file in place: file.remove(target) then file.rename(staged,
 *   target) (SPIFFS cannot rename over a file), skipping a staged file that is
 *   gone (put in place before a cut); then removes SWITCH_NAME. Run again
 *   after a cut anywhere in it, it finishes the job.
 * __ur: __us, then (unless a rename failed) removes every RESERVED_PREFIX
 *   file left over (staged files of an upload cut before its switch list was
 *   committed); prints RECOVERED and the number __us switched.
 */
export const HASH_PIECE = 1024;
export const HELPER_LINES: readonly string[] = [
  `__ud=encoder and encoder.fromBase64 or function(s)return(s:gsub("..",function(h)return string.char(tonumber(h,16))end))end`,
  `function __uw(s)if not(__uf and __uf:write(__ud(s)))then print("${WRITE_FAILED}")end end`,
  `function __hx(h)return(h:gsub(".",function(c)return string.format("%02x",c:byte())end))end`,
  `function __uh(n)local f,t=file.open(n,"r"),{}while f do local s=f:read(${HASH_PIECE})if not s then f:close()break end t[#t+1]=crypto.hash("sha256",s)end return crypto.hash("sha256",table.concat(t))end`,
  `function __uv(n)collectgarbage()local m,h="-" if crypto and crypto.fhash then local ok,d=pcall(crypto.fhash,"sha256",n)if ok then m,h="F",d else m,h="P",__uh(n)end end print("ESPFLEET_VERIFY",file.list()[n] or -1,m,h and __hx(h)or"-")end`,
  `function __sw(t)for i,n in ipairs(t)do local s="${RESERVED_PREFIX}."..i if file.exists(s)then file.remove(n)if not file.rename(s,n)then print("ESPFLEET_SWITCH_FAILED",n)return -1 end end end file.remove("${SWITCH_NAME}")return #t end`,
  `function __us()local f,t=file.open("${SWITCH_NAME}","r"),{}if not f then return 0 end while true do local l=f:readline()if not l then break end t[#t+1]=(l:gsub("\\n$",""))end f:close()return __sw(t)end`,
  `function __ur()local n=__us()if n>=0 then for k in pairs(file.list())do if k:find("^${luaPattern(RESERVED_PREFIX)}")then file.remove(k)end end end print("${RECOVERED}",n)end`,
];

/** The line that finishes a switch a cut left under way and removes leftover staged files (HELPER_LINES first). */
export const RECOVER_LINE = "__ur()";
/** Commits the verified switch list (the point after which the new files win) and switches. */
export const COMMIT_LINE = `if file.rename("${SWITCH_LIST_NAME}","${SWITCH_NAME}")then __ur()else print("${RECOVERED}",-2)end`;

/** `text` as a Lua pattern that matches it literally. */
function luaPattern(text: string): string {
  return text.replace(/[%^$().[\]*+\-?]/g, "%$&");
}

const WRITE_CALL_OPEN = `__uw"`;
const WRITE_CALL_CLOSE = `"`;

export interface DataLine {
  line: string;
  /** Bytes of the file this line carries. */
  bytes: number;
}

/** Splits `data` into `__uw"..."` lines of at most maxLineChars characters. */
export function encodeChunks(data: Buffer, encoding: Encoding, maxLineChars: number): DataLine[] {
  const room = maxLineChars - WRITE_CALL_OPEN.length - WRITE_CALL_CLOSE.length;
  // base64: 4 characters per 3 bytes, whole groups so every line decodes alone; hex: 2 per byte.
  const bytesPerLine = encoding === "base64" ? Math.floor(room / 4) * 3 : Math.floor(room / 2);
  if (bytesPerLine <= 0) {
    throw new Error(`a line of ${maxLineChars} characters leaves no room for data`);
  }
  const lines: DataLine[] = [];
  for (let at = 0; at < data.length; at += bytesPerLine) {
    const chunk = data.subarray(at, at + bytesPerLine);
    const text = encoding === "base64" ? chunk.toString("base64") : chunk.toString("hex");
    lines.push({ line: WRITE_CALL_OPEN + text + WRITE_CALL_CLOSE, bytes: chunk.length });
  }
  return lines;
}

/** A Lua string literal for `text` (names typed at the prompt). */
export function luaString(text: string): string {
  let out = '"';
  for (const byte of Buffer.from(text, "utf8")) {
    const ch = String.fromCharCode(byte);
    if (ch === '"' || ch === "\\") {
      out += "\\" + ch;
    } else if (byte < 0x20 || byte >= 0x7f) {
      out += "\\" + byte.toString(10);
    } else {
      out += ch;
    }
  }
  return out + '"';
}

/** The device's "P" hash of `data`: SHA-256 over the SHA-256 of each HASH_PIECE-byte piece. */
export function piecewiseSha256(data: Buffer): string {
  const digests: Buffer[] = [];
  for (let at = 0; at < data.length; at += HASH_PIECE) {
    digests.push(createHash("sha256").update(data.subarray(at, at + HASH_PIECE)).digest());
  }
  return createHash("sha256").update(Buffer.concat(digests)).digest("hex");
}
