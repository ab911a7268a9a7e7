/**
 * A NodeMCU board with LFS, scripted on top of the uploader's ScriptedRepl:
 * the probe line, node.setpartitiontable (checked like node.c, then a reboot
 * that formats the moved file system), node.restart() running the new
 * init.lua's first step (lfs.img renamed and reloaded: the partition written
 * and a second restart, or the reload's error printed), and the module check.
 * Images are fake_lfs_image()s: a gzip whose header carries flash_size and,
 * after it, the module names.
 */
import { gzipSync, gunzipSync } from "node:zlib";
import { LFS_PROBE_LINE, type PartitionTable } from "../../../../host-bridge/uploader/lfs";
import { ScriptedRepl } from "../../uploader/support/scripted-repl";

const BANNER = "\nNodeMCU 3.0.0.0 built with Docker provided by frightanic.com\n\tbranch: release\n\tbuild type: float\n\tLFS: 0x20000 bytes total capacity\n";
const FLASH_BYTES = 0x400000;
export const IROM0_END = 0x0a0000;

/** A stand-in LFS image: gzip( flash_sig, flash_size, 24 reserved bytes, "app,cfg" ). */
export function fakeLfsImage(modules: readonly string[], flashSize = 40_000, signature = 0xfafaa150): Buffer {
  const header = Buffer.alloc(32);
  header.writeUInt32LE(signature, 0);
  header.writeUInt32LE(flashSize, 4);
  return gzipSync(Buffer.concat([header, Buffer.from(modules.join(","))]));
}

export interface LfsBoardOptions {
  /** "3.x" (node.getpartitiontable and node.LFS) or "2.x" (neither). */
  firmware?: "3.x" | "2.x";
  /** LFS partition in bytes; 0 = none. */
  lfsBytes?: number;
  /** Modules of the image already in LFS; undefined = none loaded. */
  lfsModules?: string[];
  /** node.LFS.reload answers this error whatever the image (e.g. "Memory allocation error"). */
  reloadError?: string;
  /** Where SPIFFS starts; default 0x100000 (a 4 MB NodeMCU 3.x image). */
  spiffsAddr?: number;
  /** Files on the board before the test. */
  files?: Record<string, string>;
}

export class ScriptedLfsBoard {
  /** Every node.setpartitiontable table received (parsed). */
  readonly partitionCalls: PartitionTable[] = [];
  /** Every image node.LFS.reload was given (by init.lua). */
  readonly reloads: Buffer[] = [];
  partition: PartitionTable;
  lfsModules: string[] | undefined;
  restarts = 0;

  private constructor(
    readonly repl: ScriptedRepl,
    private readonly opts: LfsBoardOptions,
  ) {
    const lfsBytes = opts.lfsBytes ?? 0x20000;
    this.partition = { lfsAddr: lfsBytes > 0 ? IROM0_END : 0, lfsSize: lfsBytes, spiffsAddr: opts.spiffsAddr ?? 0x100000, spiffsSize: 0x300000 };
    this.lfsModules = opts.lfsModules;
    for (const [name, text] of Object.entries(opts.files ?? {})) {
      repl.files.set(name, Buffer.from(text));
    }
    repl.answer = (line) => this.answer(line);
  }

  static async open(opts: LfsBoardOptions = {}): Promise<ScriptedLfsBoard> {
    return new ScriptedLfsBoard(await ScriptedRepl.open(), opts);
  }

  get lines(): string[] {
    return this.repl.lines;
  }

  get files(): Map<string, Buffer> {
    return this.repl.files;
  }

