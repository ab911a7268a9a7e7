/**
 * A fake ESP8266 in its UART bootloader, behind a pseudo-terminal, for
 * testing the flasher with the real serial stack.
 *
 * It speaks the esptool serial protocol (docs.espressif.com/projects/esptool,
 * "Serial Protocol", ESP8266 flavour): SLIP-framed requests
 * `00 op size16 checksum32 data`, responses `01 op size16 value32 data
 * status error`, with 2 status bytes for both the ESP8266 ROM and the stub.
 *
 * ROM mode understands what the ESP8266 ROM does (SYNC, READ_REG,
 * WRITE_REG, MEM_*, FLASH_BEGIN/DATA/END). esptool-js uploads its stub with
 * MEM_BEGIN/DATA/END; we do not run the uploaded code but answer from then on
 * as the stub would (after the unsolicited "OHAI" packet): compressed
 * writes, MD5, erase, baud change, SPI attach/params. A real flash goes
 * through the stub, so that is the path the tests exercise.
 *
 * The flash is a 4 MiB Buffer with NOR semantics: erasing sets 0xFF, writing
 * can only clear bits.
 */
import { createHash } from "node:crypto";
import { constants as zlibConstants, inflateSync } from "node:zlib";
import { Pty } from "../../../device/pty";
import { SlipDecoder, slipEncode } from "./slip";

export const ESP8266_MAGIC = 0xfff0c101;
export const ESP32_MAGIC = 0x00f01d83;
/** JEDEC id as esptool reads it: manufacturer | device << 8 | capacity << 16. Winbond W25Q32, 4 MiB. */
export const W25Q32_FLASH_ID = 0x1640ef;

export interface FakeRomOptions {
  /** Value of the chip-detect register 0x40001000. Default ESP8266_MAGIC. */
  chipMagic?: number;
  /** Read everything, answer nothing (a board not in its bootloader, a broken TX line). */
  silent?: boolean;
  /** Flip one byte of the first data written to flash, so the MD5 check must fail. */
  corruptWrites?: boolean;
  /** Default 18:fe:34:a1:b2:c3. */
  mac?: string;
  /** Default 4 MiB. */
  flashBytes?: number;
  /** Default W25Q32_FLASH_ID (4 MiB). */
  flashId?: number;
}

const OP = {
  FLASH_BEGIN: 0x02,
  FLASH_DATA: 0x03,
  FLASH_END: 0x04,
  MEM_BEGIN: 0x05,
  MEM_END: 0x06,
  MEM_DATA: 0x07,
  SYNC: 0x08,
  WRITE_REG: 0x09,
  READ_REG: 0x0a,
  SPI_SET_PARAMS: 0x0b,
  SPI_ATTACH: 0x0d,
  CHANGE_BAUDRATE: 0x0f,
  FLASH_DEFL_BEGIN: 0x10,
  FLASH_DEFL_DATA: 0x11,
  FLASH_DEFL_END: 0x12,
  SPI_FLASH_MD5: 0x13,
  GET_SECURITY_INFO: 0x14,
  ERASE_FLASH: 0xd0,
  ERASE_REGION: 0xd1,
  READ_FLASH: 0xd2,
  RUN_USER_CODE: 0xd3,
} as const;

const OP_NAMES = new Map<number, string>(Object.entries(OP).map(([name, op]) => [op, name]));

/** What the ESP8266 ROM loader understands; everything else is the stub's. */
const ROM_OPS = new Set<number>([OP.FLASH_BEGIN, OP.FLASH_DATA, OP.FLASH_END, OP.MEM_BEGIN, OP.MEM_END, OP.MEM_DATA, OP.SYNC, OP.WRITE_REG, OP.READ_REG]);
const STUB_OPS = new Set<number>([...ROM_OPS, OP.SPI_SET_PARAMS, OP.SPI_ATTACH, OP.CHANGE_BAUDRATE, OP.FLASH_DEFL_BEGIN, OP.FLASH_DEFL_DATA, OP.FLASH_DEFL_END, OP.SPI_FLASH_MD5, OP.ERASE_FLASH, OP.ERASE_REGION, OP.RUN_USER_CODE]);

