/**
 * `espfleet flash --virtual`: a virtual ESP8266 (device/) on a
 * pseudo-terminal in this process, with an empty flash to upload to, and an
 * embedded MQTT broker when no broker was named. Everything is removed on
 * stop().
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { VirtualDeviceOptions } from "../../device/options";
import { Pty } from "../../device/pty";
import { VirtualDevice } from "../../device/virtual-device";
import { startEmbeddedBroker, type EmbeddedBroker } from "../../broker/embedded";
import { CliError } from "../../common/errors";

/** A stock board's Lua heap after boot (NODEMCU.md): enough because the app's code runs from LFS, not the heap. */
export const VIRTUAL_HEAP_KB = 40;
/** The LFS partition of the virtual board, KB: what ./flash.sh adds to a board without one; 0 = none. */
export const VIRTUAL_LFS_KB = 128;
/** The embedded broker's port when free (so `espfleet watch` finds it), else any free one. */
const EMBEDDED_PORT = 1883;

export interface VirtualBoard {
  /** The serial port to upload to (a link to /dev/pts/N). */
  portPath: string;
  /** The embedded broker's URL, when this board started one. */
  embeddedBrokerUrl: string | undefined;
  device: VirtualDevice;
  stop(): Promise<void>;
}

export interface VirtualBoardOptions {
  heapKb: number;
  /** LFS partition of the virtual device, KB (0 = a NodeMCU image without one); default VIRTUAL_LFS_KB. */
  lfsKb?: number;
  /** The pty paces the board's output like a UART at this many bit/s (0 = unpaced); default 115200. */
  baud?: number;
  /** Start an embedded broker (no --broker given). */
  embeddedBroker: boolean;
  /** Console output of the device is copied here as well (besides the pty). */
  log: (line: string) => void;
}

async function startBroker(log: (line: string) => void): Promise<EmbeddedBroker> {
  try {
    return await startEmbeddedBroker({ port: EMBEDDED_PORT });
  } catch (error) {
    if (!(error instanceof CliError)) {
      throw error;
    }
    log(`port ${EMBEDDED_PORT} is taken; the embedded broker takes a free port instead`);
    return startEmbeddedBroker({ port: 0 });
  }
}

export async function startVirtualBoard(options: VirtualBoardOptions): Promise<VirtualBoard> {
  const dir = mkdtempSync(join(tmpdir(), "espfleet-virtual-"));
  const fsDir = join(dir, "flash");
  let broker: EmbeddedBroker | undefined = undefined;
  let pty: Pty | undefined = undefined;
  let device: VirtualDevice | undefined = undefined;
  const stop = async (): Promise<void> => {
    device?.stop();
    await pty?.close();
    await broker?.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    if (options.embeddedBroker) {
      broker = await startBroker(options.log);
    }
    const deviceOptions: VirtualDeviceOptions = { fsDir, id: "virtual-esp8266", heapKb: options.heapKb, lfsBytes: (options.lfsKb ?? VIRTUAL_LFS_KB) * 1024 };
    device = new VirtualDevice(deviceOptions);
    pty = await Pty.open(join(dir, "ttyESP"), { baud: options.baud ?? 115200 });
    const openPty = pty;
    const board = device;
    board.on("tx", (bytes) => openPty.write(bytes));
    openPty.on("data", (bytes) => board.write(bytes));
    board.on("panic", (used, budget) => options.log(`virtual device: PANIC, Lua heap ${used} B over the ${budget} B budget (--heap-kb); rebooting`));
    board.on("fault", (message) => options.log(`virtual device: internal error, please report: ${message}`));
    board.start();
    return { portPath: openPty.path, embeddedBrokerUrl: broker?.url, device: board, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
