/**
 * The wire format between the host and the Lua side of a virtual device
 * (device/lua/nodemcu_device.lua). Lua cannot call JavaScript, so each entry
 * returns one string: the entry's status and the requests Lua queued.
 *
 *   result  = status \x02 usedBytes \x02 nextDueMs \x02 record \x02 record ...
 *   record  = kind \x01 field \x01 field ...
 *   field   = "t" text        (ASCII without NUL, \x01, \x02)
 *           | "h" hex         (anything else: bytes >= 0x80, NUL, ...)
 *
 * Arguments into Lua use the same field encoding, plus "v" key: a value
 * too long for one C string, stored beforehand in `__wasm.vars[key]`.
 * Only ASCII crosses, because the wasm bindings pass C strings through UTF-8.
 */

/** A decoded field: text when it crossed as text, bytes when it crossed as hex. */
export type Field = string | Buffer;

export interface DeviceRequest {
  kind: string;
  fields: Field[];
}

/** ok; panic: the heap passed the budget; wdt: an entry ran too long; fault: an error in the emulator itself. */
export type EntryStatus = "ok" | "panic" | "wdt" | "fault";

export interface EntryResult {
  status: EntryStatus;
  /** Lua heap the firmware holds, in bytes (after the entry; garbage included unless over budget). */
  usedBytes: number;
  /** When the next timer or task is due, in ms since boot; -1 when nothing is armed. */
  nextDueMs: number;
  requests: DeviceRequest[];
}

const FIELD = "\x01";
const RECORD = "\x02";
const STATUSES: readonly string[] = ["ok", "panic", "wdt", "fault"];

/** Characters that cannot cross as text. */
// eslint-disable-next-line no-control-regex
const NOT_TEXT = /[\x00-\x02\x80-\uffff]/;

/** Encode one argument for Lua (without the "v" indirection, see lua-vm.ts). */
export function encodeField(value: string | number | Buffer): string {
  if (typeof value === "number") {
    return "t" + String(value);
  }
  if (typeof value === "string") {
    return NOT_TEXT.test(value) ? "h" + Buffer.from(value, "utf8").toString("hex") : "t" + value;
  }
  for (const b of value) {
    if (b < 3 || b >= 0x80) {
      return "h" + value.toString("hex");
    }
  }
  return "t" + value.toString("latin1");
}

function decodeField(raw: string): Field {
  const tag = raw.charAt(0);
  if (tag === "h") {
    return Buffer.from(raw.slice(1), "hex");
  }
  return raw.slice(1);
}

export function parseEntryResult(text: string): EntryResult {
  const parts = text.split(RECORD);
  const [status = "", used = "0", due = "-1", ...records] = parts;
  if (!STATUSES.includes(status)) {
    throw new Error(`virtual device: malformed entry result (status "${status.slice(0, 40)}")`);
  }
  const requests: DeviceRequest[] = [];
  for (const record of records) {
    if (record === "") {
      continue;
    }
    const [kind = "", ...fields] = record.split(FIELD);
    requests.push({ kind, fields: fields.map(decodeField) });
  }
  return { status: status as EntryStatus, usedBytes: Number(used), nextDueMs: Number(due), requests };
}

export function fieldText(f: Field | undefined): string {
  if (f === undefined) {
    return "";
  }
  return typeof f === "string" ? f : f.toString("utf8");
}

export function fieldBytes(f: Field | undefined): Buffer {
  if (f === undefined) {
    return Buffer.alloc(0);
  }
  // Text fields are ASCII by construction: latin1 keeps them byte for byte.
  return typeof f === "string" ? Buffer.from(f, "latin1") : f;
}

export function fieldNumber(f: Field | undefined): number {
  return Number(fieldText(f));
}