/** ROM loader error codes (esptool docs) and the stub's 0xC* codes (flasher_stub/include/stub_flasher.h). */
const ROM_ERROR = { invalidMessage: 0x05, failedToAct: 0x06, badChecksum: 0x07 } as const;
const STUB_ERROR = {
  badDataLen: 0xc0,
  badChecksum: 0xc1,
  failedSpiOp: 0xc4,
  notInFlashMode: 0xc6,
  inflateError: 0xc7,
  tooMuchData: 0xc9,
  notImplemented: 0xff,
} as const;

const CHECKSUM_SEED = 0xef;
const SECTOR = 4096;
const SYNC_PAYLOAD = Buffer.concat([Buffer.from([0x07, 0x07, 0x12, 0x20]), Buffer.alloc(32, 0x55)]);
/** The ROM answers a SYNC eight times, with a non-zero value (the stub answers once, with 0). */
const ROM_SYNC_REPLIES = 8;
const ROM_SYNC_VALUE = 0x20120707;

const REG = {
  chipMagic: 0x40001000,
  efuse0: 0x3ff00050,
  uartClkdiv: 0x60000014,
  spiBase: 0x60000200,
} as const;
const SPI_CMD_USR = 1 << 18;
const SPIFLASH_RDID = 0x9f;

interface Download {
  kind: "mem" | "flash" | "deflate";
  offset: number;
  /** MEM/FLASH: bytes announced; DEFL: uncompressed bytes to write. */
  size: number;
  blockSize: number;
  nextSeq: number;
  /** Bytes put into flash/RAM so far (uncompressed). */
  written: number;
  compressed: Buffer[];
}

function macBytes(text: string): number[] {
  const parts = text.split(":").map((p) => Number.parseInt(p, 16));
  if (parts.length !== 6 || parts.some((b) => !Number.isInteger(b) || b < 0 || b > 255)) {
    throw new Error(`fake ROM: MAC ${text}: give six hex bytes, e.g. 18:fe:34:a1:b2:c3`);
  }
  return parts;
}

export class FakeEsp8266Rom {
  readonly flash: Buffer;
  /** Names of the commands received, in order. */
  readonly commands: string[] = [];
  /** Baud rates the host asked for with CHANGE_BAUDRATE. */
  readonly baudChanges: number[] = [];
  stubRunning = false;
  /** Set by RUN_USER_CODE: the "chip" left the loader and answers nothing more. */
  runningUserCode = false;
  private readonly registers = new Map<number, number>();
  private readonly decoder = new SlipDecoder();
  private download: Download | undefined = undefined;
  private corrupted = false;

  private constructor(
    private readonly pty: Pty,
    private readonly options: FakeRomOptions,
  ) {
    this.flash = Buffer.alloc(options.flashBytes ?? 4 * 1024 * 1024, 0xff);
    this.initRegisters();
    pty.on("data", (bytes) => {
      for (const packet of this.decoder.push(bytes)) {
        this.handle(packet);
      }
    });
  }

  /** Serve the fake at `path` (a symlink to a new pty, which the flasher opens). */
  static async start(path: string, options: FakeRomOptions = {}): Promise<FakeEsp8266Rom> {
    // baud 0: no pacing; replies are small, the big traffic flows towards us.
    const pty = await Pty.open(path, { baud: 0, maxBufferedBytes: 1 << 20 });
    return new FakeEsp8266Rom(pty, options);
  }

  get path(): string {
    return this.pty.path;
  }

  async close(): Promise<void> {
    await this.pty.close();
  }

