/**
 * The uploader against a virtual ESP8266 over a real pseudo-terminal:
 * the built firmware lands byte for byte; an upload cut in the middle, a
 * line garbled on the wire, and data corrupted on the device's side all
 * leave the old files in place, and a second run succeeds.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openSerialPort } from "../../../host-bridge/serial/open-port";
import { DEFAULT_DIST_DIR, DEVICE_FILES } from "../../../host-bridge/uploader/dist-files";
import { EchoMismatchError, NodeMcuRepl } from "../../../host-bridge/uploader/repl";
import { TEMP_NAME } from "../../../host-bridge/uploader/upload-lua";
import { UploadError, Uploader, type UploadFile } from "../../../host-bridge/uploader/uploader";
import { VirtualBoard } from "./support/virtual-board";

const boards: VirtualBoard[] = [];
const repls: NodeMcuRepl[] = [];

async function boardWith(files: Record<string, Buffer | string>): Promise<VirtualBoard> {
  const board = await VirtualBoard.start({}, files);
  boards.push(board);
  return board;
}

async function connect(board: VirtualBoard): Promise<{ repl: NodeMcuRepl; uploader: Uploader }> {
  const port = await openSerialPort(board.link, 115200);
  const repl = await NodeMcuRepl.attach(port, { timeoutMs: 5000 });
  repls.push(repl);
  return { repl, uploader: new Uploader(repl) };
}

afterEach(async () => {
  for (const r of repls.splice(0)) {
    await r.close();
  }
  for (const b of boards.splice(0)) {
    await b.stop();
  }
});

const OLD = { "app.lua": "print('old app')\n", "cfg.lua": "return {old=true}\n" };
const NEW: UploadFile[] = [
  { name: "app.lua", data: Buffer.concat([Buffer.from("-- new app\n"), randomBytes(6000)]) },
  { name: "cfg.lua", data: Buffer.concat([Buffer.from("-- new cfg\n"), randomBytes(3000)]) },
];

function expectOldFiles(board: VirtualBoard): void {
  for (const [name, text] of Object.entries(OLD)) {
    expect(board.file(name).toString()).toBe(text);
  }
}

function expectNewFiles(board: VirtualBoard): void {
  for (const f of NEW) {
    expect(board.file(f.name).equals(f.data)).toBe(true);
  }
  expect(existsSync(join(board.fsDir, TEMP_NAME))).toBe(false);
}

describe("upload to a virtual ESP8266 over a pty", () => {
  it("puts the built firmware on the device byte for byte, verified by SHA-256", { timeout: 60_000 }, async () => {
    if (!existsSync(join(DEFAULT_DIST_DIR, "init.lua"))) {
      throw new Error("firmware/dist is missing: run `npm run build:firmware` first");
    }
    const board = await boardWith({});
    const { uploader } = await connect(board);
    const files = DEVICE_FILES.map((name) => ({ name, data: readFileSync(join(DEFAULT_DIST_DIR, name)) }));
    const result = await uploader.upload(files);
    expect(result.verified).toBe("sha256");
    expect(result.bytes).toBe(files.reduce((n, f) => n + f.data.length, 0));
    for (const f of files) {
      expect(board.file(f.name).equals(f.data), f.name).toBe(true);
    }
    const listed = await uploader.list();
    expect(listed).toEqual(files.map((f) => ({ name: f.name, size: f.data.length })).sort((a, b) => a.name.localeCompare(b.name)));
  });

  it("an upload cut in the middle (port closed) leaves the old files; the next run succeeds", { timeout: 60_000 }, async () => {
    const board = await boardWith(OLD);
    const first = await connect(board);
    const cut = first.uploader.upload(NEW, {
      onProgress: (p) => {
        if (p.file === "app.lua" && p.fileBytes > p.fileTotal / 2 && first.repl.port.isOpen) {
          first.repl.port.close();
        }
      },
    });
    const err = await cut.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UploadError);
    expect((err as Error).message).toMatch(/app\.lua.*old app\.lua on the device is untouched/);
    expectOldFiles(board);
    expect(existsSync(join(board.fsDir, TEMP_NAME))).toBe(true); // the half-written temp file

    const second = await connect(board);
    await second.uploader.upload(NEW);
    expectNewFiles(board);
  });

  it("a bit flipped on the wire is caught by the echo check; the old file stays", { timeout: 60_000 }, async () => {
    const board = await boardWith(OLD);
    let flipped = false;
    board.wire.toDevice = (bytes) => {
      const text = bytes.toString("latin1");
      const at = text.indexOf('__uw"');
      if (!flipped && at >= 0 && at + 10 < bytes.length) {
        flipped = true;
        const copy = Buffer.from(bytes);
        copy[at + 10] = (copy[at + 10] as number) ^ 0x01;
        return copy;
      }
      return bytes;
    };
    const { uploader } = await connect(board);
    const err = await uploader.upload(NEW).catch((e: unknown) => e);
    expect(flipped).toBe(true);
    expect(err).toBeInstanceOf(UploadError);
    expect((err as Error).cause).toBeInstanceOf(EchoMismatchError);
    expectOldFiles(board);
    await uploader.upload(NEW); // the same session goes on
    expectNewFiles(board);
  });

  it("data corrupted on the device's side is caught by the SHA-256 check; the old file stays", { timeout: 60_000 }, async () => {
    // A device-side hook: the third write to the temp file lands with its first byte changed (a bad flash write).
    const corruptingInit =
      `local open=file.open file.open=function(n,m) local f=open(n,m) if f and n=="${TEMP_NAME}" then ` +
      `local w,c=f.write,0 f.write=function(self,s) c=c+1 if c==3 then s=(s:sub(1,1)=="A" and "B" or "A")..s:sub(2) end return w(self,s) end end return f end`;
    const board = await boardWith({ ...OLD, "init.lua": corruptingInit });
    const { uploader } = await connect(board);
    const err = await uploader.upload([NEW[0] as UploadFile]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UploadError);
    expect((err as Error).message).toMatch(/app\.lua.*verification failed.*SHA-256.*untouched/);
    expectOldFiles(board);
    expect(existsSync(join(board.fsDir, TEMP_NAME))).toBe(false);
  });
});
