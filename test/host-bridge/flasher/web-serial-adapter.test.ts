/**
 * The Web Serial look-alike on a real pseudo-terminal (socat), with a Pty
 * from device/pty.ts as the far end, and driven by esptool-js's own
 * Transport where that matters (SLIP reads, baud change by reopening).
 */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Pty } from "../../../device/pty";
import { QuietTransport } from "../../../host-bridge/flasher/esptool-node";
import { SerialOpenError, WebSerialAdapter } from "../../../host-bridge/flasher/web-serial-adapter";
import { slipEncode } from "./slip";
import { tempDir, waitFor } from "./support";

let dir: string;
let far: Pty;
let farReceived: Buffer;
let adapter: WebSerialAdapter;
let logged: string[];

beforeEach(async () => {
  dir = tempDir("web-serial");
  far = await Pty.open(join(dir, "tty"), { baud: 0 });
  farReceived = Buffer.alloc(0);
  far.on("data", (d) => (farReceived = Buffer.concat([farReceived, d])));
  logged = [];
  adapter = new WebSerialAdapter(far.path, (line) => logged.push(line));
});

afterEach(async () => {
  await adapter.close();
  await far.close();
  rmSync(dir, { recursive: true, force: true });
});

async function write(bytes: Buffer): Promise<void> {
  const writer = adapter.writable!.getWriter();
  await writer.write(new Uint8Array(bytes));
  writer.releaseLock();
}

/** Read until `count` bytes arrived, taking a fresh reader per chunk as esptool-js does. */
async function read(count: number): Promise<Buffer> {
  let got = Buffer.alloc(0);
  while (got.length < count) {
    const reader = adapter.readable!.getReader();
    const { value, done } = await reader.read();
    reader.releaseLock();
    if (done) {
      break;
    }
    got = Buffer.concat([got, Buffer.from(value)]);
  }
  return got;
}

describe("WebSerialAdapter", () => {
  it("has no streams until opened, and carries bytes both ways once open", async () => {
    expect(adapter.readable).toBeNull();
    expect(adapter.writable).toBeNull();
    await adapter.open({ baudRate: 115200 });
    await write(Buffer.from("to the chip"));
    await waitFor("bytes at the far end", () => farReceived.toString() === "to the chip");
    far.write(Buffer.from("from the chip"));
    expect((await read(13)).toString()).toBe("from the chip");
  });

  it("keeps bytes that arrive between readers, and after a cancelled reader", async () => {
    await adapter.open({ baudRate: 115200 });
    const first = adapter.readable!;
    const reader = first.getReader();
    const pending = reader.read();
    await reader.cancel();
    expect((await pending).done).toBe(true);
    reader.releaseLock();
    far.write(Buffer.from("later"));
    const fresh = adapter.readable!;
    expect(fresh).not.toBe(first);
    expect((await read(5)).toString()).toBe("later");
  });

  it("changes speed in place and survives a close and reopen at another speed", async () => {
    await adapter.open({ baudRate: 115200 });
    await adapter.setBaudRate(460800);
    await write(Buffer.from("a"));
    // Wait before closing: a pty discards what socat has not relayed yet when its last user hangs up.
    await waitFor("the first byte at the far end", () => farReceived.toString() === "a");
    await adapter.close();
    expect(adapter.readable).toBeNull();
    await adapter.open({ baudRate: 921600 });
    await write(Buffer.from("b"));
    await waitFor("both bytes at the far end", () => farReceived.toString() === "ab");
    far.write(Buffer.from("ok"));
    expect((await read(2)).toString()).toBe("ok");
  });

  it("tolerates a port without DTR/RTS and warns once", async () => {
    await adapter.open({ baudRate: 115200 });
    await adapter.setSignals({ dataTerminalReady: false, requestToSend: true });
    await adapter.setSignals({ requestToSend: false });
    expect(adapter.resetLinesWork).toBe(false);
    expect(logged.filter((l) => /reset lines unavailable/.test(l))).toHaveLength(1);
    expect(logged[0]).toMatch(/^warning: cannot drive DTR\/RTS on .*hold FLASH \(GPIO0\)/);
  });

  it("says why opening failed", async () => {
    const missing = new WebSerialAdapter(join(dir, "ttyUSB7"));
    const notTty = new WebSerialAdapter(join(dir, "plain-file"));
    writeFileSync(join(dir, "plain-file"), "x");
    const failure = async (a: WebSerialAdapter): Promise<string> => {
      const error = await a.open({ baudRate: 115200 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(SerialOpenError);
      return (error as SerialOpenError).failure;
    };
    expect(await failure(missing)).toBe("no-such-port");
    expect(await failure(notTty)).toBe("not-a-serial-port");
  });

  it("serves esptool-js's Transport: SLIP packets in, and a baud change by reopening the port", async () => {
    // Hide setBaudRate so Transport falls back to close + open at the new speed.
    Object.defineProperty(adapter, "setBaudRate", { value: undefined });
    const transport = new QuietTransport(adapter, () => {});
    await transport.connect(115200);
    void transport.readLoop();
    far.write(slipEncode(Buffer.from([1, 2, 0xc0, 0xdb, 3])));
    expect(Buffer.from(await transport.read(5000))).toEqual(Buffer.from([1, 2, 0xc0, 0xdb, 3]));

    expect(await transport.changeBaudrate(460800)).toBe(true); // reopened
    expect(transport.baudrate).toBe(460800);
    await transport.write(new Uint8Array([0x42]));
    await waitFor("a SLIP frame at the far end", () => farReceived.equals(Buffer.from([0xc0, 0x42, 0xc0])));
    far.write(slipEncode(Buffer.from("after")));
    expect(Buffer.from(await transport.read(5000)).toString()).toBe("after");
    await transport.disconnect();
    expect(adapter.isOpen).toBe(false);
  });
});