  private initRegisters(): void {
    const mac = macBytes(this.options.mac ?? "18:fe:34:a1:b2:c3");
    const oui = (mac[0]! << 16) | (mac[1]! << 8) | mac[2]!;
    // esptool's ESP8266 readMac: OUI 18:fe:34 / ac:d0:74 coded as 0 / 1 in efuse1 bits 16-23, else the OUI in efuse3.
    const ouiIndex = oui === 0x18fe34 ? 0 : oui === 0xacd074 ? 1 : 0;
    const efuse3 = oui === 0x18fe34 || oui === 0xacd074 ? 0 : oui;
    this.registers.set(REG.chipMagic, this.options.chipMagic ?? ESP8266_MAGIC);
    this.registers.set(REG.efuse0, (mac[5]! << 24) >>> 0); // bit 4 clear: an ESP8266EX, not an ESP8285
    this.registers.set(REG.efuse0 + 4, (ouiIndex << 16) | (mac[3]! << 8) | mac[4]!);
    this.registers.set(REG.efuse0 + 8, 0);
    this.registers.set(REG.efuse0 + 12, efuse3);
    // 26 MHz crystal: the ROM's UART divider at 115200 baud is 52 MHz / 115200.
    this.registers.set(REG.uartClkdiv, Math.round(52_000_000 / 115200));
  }

  private handle(packet: Buffer): void {
    if (packet.length < 8 || packet[0] !== 0x00 || this.options.silent === true || this.runningUserCode) {
      return;
    }
    const op = packet[1]!;
    const size = packet.readUInt16LE(2);
    const checksum = packet.readUInt32LE(4);
    const data = packet.subarray(8);
    this.commands.push(OP_NAMES.get(op) ?? `0x${op.toString(16)}`);
    if (data.length !== size) {
      this.fail(op, ROM_ERROR.invalidMessage, STUB_ERROR.badDataLen);
      return;
    }
    if (!(this.stubRunning ? STUB_OPS : ROM_OPS).has(op)) {
      this.unsupported(op);
      return;
    }
    switch (op) {
      case OP.SYNC:
        return this.sync(data);
      case OP.READ_REG:
        return this.reply(op, this.registers.get(data.readUInt32LE(0)) ?? 0);
      case OP.WRITE_REG:
        return this.writeRegisters(op, data);
      case OP.MEM_BEGIN:
      case OP.FLASH_BEGIN:
      case OP.FLASH_DEFL_BEGIN:
        return this.begin(op, data);
      case OP.MEM_DATA:
      case OP.FLASH_DATA:
      case OP.FLASH_DEFL_DATA:
        return this.block(op, data, checksum);
      case OP.MEM_END:
        return this.memEnd(op, data);
      case OP.FLASH_END:
      case OP.FLASH_DEFL_END:
        return this.flashEnd(op, data);
      case OP.SPI_ATTACH:
      case OP.SPI_SET_PARAMS:
        return this.reply(op);
      case OP.CHANGE_BAUDRATE:
        this.baudChanges.push(data.readUInt32LE(0));
        return this.reply(op);
      case OP.SPI_FLASH_MD5:
        return this.md5(op, data);
      case OP.ERASE_FLASH:
        this.flash.fill(0xff);
        return this.reply(op);
      case OP.ERASE_REGION:
        return this.eraseRegion(op, data);
      case OP.RUN_USER_CODE:
        this.runningUserCode = true; // no answer: the chip is off running the firmware
        return;
    }
  }

  private reply(op: number, value = 0, payload: Buffer = Buffer.alloc(0), status = 0, error = 0): void {
    const body = Buffer.concat([payload, Buffer.from([status, error])]);
    const header = Buffer.alloc(8);
    header[0] = 0x01;
    header[1] = op;
    header.writeUInt16LE(body.length, 2);
    header.writeUInt32LE(value >>> 0, 4);
    this.pty.write(slipEncode(Buffer.concat([header, body])));
  }

  private fail(op: number, romError: number, stubError: number): void {
    this.reply(op, 0, Buffer.alloc(0), 1, this.stubRunning ? stubError : romError);
  }

