/**
 * A virtual ESP8266 in this process behind a real pseudo-terminal, for the
 * uploader's end-to-end tests; `wire` hooks let a test tamper with the bytes
 * between the port and the device (bit flips, cuts).
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

export class VirtualBoard {
  console = "";
  wire: WireHooks = {};

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

  async stop(): Promise<void> {
    this.device.stop();
    await this.pty.close();
    rmSync(this.root, { recursive: true, force: true });
  }
}
