/**
 * NodeMCU's Lua Flash Store (LFS) seen from the serial REPL: is there an LFS
 * partition, how large, which modules does the loaded image hold; a safe new
 * partition table that adds one; and the size an image needs.
 *
 * Board-side facts (nodemcu-firmware 3.x, app/modules/node.c, app/lua/lflash.c):
 *  - node.getpartitiontable() -> {lfs_addr, lfs_size, spiffs_addr, spiffs_size}, bytes;
 *    cloud-builder images mostly have lfs_size 0. 2.x firmwares have neither it nor node.LFS.
 *  - node.LFS.list() -> sorted module names, or nil when no image is loaded.
 *  - node.setpartitiontable{...} checks 4 KB alignment, ascending order (firmware, LFS,
 *    SPIFFS) and the flash size ("Partition value out of range"), then spins until the
 *    watchdog reboots the chip; SPIFFS moved means it is formatted on the next boot.
 *  - node.LFS.reload(file) compares the image header's flash_size with the partition
 *    ("LFS Image too big for configured LFS region").
 */
import { gunzipSync, inflateRawSync, inflateSync } from "node:zlib";
import type { NodeMcuRepl } from "./repl";

/** Flash sectors: partition addresses and sizes are multiples of this (INTERNAL_FLASH_SECTOR_SIZE). */
export const FLASH_SECTOR = 0x1000;
/** The LFS partition ./flash.sh adds: 128 KB, what the firmware's image needs with room to grow. */
export const LFS_PARTITION_BYTES = 0x20000;
/** SPIFFS below this is refused: the firmware does not boot without one (node.c), and the app's files need room. */
export const MIN_SPIFFS_BYTES = 0x10000;

export interface PartitionTable {
  lfsAddr: number;
  lfsSize: number;
  spiffsAddr: number;
  spiffsSize: number;
}

export interface BoardLfs {
  /** node.getpartitiontable and node.LFS exist (NodeMCU 3.x); false on 2.x and older. */
  supported: boolean;
  /** The partition table; undefined when not supported. */
  partition: PartitionTable | undefined;
  /** node.LFS.list(): the modules of the loaded image; undefined when no image is loaded (or no LFS). */
  modules: string[] | undefined;
  /** lfs.img is on the file system: init.lua has not loaded it (yet). */
  pendingImage: boolean;
}

/**
 * One line (245 characters), safe on any firmware: pcall around
 * node.getpartitiontable (absent on 2.x; then `p` is the error string, whose
 * fields index to nil), node.LFS checked before use, the module list prefixed
 * with "=" so an empty list is not an empty (trimmed) field. Prints
 * ESPFLEET_LFS <pt ok> <node.LFS exists> <lfs_addr> <lfs_size> <spiffs_addr> <spiffs_size> <lfs.img exists> <-|=mod,mod>
 */
export const LFS_PROBE_LINE =
  `local o,p=pcall(node.getpartitiontable) local L=node.LFS local l=L and L.list() ` +
  `print("ESPFLEET_LFS",o,L~=nil,p.lfs_addr or -1,p.lfs_size or -1,p.spiffs_addr or -1,p.spiffs_size or -1,` +
  `file.exists("lfs.img"),l and "="..table.concat(l,",") or "-")`;

/** What the probe printed, or an Error that quotes it. */
export function parseLfsProbe(output: string): BoardLfs {
  const line = output
    .split("\n")
    .map((l) => l.trim())
    .find((l) => l.startsWith("ESPFLEET_LFS"));
  const fields = line?.split(/\s+/) ?? [];
  const bool = (text: string | undefined): boolean | undefined => (text === "true" ? true : text === "false" ? false : undefined);
  const [, ptText, lfsText, ...rest] = fields;
  const numbers = rest.slice(0, 4).map((t) => (/^-?\d+(?:\.0+)?$/.test(t) ? Number(t) : NaN));
  const hasPt = bool(ptText);
  const hasLfs = bool(lfsText);
  const pending = bool(rest[4]);
  const list = rest[5];
  if (fields.length !== 9 || hasPt === undefined || hasLfs === undefined || pending === undefined || numbers.some((n) => !Number.isInteger(n)) || list === undefined || !/^(-|=.*)$/.test(list)) {
    throw new Error(`could not read the board's LFS state: the probe printed ${JSON.stringify(output.slice(0, 200))}`);
  }
  const [lfsAddr, lfsSize, spiffsAddr, spiffsSize] = numbers as [number, number, number, number];
  const supported = hasPt && hasLfs && lfsSize >= 0;
  return {
    supported,
    partition: supported ? { lfsAddr, lfsSize, spiffsAddr, spiffsSize } : undefined,
    modules: list === "-" ? undefined : list.slice(1).split(",").filter((m) => m !== ""),
    pendingImage: pending,
  };
}

