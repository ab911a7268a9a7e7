/**
 * The Lua the uploader types at the NodeMCU prompt: helper functions sent
 * once per boot, and data lines that fit the 255-character input limit.
 */
import { createHash } from "node:crypto";

/** Where a file lands until it is verified; removed on the next run if an upload was cut. */
export const TEMP_NAME = "espfleet.upload.tmp";
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
 */
export const HASH_PIECE = 1024;
export const HELPER_LINES: readonly string[] = [
  `__ud=encoder and encoder.fromBase64 or function(s)return(s:gsub("..",function(h)return string.char(tonumber(h,16))end))end`,
  `function __uw(s)if not(__uf and __uf:write(__ud(s)))then print("${WRITE_FAILED}")end end`,
  `function __hx(h)return(h:gsub(".",function(c)return string.format("%02x",c:byte())end))end`,
  `function __uh(n)local f,t=file.open(n,"r"),{}while f do local s=f:read(${HASH_PIECE})if not s then f:close()break end t[#t+1]=crypto.hash("sha256",s)end return crypto.hash("sha256",table.concat(t))end`,
  `function __uv(n)collectgarbage()local m,h="-" if crypto and crypto.fhash then local ok,d=pcall(crypto.fhash,"sha256",n)if ok then m,h="F",d else m,h="P",__uh(n)end end print("ESPFLEET_VERIFY",file.list()[n] or -1,m,h and __hx(h)or"-")end`,
];

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
