/**
 * The prompt protocol against a scripted NodeMCU behind serialport's
 * MockBinding: echo and prompt handling, line limits, pipelining within the
 * RX window, echo mismatches, silent boards, Lua errors, resync from `>>`.
 */
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import {
  DEFAULT_WINDOW_BYTES,
  DeviceLuaError,
  DeviceNotAnsweringError,
  EchoMismatchError,
  MAX_LUA_LINE,
  NodeMcuRepl,
} from "../../../host-bridge/uploader/repl";
import { UploadError, Uploader } from "../../../host-bridge/uploader/uploader";
import { FileSystemFullError } from "../../../host-bridge/uploader/uploader";
import { ScriptedRepl } from "./support/scripted-repl";

const open: ScriptedRepl[] = [];

async function board(opts: Parameters<typeof ScriptedRepl.open>[0] = {}): Promise<ScriptedRepl> {
  const b = await ScriptedRepl.open(opts);
  open.push(b);
  return b;
}

afterEach(async () => {
  for (const b of open.splice(0)) {
    await b.close();
  }
  ScriptedRepl.reset();
});

describe("NodeMcuRepl over a scripted prompt", () => {
  it("returns what a line printed, without echo or prompt, and logs unrelated output", async () => {
    const b = await board();
    const logged: string[] = [];
    const repl = await NodeMcuRepl.attach(b.port, { log: (l) => logged.push(l) });
    b.answer = (line) => (line === "print(node.heap())" ? "40123" : undefined);
    b.say("app: sample 17\r\n");
    expect(await repl.exec("print(node.heap())")).toBe("40123");
    expect(await repl.exec("print(1+1)")).toBe("2");
    expect(logged).toContain("app: sample 17");
  });

  it("turns a Lua error reply into DeviceLuaError with the device's message", async () => {
    const b = await board();
    const repl = await NodeMcuRepl.attach(b.port);
    b.answer = (line) => (line === "foo()" ? "stdin:1: attempt to call global 'foo' (a nil value)" : undefined);
    const err = await repl.exec("foo()").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceLuaError);
    expect((err as DeviceLuaError).deviceMessage).toBe("stdin:1: attempt to call global 'foo' (a nil value)");
    // the prompt is still in step
    expect(await repl.exec("print(1+1)")).toBe("2");
  });

  it("detects an echo that differs from the line sent", async () => {
    const b = await board();
    const repl = await NodeMcuRepl.attach(b.port);
    b.echoOf = (line) => line.replace("1+1", "1+3");
    const err = await repl.exec("print(1+1)").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EchoMismatchError);
    expect((err as Error).message).toContain("1+3");
  });

  it("gives DeviceNotAnsweringError with advice when the board is silent", async () => {
    const b = await board();
    b.silent = true;
    const err = await NodeMcuRepl.attach(b.port, { timeoutMs: 150 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceNotAnsweringError);
    expect((err as Error).message).toMatch(/baud rate.*115200.*flash mode.*charge-only/);
  });

  it("times out on a line the board never answers", async () => {
    const b = await board();
    const repl = await NodeMcuRepl.attach(b.port, { timeoutMs: 200 });
    b.silent = true;
    await expect(repl.exec("print(1+1)")).rejects.toBeInstanceOf(DeviceNotAnsweringError);
  });

  it("resynchronises with a board left in the `>>` state of an unfinished chunk", async () => {
    const b = await board({ pendingChunk: true });
    b.say("\r\n>> ");
    const repl = await NodeMcuRepl.attach(b.port, { timeoutMs: 1000 });
    expect(await repl.exec("print(1+1)")).toBe("2");
    expect(b.lines[0]).toMatch(/^\]\]/);
  });

  it("refuses lines the board would cut", async () => {
    const b = await board();
    const repl = await NodeMcuRepl.attach(b.port);
    await expect(repl.exec("x=" + "1".repeat(MAX_LUA_LINE))).rejects.toThrow(/cuts input lines/);
    await expect(repl.exec("a=1\nb=2")).rejects.toThrow(/line ends/);
  });
});

describe("Uploader over a scripted prompt", () => {
  for (const encoder of [true, false]) {
    it(`sends ${encoder ? "base64" : "hex"} lines within the limit, pipelined within the RX window`, async () => {
      const b = await board({ encoder });
      const uploader = new Uploader(await NodeMcuRepl.attach(b.port));
      const data = randomBytes(5000);
      const progress: number[] = [];
      const result = await uploader.upload([{ name: "blob.bin", data }], { onProgress: (p) => progress.push(p.bytes) });
      expect(result.verified).toBe("sha256");
      expect(b.files.get("blob.bin")?.equals(data)).toBe(true);
      expect([...b.files.keys()]).toEqual(["blob.bin"]); // no staged file, no switch list left
      const dataLines = b.lines.filter((l) => l.startsWith("__uw"));
      expect(dataLines.length).toBeGreaterThan(10);
      for (const line of b.lines) {
        expect(line.length).toBeLessThan(MAX_LUA_LINE);
      }
      // more than one line waited at the board at some point, never more than the window
      expect(b.maxQueuedBytes).toBeGreaterThan(MAX_LUA_LINE);
      expect(b.maxQueuedBytes).toBeLessThanOrEqual(DEFAULT_WINDOW_BYTES);
      expect(progress.at(-1)).toBe(data.length);
    });
  }

  it("verifies by size only when the build has no crypto", async () => {
    const b = await board({ crypto: false });
    const uploader = new Uploader(await NodeMcuRepl.attach(b.port));
    const result = await uploader.upload([{ name: "a.lua", data: Buffer.from("print(1)\n") }]);
    expect(result.verified).toBe("size");
  });

  it("keeps the old file when the hash on the board differs, and says so", async () => {
    const b = await board();
    b.files.set("a.lua", Buffer.from("old"));
    b.answer = (line) => (line.includes("__uv(") ? `ESPFLEET_VERIFY\t9\tF\t${"0".repeat(64)}` : undefined);
    const uploader = new Uploader(await NodeMcuRepl.attach(b.port));
    const err = await uploader.upload([{ name: "a.lua", data: Buffer.from("print(1)\n") }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UploadError);
    expect((err as Error).message).toMatch(/a\.lua.*SHA-256.*old files on the device are untouched/);
    expect(b.files.get("a.lua")?.toString()).toBe("old");
  });

  it("stops at a garbled echo in the middle of a file; the old file stays", async () => {
    const b = await board();
    b.files.set("big.bin", Buffer.from("old"));
    let dataLines = 0;
    b.echoOf = (line) => (line.startsWith("__uw") && ++dataLines === 5 ? line.replace(/"(.)/, '"#') : line);
    const uploader = new Uploader(await NodeMcuRepl.attach(b.port));
    const err = await uploader.upload([{ name: "big.bin", data: randomBytes(4000) }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UploadError);
    expect((err as Error).cause).toBeInstanceOf(EchoMismatchError);
    expect(b.files.get("big.bin")?.toString()).toBe("old");
  });

  it("refuses a file larger than the free space before writing anything", async () => {
    const b = await board({ freeBytes: 1000 });
    const uploader = new Uploader(await NodeMcuRepl.attach(b.port));
    await expect(uploader.upload([{ name: "big.bin", data: randomBytes(4000) }])).rejects.toBeInstanceOf(FileSystemFullError);
    expect(b.lines.some((l) => l.startsWith("__uw"))).toBe(false);
  });
});