export async function probeLfs(repl: NodeMcuRepl): Promise<BoardLfs> {
  return parseLfsProbe(await repl.exec(LFS_PROBE_LINE));
}

export function kb(bytes: number): string {
  return bytes % 1024 === 0 ? `${bytes / 1024} KB` : `${(bytes / 1024).toFixed(1)} KB`;
}

export function hex(n: number): string {
  return `0x${n.toString(16).padStart(6, "0")}`;
}

/** One line for people, e.g. "128 KB partition, holds app, cfg". */
export function describeLfs(lfs: BoardLfs): string {
  if (!lfs.supported || lfs.partition === undefined) {
    return "not supported by this firmware (no node.getpartitiontable / node.LFS: NodeMCU 2.x or older)";
  }
  if (lfs.partition.lfsSize === 0) {
    return "none on this firmware (lfs_size 0)";
  }
  const held = lfs.modules === undefined ? "empty (no image loaded)" : lfs.modules.length === 0 ? "image with no modules" : `holds ${lfs.modules.join(", ")}`;
  return `${kb(lfs.partition.lfsSize)} partition at ${hex(lfs.partition.lfsAddr)}, ${held}`;
}

/** Why no safe partition table could be planned; the text says what to do instead. */
export class PartitionPlanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PartitionPlanError";
  }
}

/**
 * A partition table with an LFS of `lfsBytes` (rounded up to whole sectors)
 * that never touches the firmware: the LFS starts where it starts now, or
 * where SPIFFS starts when there is none; SPIFFS follows it and keeps its end.
 * Everything on SPIFFS is lost (it moves). Throws PartitionPlanError when
 * that layout is not possible (a tiny flash, an odd table).
 */
export function planLfsPartition(now: PartitionTable, lfsBytes: number, minSpiffsBytes = MIN_SPIFFS_BYTES): PartitionTable {
  const size = Math.ceil(lfsBytes / FLASH_SECTOR) * FLASH_SECTOR;
  const aligned = (n: number): boolean => n % FLASH_SECTOR === 0;
  if (now.spiffsSize <= 0 || now.spiffsAddr <= 0 || !aligned(now.spiffsAddr) || !aligned(now.spiffsSize)) {
    throw new PartitionPlanError(`the board's SPIFFS partition (${hex(now.spiffsAddr)}, ${now.spiffsSize} B) is not one this command can move safely`);
  }
  if (now.lfsSize > 0 && (!aligned(now.lfsAddr) || now.lfsAddr + now.lfsSize > now.spiffsAddr)) {
    throw new PartitionPlanError(`the board's LFS (${hex(now.lfsAddr)}, ${now.lfsSize} B) does not lie before SPIFFS (${hex(now.spiffsAddr)})`);
  }
  const lfsAddr = now.lfsSize > 0 ? now.lfsAddr : now.spiffsAddr;
  const spiffsEnd = now.spiffsAddr + now.spiffsSize;
  const spiffsAddr = lfsAddr + size;
  const spiffsSize = spiffsEnd - spiffsAddr;
  if (spiffsSize < minSpiffsBytes) {
    throw new PartitionPlanError(
      `a ${kb(size)} LFS would leave SPIFFS ${spiffsSize > 0 ? kb(spiffsSize) : "no room"}, less than the ${kb(minSpiffsBytes)} the files need (a 1 MB flash?)`,
    );
  }
  return { lfsAddr, lfsSize: size, spiffsAddr, spiffsSize };
}

/** The line that writes `plan` (decimal numbers: valid on every Lua build). The board reboots on success. */
export function partitionLine(plan: PartitionTable): string {
  return `node.setpartitiontable{lfs_addr=${plan.lfsAddr},lfs_size=${plan.lfsSize},spiffs_addr=${plan.spiffsAddr},spiffs_size=${plan.spiffsSize}}`;
}

/**
 * The bytes an LFS image needs in the partition: its header's flash_size
 * (lflash.c compares that with the partition), read from the inflated image;
 * when it does not inflate, the unpacked length in its last 4 bytes (an upper
 * bound). undefined for something that is no LFS image at all.
 */
export function lfsImageNeeds(image: Buffer): number | undefined {
  for (const inflate of [gunzipSync, inflateSync, inflateRawSync]) {
    try {
      const raw = inflate(image);
      if (raw.length >= 8) {
        return raw.readUInt32LE(4);
      }
    } catch {
      // not this format
    }
  }
  return image.length > 4 ? image.readUInt32LE(image.length - 4) : undefined;
}