  /**
   * The stub answers an unknown command with its own op and error 0xFF. The
   * ROM's "invalid message" answer does not carry the request's op, which
   * is how esptool tells "unsupported" from "failed" (esptool.py: "Unsupported
   * Command Error: ESP8266/ESP32 ROM"); we send op 0.
   */
  private unsupported(op: number): void {
    if (this.stubRunning) {
      this.reply(op, 0, Buffer.alloc(0), 1, STUB_ERROR.notImplemented);
    } else {
      this.reply(0x00, 0, Buffer.alloc(0), 1, ROM_ERROR.invalidMessage);
    }
  }

  private sync(data: Buffer): void {
    if (!data.equals(SYNC_PAYLOAD)) {
      return; // not a sync pattern: the ROM stays quiet
    }
    if (this.stubRunning) {
      this.reply(OP.SYNC, 0);
      return;
    }
    for (let i = 0; i < ROM_SYNC_REPLIES; i++) {
      this.reply(OP.SYNC, ROM_SYNC_VALUE);
    }
  }

  private writeRegisters(op: number, data: Buffer): void {
    // One or more (address, value, mask, delay) quadruples.
    if (data.length === 0 || data.length % 16 !== 0) {
      this.fail(op, ROM_ERROR.invalidMessage, STUB_ERROR.badDataLen);
      return;
    }
    for (let i = 0; i < data.length; i += 16) {
      const address = data.readUInt32LE(i);
      const value = data.readUInt32LE(i + 4);
      const mask = data.readUInt32LE(i + 8);
      const old = this.registers.get(address) ?? 0;
      this.registers.set(address, ((old & ~mask) | (value & mask)) >>> 0);
      if (address === REG.spiBase) {
        this.runSpiCommand();
      }
    }
    this.reply(op);
  }

  /** The SPI controller's "user command": only RDID (read JEDEC id) matters to esptool. */
  private runSpiCommand(): void {
    const cmd = this.registers.get(REG.spiBase) ?? 0;
    if ((cmd & SPI_CMD_USR) === 0) {
      return;
    }
    const usr2 = this.registers.get(REG.spiBase + 0x24) ?? 0;
    if ((usr2 & 0xff) === SPIFLASH_RDID) {
      this.registers.set(REG.spiBase + 0x40, this.options.flashId ?? W25Q32_FLASH_ID);
    }
    this.registers.set(REG.spiBase, (cmd & ~SPI_CMD_USR) >>> 0); // done
  }

  private begin(op: number, data: Buffer): void {
    if (data.length < 16) {
      this.fail(op, ROM_ERROR.invalidMessage, STUB_ERROR.badDataLen);
      return;
    }
    const size = data.readUInt32LE(0);
    const blockSize = data.readUInt32LE(8);
    const offset = data.readUInt32LE(12);
    const kind = op === OP.MEM_BEGIN ? "mem" : op === OP.FLASH_BEGIN ? "flash" : "deflate";
    if (kind !== "mem") {
      if (offset + size > this.flash.length) {
        this.fail(op, ROM_ERROR.failedToAct, STUB_ERROR.failedSpiOp);
        return;
      }
      // The ROM erases at FLASH_BEGIN, the stub just in time; either way the sectors written are erased first.
      const start = Math.floor(offset / SECTOR) * SECTOR;
      const end = Math.min(this.flash.length, Math.ceil((offset + size) / SECTOR) * SECTOR);
      this.flash.fill(0xff, start, end);
    }
    this.download = { kind, offset, size, blockSize, nextSeq: 0, written: 0, compressed: [] };
    this.reply(op);
  }

