/**
 * The flasher (esptool-js over serialport) against a fake ESP8266 ROM
 * bootloader on a real pseudo-terminal: the whole serial stack is real,
 * only the chip is simulated.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FlasherError } from "../../../host-bridge/flasher/errors";
import { flashImage } from "../../../host-bridge/flasher/flash-image";
import { ESP32_MAGIC, FakeEsp8266Rom, type FakeRomOptions } from "./fake-rom";
import { ROOT, tempDir } from "./support";

const KB = 1024;

let dir: string;
let rom: FakeEsp8266Rom | undefined;

beforeEach(() => {
  dir = tempDir("flasher");
});

afterEach(async () => {
  await rom?.close();
  rom = undefined;
  rmSync(dir, { recursive: true, force: true });
});

async function startRom(options: FakeRomOptions = {}): Promise<FakeEsp8266Rom> {
  rom = await FakeEsp8266Rom.start(join(dir, "ttyESP"), options);
  return rom;
}

/** The FlasherError a flash ends with (fails the test if it succeeds or throws something else). */
async function flashError(promise: Promise<unknown>): Promise<FlasherError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(FlasherError);
  return error as FlasherError;
}

describe("flashImage", () => {
  it("writes a 300 KB image at the address through the stub, at the transfer baud, and verifies it", async () => {
    const fake = await startRom({ mac: "5c:cf:7f:0a:0b:0c" });
    const image = randomBytes(300 * KB);
    const address = 0x20000;
    const progress: [number, number][] = [];
    const result = await flashImage({ port: fake.path, image, address, onProgress: (written, total) => progress.push([written, total]) });

    expect(fake.flash.subarray(address, address + image.length).equals(image)).toBe(true);
    expect(fake.flash.subarray(0, address).every((b) => b === 0xff)).toBe(true); // nothing written before the address
    expect(result).toMatchObject({ chip: "ESP8266EX", mac: "5c:cf:7f:0a:0b:0c", bytes: image.length });
    expect(result.ms).toBeGreaterThan(0);
    // A real flash: stub uploaded and started, speed raised, compressed write, MD5 verify.
    expect(fake.commands).toContain("MEM_END");
    expect(fake.stubRunning).toBe(true);
    expect(fake.baudChanges).toEqual([460800]);
    expect(fake.commands).toContain("FLASH_DEFL_DATA");
    expect(fake.commands.at(-1)).toBe("SPI_FLASH_MD5");
    // Progress counts image bytes, never goes back, and ends at the total.
    expect(progress.length).toBeGreaterThan(3);
    expect(progress.every(([, total]) => total === image.length)).toBe(true);
    expect(progress.every(([written], i) => i === 0 || written >= progress[i - 1]![0])).toBe(true);
    expect(progress.at(-1)).toEqual([image.length, image.length]);
  });

  it("leaves the rest of the flash alone without --erase, and blanks it with --erase", async () => {
    const image = randomBytes(40 * KB);
    const past = 0x100000; // well past the image's sectors

    const keep = await startRom();
    keep.flash.fill(0x00); // old contents everywhere
    await flashImage({ port: keep.path, image });
    expect(keep.flash.subarray(0, image.length).equals(image)).toBe(true);
    expect(keep.flash[past]).toBe(0x00);
    expect(keep.commands).not.toContain("ERASE_FLASH");
    await keep.close();
    rom = undefined;

    const wipe = await startRom();
    wipe.flash.fill(0x00);
    await flashImage({ port: wipe.path, image, erase: true });
    expect(wipe.commands.indexOf("ERASE_FLASH")).toBeLessThan(wipe.commands.indexOf("FLASH_DEFL_BEGIN"));
    expect(wipe.flash.subarray(0, image.length).equals(image)).toBe(true);
    expect(wipe.flash.subarray(image.length).every((b) => b === 0xff)).toBe(true);
  });

  it("reports a corrupted write as a verify failure", async () => {
    const fake = await startRom({ corruptWrites: true });
    const error = await flashError(flashImage({ port: fake.path, image: randomBytes(64 * KB) }));
    expect(error.problem).toBe("verify-failed");
    expect(error.message).toMatch(/verify failed.*MD5.*flash again.*cable or the power/);
    expect(error.exitCode).toBe(1);
  });

  it("gives up on a silent port with the no-answer advice", async () => {
    const fake = await startRom({ silent: true });
    const error = await flashError(flashImage({ port: fake.path, image: randomBytes(4 * KB) }));
    expect(error.problem).toBe("no-answer");
    expect(error.message).toMatch(/no answer from the ROM bootloader/);
    expect(error.message).toMatch(/hold FLASH \(GPIO0\) while pressing RESET/);
    expect(error.message).toMatch(/lower --baud/);
    expect(fake.commands).toEqual([]); // silent: it heard the syncs but never counted them as commands
  }, 60_000);

  it("names a missing port", async () => {
    const error = await flashError(flashImage({ port: join(dir, "ttyUSB9"), image: randomBytes(KB) }));
    expect(error.problem).toBe("no-such-port");
    expect(error.message).toContain(join(dir, "ttyUSB9"));
    expect(error.message).toMatch(/plugged in/);
  });

  it("names a path that is not a serial port", async () => {
    const file = join(dir, "not-a-tty");
    writeFileSync(file, "");
    const error = await flashError(flashImage({ port: file, image: randomBytes(KB) }));
    expect(error.problem).toBe("not-a-serial-port");
    expect(error.message).toMatch(/is not a serial port.*e\.g\. \/dev\/ttyUSB0/);
  });

  it("refuses a chip that is not an ESP8266", async () => {
    const fake = await startRom({ chipMagic: ESP32_MAGIC });
    const error = await flashError(flashImage({ port: fake.path, image: randomBytes(KB) }));
    expect(error.problem).toBe("wrong-chip");
    expect(error.message).toMatch(/ESP32, not an ESP8266/);
    expect(fake.commands).not.toContain("MEM_BEGIN"); // stopped before uploading anything
  });

  it("refuses an image that does not fit the detected flash", async () => {
    const fake = await startRom({ flashId: 0x1440ef }); // a 1 MB chip
    const error = await flashError(flashImage({ port: fake.path, image: randomBytes(300 * KB), address: 0xe0000 }));
    expect(error.problem).toBe("image-too-large");
    expect(error.message).toMatch(/ends past the 1MB flash/);
    expect(fake.commands).not.toContain("FLASH_DEFL_BEGIN");
  });

  it("refuses an address inside a sector", async () => {
    const error = await flashError(flashImage({ port: "/dev/null", image: randomBytes(KB), address: 0x800 }));
    expect(error.problem).toBe("bad-input");
    expect(error.exitCode).toBe(2);
    expect(error.message).toMatch(/multiple of 0x1000/);
  });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `espfleet write-flash ...` as a user runs it: bin/espfleet.js. */
function writeFlash(args: string[]): Promise<Run> {
  const child = spawn(process.execPath, ["--", join(ROOT, "bin/espfleet.js"), "write-flash", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

describe("espfleet write-flash", () => {
  it("prints progress and a final line with chip, MAC, bytes and seconds", async () => {
    const fake = await startRom();
    const image = randomBytes(100 * KB);
    const file = join(dir, "nodemcu.bin");
    writeFileSync(file, image);
    const run = await writeFlash(["--port", fake.path, "--baud", "230400", file]);
    expect(run.stderr).toMatch(/writing: 102400\/102400 bytes \(100%\), [\d.]+ KB\/s/);
    expect(run.stdout).toMatch(/^wrote 102400 bytes to ESP8266EX 18:fe:34:a1:b2:c3 at 0x0 in \d+\.\d s, verified \(MD5\)\n$/);
    expect(run.code).toBe(0);
    expect(fake.flash.subarray(0, image.length).equals(image)).toBe(true);
    expect(fake.baudChanges).toEqual([230400]);
  }, 60_000);

  it("exits non-zero with the reason on failure", async () => {
    const file = join(dir, "nodemcu.bin");
    writeFileSync(file, randomBytes(KB));
    const missingPort = await writeFlash(["--port", join(dir, "ttyUSB9"), file]);
    expect(missingPort.code).toBe(1);
    expect(missingPort.stderr).toMatch(/espfleet: no serial port .*ttyUSB9/);
    expect(missingPort.stdout).toBe("");

    const missingImage = await writeFlash(["--port", join(dir, "ttyUSB9"), join(dir, "nope.bin")]);
    expect(missingImage.code).toBe(2);
    expect(missingImage.stderr).toMatch(/espfleet: cannot read the image .*nope\.bin: no such file/);
  }, 60_000);
});
