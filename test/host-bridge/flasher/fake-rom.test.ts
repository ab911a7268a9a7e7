/**
 * The fake ROM's protocol beyond what flashImage uses, driven by esptool-js's
 * ESPLoader directly: writing without the stub (ROM FLASH_BEGIN/DATA), the
 * ROM's refusal of stub-only commands, and the checksum and SPI commands.
 */
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { ESPLoader } from "esptool-js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { lineTerminal, QuietTransport } from "../../../host-bridge/flasher/esptool-node";
import { WebSerialAdapter } from "../../../host-bridge/flasher/web-serial-adapter";
import { FakeEsp8266Rom } from "./fake-rom";
import { tempDir } from "./support";

let dir: string;
let rom: FakeEsp8266Rom;
let transport: QuietTransport;
let loader: ESPLoader;

beforeEach(async () => {
  dir = tempDir("fake-rom");
  rom = await FakeEsp8266Rom.start(join(dir, "tty"));
  transport = new QuietTransport(new WebSerialAdapter(rom.path), () => {});
  loader = new ESPLoader({ transport, baudrate: 115200, terminal: lineTerminal(() => {}) });
  await loader.connect("default_reset", 3, true);
});

afterEach(async () => {
  await transport.disconnect();
  await rom.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("fake ESP8266 ROM", () => {
  it("answers a SYNC eight times as the ROM and identifies as an ESP8266", async () => {
    // esptool-js reads eight answers per SYNC; with fewer it would have sent more SYNCs.
    expect(rom.commands.filter((c) => c === "SYNC")).toHaveLength(1);
    expect(loader.chip.CHIP_NAME).toBe("ESP8266");
    expect(await loader.readFlashId()).toBe(0x1640ef);
  });

  it("takes an uncompressed write without the stub (FLASH_BEGIN/DATA) and refuses stub-only commands", async () => {
    const image = randomBytes(20 * 1024);
    await loader.writeFlash({ fileArray: [{ data: new Uint8Array(image), address: 0x3000 }], flashMode: "keep", flashFreq: "keep", flashSize: "keep", eraseAll: false, compress: false });
    expect(rom.stubRunning).toBe(false);
    expect(rom.commands).toContain("FLASH_DATA");
    expect(rom.flash.subarray(0x3000, 0x3000 + image.length).equals(image)).toBe(true);
    await expect(loader.flashMd5sum(0x3000, image.length)).rejects.toThrow(/unsupported|not supported/i);
  });

  it("rejects a data block with a bad checksum, with the stub's error code", async () => {
    await loader.runStub();
    await loader.flashSpiAttach(0);
    const payload = Buffer.alloc(16 + 4);
    payload.writeUInt32LE(4, 0); // data length; sequence 0
    payload.set([1, 2, 3, 4], 16);
    await loader.checkCommand("begin", 0x02, new Uint8Array(Buffer.from([4, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0])));
    await expect(loader.checkCommand("write", 0x03, new Uint8Array(payload), 0x00)).rejects.toThrow(/status 1,193/); // 0xC1
    const good = 0xef ^ 1 ^ 2 ^ 3 ^ 4;
    await loader.checkCommand("write", 0x03, new Uint8Array(payload), good);
    expect([...rom.flash.subarray(0, 4)]).toEqual([1, 2, 3, 4]);
  });
});