  private block(op: number, data: Buffer, checksum: number): void {
    const expected = op === OP.MEM_DATA ? "mem" : op === OP.FLASH_DATA ? "flash" : "deflate";
    const download = this.download;
    if (download === undefined || download.kind !== expected) {
      this.fail(op, ROM_ERROR.failedToAct, STUB_ERROR.notInFlashMode);
      return;
    }
    const length = data.readUInt32LE(0);
    const seq = data.readUInt32LE(4);
    const payload = data.subarray(16);
    if (payload.length !== length || seq !== download.nextSeq) {
      this.fail(op, ROM_ERROR.invalidMessage, STUB_ERROR.badDataLen);
      return;
    }
    let sum = CHECKSUM_SEED;
    for (const byte of payload) {
      sum ^= byte;
    }
    if (sum !== (checksum & 0xff)) {
      this.fail(op, ROM_ERROR.badChecksum, STUB_ERROR.badChecksum);
      return;
    }
    download.nextSeq++;
    if (download.kind === "mem") {
      download.written += payload.length; // the stub's code is not run; only its arrival counts
      this.reply(op);
      return;
    }
    if (download.kind === "flash") {
      // The last block comes padded with 0xFF, which writing leaves as it is.
      this.program(download.offset + seq * download.blockSize, payload);
      this.reply(op);
      return;
    }
    download.compressed.push(payload);
    let inflated: Buffer;
    try {
      // Everything inflatable so far (a sync flush accepts a stream cut mid-way); simple, and quick enough for test images.
      inflated = inflateSync(Buffer.concat(download.compressed), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
    } catch {
      this.fail(op, ROM_ERROR.failedToAct, STUB_ERROR.inflateError);
      return;
    }
    if (inflated.length > download.size) {
      this.fail(op, ROM_ERROR.failedToAct, STUB_ERROR.tooMuchData);
      return;
    }
    this.program(download.offset + download.written, inflated.subarray(download.written));
    download.written = inflated.length;
    this.reply(op);
  }

  /** NOR flash: programming can only turn 1 bits into 0. */
  private program(address: number, bytes: Buffer): void {
    const end = Math.min(this.flash.length, address + bytes.length);
    for (let i = address; i < end; i++) {
      this.flash[i]! &= bytes[i - address]!;
    }
    if (this.options.corruptWrites === true && !this.corrupted && end > address) {
      this.corrupted = true;
      const victim = address + Math.floor((end - address) / 2);
      this.flash[victim]! ^= 0x5a;
    }
  }

  private memEnd(op: number, data: Buffer): void {
    const execute = data.length >= 8 && data.readUInt32LE(0) === 0;
    this.download = undefined;
    this.reply(op);
    if (execute && !this.stubRunning) {
      // The stub announces itself with the protocol's only unsolicited packet.
      this.stubRunning = true;
      this.pty.write(slipEncode(Buffer.from("OHAI", "latin1")));
    }
  }

  private flashEnd(op: number, data: Buffer): void {
    this.download = undefined;
    this.reply(op);
    // 0 = reboot: the stub is gone and (GPIO0 still low here) the ROM loader runs again.
    if (data.length >= 4 && data.readUInt32LE(0) === 0) {
      this.stubRunning = false;
    }
  }

  private md5(op: number, data: Buffer): void {
    const address = data.readUInt32LE(0);
    const size = data.readUInt32LE(4);
    if (address + size > this.flash.length) {
      this.fail(op, ROM_ERROR.failedToAct, STUB_ERROR.failedSpiOp);
      return;
    }
    // The stub sends 16 raw bytes (the ROM would send 32 hex characters, but the ESP8266 ROM lacks this command).
    const digest = createHash("md5").update(this.flash.subarray(address, address + size)).digest();
    this.reply(op, 0, digest);
  }

  private eraseRegion(op: number, data: Buffer): void {
    const offset = data.readUInt32LE(0);
    const size = data.readUInt32LE(4);
    if (offset % SECTOR !== 0 || size % SECTOR !== 0 || offset + size > this.flash.length) {
      this.fail(op, ROM_ERROR.invalidMessage, STUB_ERROR.badDataLen);
      return;
    }
    this.flash.fill(0xff, offset, offset + size);
    this.reply(op);
  }
}
