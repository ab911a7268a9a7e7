/**
 * A virtual ESP8266 in this process behind a real pseudo-terminal, for the
 * uploader's end-to-end tests; `wire` hooks let a test tamper with the bytes
 * between the port and the device (bit flips, cuts), `flash` hooks with what
 * reaches its flash (a power cut: nothing after a given write lands), and
 * powerCycle() boots it again from its flash.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { VirtualDeviceOptions } from "../../../../device/options";
import { Pty } from "../../../../device/pty";
import { VirtualDevice } from "../../../../device/virtual-device";

export interface WireHooks {
  /** Bytes from the host to the device; return what the device gets. */
  toDevice?: (bytes: Buffer) => Buffer;
}

/** One change reaching the flash (SPIFFS): a write, a remove, a rename or a format. */
export interface FlashOp {
  kind: "put" | "remove" | "rename" | "format";
  name: string;
}

export interface FlashHooks {
  /** Called before each change reaches the flash; return false and it never does (the power is gone). */
  beforeOp?: (op: FlashOp) => boolean;
}

export class VirtualBoard {
  console = "";
  wire: WireHooks = {};
  flash: FlashHooks = {};

  private constructor(
    readonly device: VirtualDevice,
    readonly pty: Pty,
    readonly link: string,
    readonly fsDir: string,
    private readonly root: string,
  ) {}

  /** Boots a device on a pty at `<tmp>/ttyV0`; `files` are put on its flash first. */
  static async start(options: Partial<VirtualDeviceOptions> = {}, files: Record<string, Buffer | string> = {}): Promise<VirtualBoard> {
    const root = mkdtempSync(join(tmpdir(), "espfleet-upload-"));
    const fsDir = join(root, "fs");
    const link = join(root, "ttyV0");
    mkdirSync(fsDir);
    for (const [name, data] of Object.entries(files)) {
      writeFileSync(join(fsDir, name), data);
    }
    const device = new VirtualDevice({ fsDir, id: "upload-test", ...options });
    const pty = await Pty.open(link, { baud: 115200 });
    const board = new VirtualBoard(device, pty, link, fsDir, root);
    // Every change to the flash passes the flash hook first.
    const fs = device.fs;
    const allowed = (kind: FlashOp["kind"], name: string): boolean => board.flash.beforeOp?.({ kind, name }) !== false;
    const { put, remove, rename, format } = { put: fs.put.bind(fs), remove: fs.remove.bind(fs), rename: fs.rename.bind(fs), format: fs.format.bind(fs) };
    fs.put = (name, offset, total, data) => void (allowed("put", name) && put(name, offset, total, data));
    fs.remove = (name) => void (allowed("remove", name) && remove(name));
    fs.rename = (from, to) => void (allowed("rename", `${from} -> ${to}`) && rename(from, to));
    fs.format = () => void (allowed("format", "") && format());
    device.on("tx", (b: Buffer) => {
      board.console += b.toString("latin1");
      pty.write(b);
    });
    pty.on("data", (b: Buffer) => device.write(board.wire.toDevice ? board.wire.toDevice(b) : b));
    device.start();
    return board;
  }

  file(name: string): Buffer {
    return readFileSync(join(this.fsDir, name));
  }

  /** Power off and on: the board boots again from what its flash holds (RAM, and writes not yet on flash, are lost). */
  powerCycle(): void {
    this.device.stop();
    this.device.start();
  }

  async stop(): Promise<void> {
    this.device.stop();
    await this.pty.close();
    rmSync(this.root, { recursive: true, force: true });
  }
}