  private answer(line: string): string | undefined {
    if (line.startsWith("for _,m in ipairs(")) {
      return ""; // every module is there
    }
    if (line === 'print(file.exists("ca.pin") or file.exists("ca.pem"))') {
      return String(this.files.has("ca.pin") || this.files.has("ca.pem"));
    }
    if (line === LFS_PROBE_LINE) {
      if (this.opts.firmware === "2.x") {
        return `ESPFLEET_LFS\tfalse\tfalse\t-1\t-1\t-1\t-1\t${this.files.has("lfs.img")}\t-`;
      }
      const p = this.partition;
      const list = this.lfsModules === undefined ? "-" : `=${[...this.lfsModules].sort().join(",")}`;
      return `ESPFLEET_LFS\ttrue\ttrue\t${p.lfsAddr}\t${p.lfsSize}\t${p.spiffsAddr}\t${p.spiffsSize}\t${this.files.has("lfs.img")}\t${list}`;
    }
    const pt = /^node\.setpartitiontable\{(.*)\}$/.exec(line);
    if (pt !== null) {
      return this.setPartitionTable(pt[1] as string);
    }
    if (line === "node.restart()") {
      return this.boot();
    }
    return undefined;
  }

  /** node_setpartitiontable's checks, then the reboot: the moved SPIFFS is formatted. */
  private setPartitionTable(fields: string): string {
    const t: Record<string, number> = {};
    for (const f of fields.split(",")) {
      const [k, v] = f.split("=");
      t[k as string] = Number(v);
    }
    const next: PartitionTable = { lfsAddr: t.lfs_addr as number, lfsSize: t.lfs_size as number, spiffsAddr: t.spiffs_addr as number, spiffsSize: t.spiffs_size as number };
    this.partitionCalls.push(next);
    const aligned = Object.values(next).every((n) => Number.isInteger(n) && n % 0x1000 === 0);
    const ordered = next.lfsAddr >= IROM0_END && next.spiffsAddr >= next.lfsAddr + next.lfsSize && next.spiffsAddr + next.spiffsSize <= FLASH_BYTES;
    if (!aligned || !ordered) {
      return "Lua error: Partition value out of range";
    }
    const spiffsMoved = next.spiffsAddr !== this.partition.spiffsAddr || next.spiffsSize !== this.partition.spiffsSize;
    if (next.lfsAddr !== this.partition.lfsAddr || next.lfsSize !== this.partition.lfsSize) {
      this.lfsModules = undefined;
    }
    this.partition = next;
    if (spiffsMoved) {
      this.files.clear();
    }
    this.restarts++;
    return `${BANNER}${spiffsMoved ? "Formatting file system. Please wait...\n" : ""}lua: cannot open init.lua`;
  }

  /** A boot: banner, then init.lua's LFS step when lfs.img is there. */
  private boot(): string {
    this.restarts++;
    let out = BANNER;
    const image = this.files.get("lfs.img");
    if (image !== undefined && this.files.has("init.lua")) {
      this.files.delete("lfs.img");
      this.files.set("lfs.img.loaded", image);
      out += "espfleet: loading lfs.img into LFS; the board restarts\n";
      this.reloads.push(image);
      const error = this.reloadError(image);
      if (error !== undefined) {
        return `${out}espfleet: lfs.img not loaded: ${error}\nespfleet: starting LFS in 3000 ms; to stop: file.remove("init.lua")`;
      }
      this.lfsModules = imageModules(image);
      this.restarts++;
      return `${out}LFS region updated.  Restarting.\n${BANNER}espfleet: starting LFS in 3000 ms; to stop: file.remove("init.lua")`;
    }
    return `${out}espfleet: starting app.lc in 3000 ms`;
  }

  private reloadError(image: Buffer): string | undefined {
    if (this.partition.lfsSize === 0) {
      return "No LFS partition allocated";
    }
    if (this.opts.reloadError !== undefined) {
      return this.opts.reloadError;
    }
    const raw = gunzipSync(image);
    if (raw.readUInt32LE(0) !== 0xfafaa150) {
      return "incorrect LFS header signature";
    }
    if (raw.readUInt32LE(4) > this.partition.lfsSize) {
      return "LFS Image too big for configured LFS region";
    }
    return undefined;
  }

  async close(): Promise<void> {
    await this.repl.close();
  }
}

function imageModules(image: Buffer): string[] {
  const names = gunzipSync(image).subarray(32).toString();
  return names === "" ? [] : names.split(",").sort();
}
