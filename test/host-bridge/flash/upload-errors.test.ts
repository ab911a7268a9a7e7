/**
 * The upload step's failures, each turned into advice, against real virtual
 * ESP8266s on ptys: a NodeMCU build lacking modules, a full file system, and
 * a port with no NodeMCU behind it.
 */
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { VirtualDeviceOptions } from "../../../device/options";
import { Pty } from "../../../device/pty";
import { VirtualDevice } from "../../../device/virtual-device";
import { uploadToBoard, type UploadStepOptions } from "../../../host-bridge/flash/upload-step";
import { removeDir, tempDir } from "../../device/support/harness";

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup();
  }
});

/** A virtual board on a pty; `device: false` leaves the pty with nothing behind it. */
async function board(options: Partial<VirtualDeviceOptions> | false): Promise<string> {
  const dir = tempDir("upload-errors");
  cleanups.push(async () => removeDir(dir));
  const pty = await Pty.open(join(dir, "tty"));
  cleanups.push(() => pty.close());
  if (options !== false) {
    const device = new VirtualDevice({ fsDir: join(dir, "flash"), heapKb: 96, ...options });
    device.on("tx", (bytes) => pty.write(bytes));
    pty.on("data", (bytes) => device.write(bytes));
    device.start();
    cleanups.push(async () => device.stop());
  }
  return pty.path;
}

function upload(port: string, over: Partial<UploadStepOptions>): ReturnType<typeof uploadToBoard> {
  return uploadToBoard({
    port,
    baud: 115200,
    files: [{ name: "hello.lua", data: Buffer.from("print('hello')\n") }],
    requiredModules: ["file", "node"],
    format: false,
    onProgress: () => undefined,
    log: () => undefined,
    ...over,
  });
}

describe("upload step errors", () => {
  it("names the NodeMCU modules the firmware lacks and where to get a build with them", async () => {
    const port = await board({ modules: ["file", "node", "tmr", "uart", "encoder", "crypto"] });
    await expect(upload(port, { requiredModules: ["adc", "dht", "file", "mqtt", "node", "sjson", "tmr", "wifi"] })).rejects.toThrow(
      /lacks modules the app needs: adc, dht, mqtt, sjson, wifi\. .*nodemcu-build\.com/,
    );
  }, 60_000);

  it("says the file system is full and offers --format", async () => {
    const port = await board({ fsTotalBytes: 16_384 });
    await expect(upload(port, { files: [{ name: "big.bin", data: Buffer.alloc(40_000, 7) }] })).rejects.toThrow(/file system is full.*--format/);
  }, 60_000);

  it("an mqtts:// broker with no CA given and none pinned on the board: asks for --ca", async () => {
    const port = await board({});
    await expect(upload(port, { requirePinnedCa: true })).rejects.toThrow(/no pinned CA certificate.*--ca FILE\.pem/);
  }, 60_000);

  it("a port with no NodeMCU answering: baud rate, boot mode, cable", async () => {
    const port = await board(false);
    await expect(upload(port, { attachTimeoutMs: 1000 })).rejects.toThrow(/does not answer at the Lua prompt at 115200 baud.*--baud.*boot \(flash\) mode.*cable/);
  }, 60_000);

  it("uploads and restarts a board that has what the app needs", async () => {
    const port = await board({});
    const result = await upload(port, {});
    expect(result.bytes).toBe(Buffer.byteLength("print('hello')\n"));
    expect(["sha256", "size"]).toContain(result.verified);
  }, 60_000);
});
