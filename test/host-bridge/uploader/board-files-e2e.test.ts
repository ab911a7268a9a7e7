/**
 * The uploader's other jobs against a virtual ESP8266 over a real
 * pseudo-terminal: a full file system, list/remove/format/restart, missing
 * modules, an app printing logs during an upload, and port errors.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { VirtualDeviceOptions } from "../../../device/options";
import { openSerialPort, SerialPortError } from "../../../host-bridge/serial/open-port";
import { NodeMcuRepl } from "../../../host-bridge/uploader/repl";
import { RESERVED_PREFIX, stagedName } from "../../../host-bridge/uploader/upload-lua";
import { FileSystemFullError, Uploader } from "../../../host-bridge/uploader/uploader";
import { VirtualBoard } from "./support/virtual-board";

const boards: VirtualBoard[] = [];
const repls: NodeMcuRepl[] = [];

async function connected(options: Partial<VirtualDeviceOptions>, files: Record<string, Buffer | string>, log?: (l: string) => void) {
  const board = await VirtualBoard.start(options, files);
  boards.push(board);
  const port = await openSerialPort(board.link, 115200);
  const repl = await NodeMcuRepl.attach(port, { timeoutMs: 5000, ...(log ? { log } : {}) });
  repls.push(repl);
  return { board, repl, uploader: new Uploader(repl) };
}

afterEach(async () => {
  for (const r of repls.splice(0)) {
    await r.close();
  }
  for (const b of boards.splice(0)) {
    await b.stop();
  }
});

describe("board files over a pty", () => {
  it("a file larger than the free space gives FileSystemFullError; the old file stays", { timeout: 60_000 }, async () => {
    const { board, uploader } = await connected({ fsTotalBytes: 8000 }, { "app.lua": "print('old')\n" });
    const info = await uploader.fsInfo();
    expect(info.total).toBe(8000);
    const err = await uploader.upload([{ name: "app.lua", data: randomBytes(9000) }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileSystemFullError);
    expect((err as Error).message).toMatch(/app\.lua.*full.*espfleet remove.*untouched/);
    expect(board.file("app.lua").toString()).toBe("print('old')\n");
  });

  it("a write the flash refuses mid-file gives FileSystemFullError and removes the staged file", { timeout: 60_000 }, async () => {
    // A device-side hook: the fifth write to the staged file is refused, as on a full SPIFFS.
    const refusingInit =
      `local open=file.open file.open=function(n,m) local f=open(n,m) if f and n=="${stagedName(1)}" then ` +
      `local w,c=f.write,0 f.write=function(self,s) c=c+1 if c>=5 then return nil end return w(self,s) end end return f end`;
    const { board, uploader } = await connected({}, { "app.lua": "print('old')\n", "init.lua": refusingInit });
    await expect(uploader.upload([{ name: "app.lua", data: randomBytes(5000) }])).rejects.toBeInstanceOf(FileSystemFullError);
    expect(board.file("app.lua").toString()).toBe("print('old')\n");
    expect(readdirSync(board.fsDir).filter((n) => n.startsWith(RESERVED_PREFIX))).toEqual([]);
  });

  it("lists, removes, formats; fsinfo adds up", { timeout: 60_000 }, async () => {
    const { board, uploader } = await connected({}, { "a.lua": "x=1\n", "b.txt": "hello" });
    expect(await uploader.list()).toEqual([
      { name: "a.lua", size: 4 },
      { name: "b.txt", size: 5 },
    ]);
    await uploader.remove("a.lua");
    expect(existsSync(join(board.fsDir, "a.lua"))).toBe(false);
    await expect(uploader.remove("a.lua")).rejects.toThrow(/not on the device/);
    const info = await uploader.fsInfo();
    expect(info.used).toBe(5);
    expect(info.remaining + info.used).toBe(info.total);
    await uploader.format();
    expect(readdirSync(board.fsDir)).toEqual([]);
    expect(await uploader.list()).toEqual([]);
  });

  it("restart: the board reboots, forgets its Lua state, and uploads work after it", { timeout: 60_000 }, async () => {
    const { board, repl, uploader } = await connected({}, {});
    await repl.exec("espfleet_marker = 42");
    await uploader.upload([{ name: "one.txt", data: Buffer.from("one") }]);
    await uploader.restart();
    expect(board.console.match(/NodeMCU 3\.0\.0\.0/g)?.length).toBe(2);
    expect(await repl.exec("print(espfleet_marker)")).toBe("nil");
    await uploader.upload([{ name: "two.txt", data: Buffer.from("two") }]); // helpers sent again
    expect(board.file("two.txt").toString()).toBe("two");
  });

  it("--compile turns uploaded .lua files (not init.lua) into .lc files that run", { timeout: 60_000 }, async () => {
    const { board, repl, uploader } = await connected({}, {});
    await uploader.upload(
      [
        { name: "lib.lua", data: Buffer.from("return function(x) return x * 6 end\n") },
        { name: "init.lua", data: Buffer.from("-- boot\n") },
      ],
      { compile: true },
    );
    expect(existsSync(join(board.fsDir, "lib.lc"))).toBe(true);
    expect(existsSync(join(board.fsDir, "init.lc"))).toBe(false);
    expect(board.file("lib.lc")[0]).toBe(0x1b); // a Lua binary chunk
    expect(await repl.exec('print(dofile("lib.lc")(7))')).toBe("42");
  });

  it("names the modules the build lacks", { timeout: 60_000 }, async () => {
    const { uploader } = await connected({ modules: ["file", "node", "tmr", "uart"] }, {});
    expect(await uploader.missingModules(["file", "mqtt", "node", "sjson", "wifi"])).toEqual(["mqtt", "sjson", "wifi"]);
    // no encoder, no crypto: hex lines, size check
    const result = await uploader.upload([{ name: "x.bin", data: randomBytes(700) }]);
    expect(result.verified).toBe("size");
  });

  it("uploads while an app prints logs, and passes them to the log", { timeout: 60_000 }, async () => {
    const noisyInit = `t=tmr.create() t:alarm(30, tmr.ALARM_AUTO, function() print("app: tick " .. tmr.now()) end)`;
    const logged: string[] = [];
    const { board, uploader } = await connected({}, { "init.lua": noisyInit }, (l) => logged.push(l));
    const data = randomBytes(8000);
    await uploader.upload([{ name: "data.bin", data }]);
    expect(board.file("data.bin").equals(data)).toBe(true);
    expect(logged.some((l) => l.startsWith("app: tick"))).toBe(true);
  });
});

describe("opening ports", () => {
  it("a missing port says to plug the board in", async () => {
    const err = await openSerialPort("/dev/ttyUSB-espfleet-missing", 115200).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SerialPortError);
    expect((err as Error).message).toMatch(/no such port .*plug the board in/);
  });

  it("a port another program holds says it is in use", { timeout: 30_000 }, async () => {
    const board = await VirtualBoard.start({}, {});
    boards.push(board);
    const first = await openSerialPort(board.link, 115200);
    try {
      const err = await openSerialPort(board.link, 115200).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SerialPortError);
      expect((err as Error).message).toMatch(/in use by another program/);
    } finally {
      await new Promise<void>((r) => first.close(() => r()));
    }
  });
});
