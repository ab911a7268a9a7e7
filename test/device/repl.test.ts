/**
 * The NodeMCU console of a virtual device, over its real pseudo-terminal:
 * banner, echo, prompts, incomplete chunks, errors, the 256-character line
 * limit, one Lua environment per boot, restart and reset.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Pty } from "../../device/pty";
import { VirtualDevice } from "../../device/virtual-device";
import { ConsoleDevice, PortClient, removeDir, tempDir } from "./support/harness";

describe("virtual device console over a pty", () => {
  let dir: string;
  let device: VirtualDevice;
  let pty: Pty;
  let port: PortClient;
  const link = `/tmp/espfleet-test-tty-${process.pid}`;

  beforeAll(async () => {
    dir = tempDir("repl");
    writeFileSync(join(dir, "init.lua"), 'print("init ran"); boots = (boots or 0) + 1');
    device = new VirtualDevice({ fsDir: dir, id: "repl-test" });
    pty = await Pty.open(link, { baud: 115200 });
    device.on("tx", (b) => pty.write(b));
    pty.on("data", (b) => device.write(b));
    device.start();
    port = new PortClient(link);
  });

  afterAll(async () => {
    port.close();
    device.stop();
    await pty.close();
    removeDir(dir);
  });

  it("boots with a NodeMCU 3.x banner, runs init.lua, then prompts", async () => {
    await port.expect(/NodeMCU 3\.0\.0\.0[^\r\n]*\r\n(\t[^\r\n]*\r\n)+ build [^\r\n]* powered by Lua 5\.1\.4 on SDK [^\r\n]*\r\ninit ran\r\n> $/);
    expect(port.received).toContain("\tmodules: adc,bit,crypto,dht,encoder,file,mqtt,node,rtcmem,rtctime,sjson,sntp,tls,tmr,uart,wifi\r\n");
  });

  it("echoes every character and ends lines with \\r\\n; '=' prints the value", async () => {
    expect(await port.line("=1+1")).toBe("=1+1\r\n2\r\n> ");
    // CR LF is one line end, not an empty line after the command
    const from = port.received.length;
    port.send("=2*3\r\n");
    await port.expect(/> $/, 5000, from);
    expect(port.received.slice(from)).toBe("=2*3\r\n6\r\n> ");
  });

  it("asks for more with '>> ' while a chunk is incomplete", async () => {
    expect(await port.line("for i = 1, 3 do")).toBe("for i = 1, 3 do\r\n>> ");
    expect(await port.line("print(i * 10)")).toBe("print(i * 10)\r\n>> ");
    expect(await port.line("end")).toBe("end\r\n10\r\n20\r\n30\r\n> ");
  });

  it("prints errors as 'Lua error: ...' and carries on", async () => {
    expect(await port.line("nosuch()")).toMatch(/^nosuch\(\)\r\nLua error: stdin:1: attempt to call global 'nosuch' \(a nil value\)\r\n/);
    expect(await port.line("x = = 1")).toMatch(/^x = = 1\r\nLua error: stdin:1: unexpected symbol near '='\r\n> $/);
    expect(await port.line("=1")).toBe("=1\r\n1\r\n> ");
  });

  it("keeps one Lua environment for the whole boot", async () => {
    await port.line("answer = 41");
    expect(await port.line("=answer + 1")).toBe("=answer + 1\r\n42\r\n> ");
    expect(await port.line("=boots")).toBe("=boots\r\n1\r\n> ");
  });

  it("cuts input lines at 256 characters (the rest is echoed but not run)", async () => {
    const head = 'v = "' + "a".repeat(249) + '" '; // exactly 256 characters
    expect(head.length).toBe(256);
    const exchange = await port.line(head + '.. "bbbbbbbbbbbbbbbbbbbb"');
    expect(exchange).toContain('.. "bbbbbbbbbbbbbbbbbbbb"\r\n'); // all of it was echoed
    expect(await port.line("=#v")).toBe("=#v\r\n249\r\n> ");
  });

  it("erases with backspace", async () => {
    expect(await port.line("=1+2\x7f3")).toBe("=1+2\b \b3\r\n4\r\n> ");
  });

  it("node.restart() reboots: banner, init.lua, a fresh Lua state", async () => {
    await port.line("keep = 'gone after restart'");
    const from = port.received.length;
    port.send("node.restart()\r");
    await port.expect(/NodeMCU 3\.0\.0\.0[\s\S]*init ran\r\n> $/, 5000, from);
    expect(await port.line("=keep, boots")).toBe("=keep, boots\r\nnil\t1\r\n> ");
    expect(await port.line("=node.bootreason()")).toBe("=node.bootreason()\r\n2\t4\r\n> ");
  });

  it("reset() from the host reboots like the reset button", async () => {
    await port.line("keep = 1");
    const from = port.received.length;
    device.reset();
    await port.expect(/NodeMCU 3\.0\.0\.0[\s\S]*init ran\r\n> $/, 5000, from);
    expect(await port.line("=keep, node.bootreason()")).toBe("=keep, node.bootreason()\r\nnil\t2\t6\r\n> ");
  });
});

describe("the emulated build", () => {
  it("can be a Lua 5.3 build, as NodeMCU offers both", async () => {
    const dir = tempDir("lua53");
    const d = new ConsoleDevice({ fsDir: dir, luaVersion: "5.3" });
    try {
      d.device.start();
      await d.expectConsole(/powered by Lua 5\.3\.5[\s\S]*> $/);
      expect(await d.type("=_VERSION, math.type(1), 7 // 2")).toContain("Lua 5.3\tinteger\t3\r\n");
      expect(await d.type("for i = 1, 2 do")).toBe("for i = 1, 2 do\r\n>> ");
      expect(await d.type("print(i)")).toBe("print(i)\r\n>> ");
      expect(await d.type("end")).toBe("end\r\n1\r\n2\r\n> ");
    } finally {
      d.device.stop();
      removeDir(dir);
    }
  });

  it("has only the modules it was built with; the others are nil", async () => {
    const dir = tempDir("build");
    const d = new ConsoleDevice({ fsDir: dir, modules: ["node", "file", "tmr", "sjson"] });
    try {
      d.device.start();
      await d.expectConsole(/> $/);
      expect(d.console).toContain("\tmodules: file,node,sjson,tmr\r\n");
      expect(await d.type("=mqtt, wifi, dht, type(tmr), type(sjson)")).toContain("nil\tnil\tnil\ttable\ttable\r\n");
      expect(await d.type("=node.info('build_config').modules")).toContain("file,node,sjson,tmr\r\n");
      expect(await d.type("mqtt.Client('x')")).toMatch(/Lua error: stdin:1: attempt to index global 'mqtt' \(a nil value\)/);
    } finally {
      d.device.stop();
      removeDir(dir);
    }
  });
});
