/**
 * The virtual ESP8266's flash outside SPIFFS that NodeMCU's LFS uses: the
 * partition table (node.getpartitiontable / setpartitiontable) and the LFS
 * region, which holds an image written by node.LFS.reload.
 *
 * Kept on disk in the device's folder under "%flash" (a name FsDir never
 * makes for a SPIFFS file, so file.list() does not show it and file.format()
 * does not erase it), so a device restarted in another process keeps its
 * LFS, as a board does across power cycles.
 *
 * Addresses follow a 4 MB NodeMCU 3.x image: the firmware (irom0) ends at
 * IROM0_END, an LFS partition follows it, SPIFFS starts at 1 MB.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LfsFormatError, moduleChunks, readLfsImage } from "../firmware/lfs";
import { FLASH_REGIONS_FOLDER } from "./fs-dir";

/** End of the firmware's code in flash (node_setpartitiontable puts a new LFS here). */
export const IROM0_END = 0x0a0000;
const SPIFFS_ADDR = 0x100000;

export interface PartitionTable {
  lfs_addr: number;
  lfs_size: number;
  spiffs_addr: number;
  spiffs_size: number;
}

/** What the LFS region holds at boot: module name -> a standard Lua 5.1 chunk of its main function. */
export interface LfsContents {
  modules: Map<string, Uint8Array>;
  /** Bytes of the image in the region (node.info("lfs").lfs_used). */
  usedBytes: number;
  /** node.LFS.time: the Unix time the image was built, as its lookup function returns it (luac.cross -f writes it). */
  timestamp: number | undefined;
}

/** gzip's magic: every LFS image file starts with it (luac.cross -f writes it compressed). */
export function looksLikeLfsImage(data: Buffer): boolean {
  return data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b;
}

/**
 * What node.LFS.reload says of `image` for a partition of `lfsBytes`:
 * "ok", or the device's error text (app/lua/lflash.c) with our reader's detail.
 */
export function lfsVerdict(image: Buffer, lfsBytes: number): string {
  try {
    readLfsImage(image, { partitionBytes: lfsBytes });
    return "ok";
  } catch (error) {
    if (error instanceof LfsFormatError) {
      // The reader names the device's own message where the device has one: that is what reload returns.
      return /\(device: ([^)]+)\)/.exec(error.message)?.[1] ?? error.message;
    }
    throw error;
  }
}

export class FlashRegions {
  private readonly dir: string;
  private table: PartitionTable;

  /**
   * @param fsDir the device's file-system folder
   * @param defaults the table of a fresh device: its LFS size (0 = none) and SPIFFS size, in bytes
   */
  constructor(fsDir: string, defaults: { lfsBytes: number; spiffsBytes: number }) {
    this.dir = join(fsDir, FLASH_REGIONS_FOLDER);
    const stored = this.read("partition.json");
    this.table =
      stored !== undefined
        ? (JSON.parse(stored.toString("utf8")) as PartitionTable)
        : {
            lfs_addr: defaults.lfsBytes > 0 ? IROM0_END : 0,
            lfs_size: defaults.lfsBytes,
            spiffs_addr: SPIFFS_ADDR,
            spiffs_size: defaults.spiffsBytes,
          };
  }

  partitionTable(): PartitionTable {
    return { ...this.table };
  }

  /**
   * Store a new table (checked on the Lua side, as node.c does). A moved or
   * resized LFS region is empty afterwards; a moved or resized SPIFFS must be
   * formatted: returns true then, and the caller erases the files.
   */
  setPartitionTable(next: PartitionTable): { spiffsMoved: boolean } {
    const before = this.table;
    this.table = { ...next };
    this.write("partition.json", Buffer.from(JSON.stringify(this.table) + "\n"));
    if (next.lfs_addr !== before.lfs_addr || next.lfs_size !== before.lfs_size) {
      this.clearLfs();
    }
    return { spiffsMoved: next.spiffs_addr !== before.spiffs_addr || next.spiffs_size !== before.spiffs_size };
  }

  /** node.LFS.reload after its first pass: the image becomes the region's contents. */
  storeLfs(image: Buffer): void {
    this.write("lfs.img", image);
  }

  clearLfs(): void {
    rmSync(join(this.dir, "lfs.img"), { force: true });
  }

  /**
   * The region's modules, decoded as the device's loader does and re-encoded
   * as standard chunks for the emulator's Lua; undefined when the region is
   * empty or (like a flash write cut by a power failure) unreadable.
   */
  lfsContents(): LfsContents | undefined {
    const image = this.read("lfs.img");
    if (image === undefined || this.table.lfs_size === 0) {
      return undefined;
    }
    try {
      const decoded = readLfsImage(image, { partitionBytes: this.table.lfs_size });
      return { modules: moduleChunks(decoded), usedBytes: decoded.header.imageBytes, timestamp: decoded.timestamp };
    } catch (error) {
      if (error instanceof LfsFormatError) {
        return undefined;
      }
      throw error;
    }
  }

  private read(name: string): Buffer | undefined {
    const path = join(this.dir, name);
    return existsSync(path) ? readFileSync(path) : undefined;
  }

  private write(name: string, data: Buffer): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(this.dir, name), data, { mode: 0o600 });
  }
}
