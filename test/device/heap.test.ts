/**
 * The heap budget and the watchdog: a firmware that leaks past the budget
 * panics and reboots (and says so on its console), as an ESP8266 does; one
 * that never returns to the SDK is reset by the watchdog.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { waitFor } from "./support/brokers";
import { ConsoleDevice, removeDir, tempDir } from "./support/harness";

describe("virtual device heap budget", () => {
  const dirs: string[] = [];
  const devices: ConsoleDevice[] = [];
  const make = (init: string, options: { heapKb?: number; wdtSeconds?: number } = {}): ConsoleDevice => {
    const dir = tempDir("heap");
    dirs.push(dir);
    writeFileSync(join(dir, "init.lua"), init);
    const d = new ConsoleDevice({ fsDir: dir, ...options });
    devices.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of devices.splice(0)) {
      d.device.stop();
    }
    for (const dir of dirs.splice(0)) {
      removeDir(dir);
    }
  });

  it("a firmware that leaks past the budget panics, says so, and reboots into init.lua", async () => {
    const d = make(
      `print("leaky boot " .. node.bootreason())
       leak = {}
       local t = tmr.create()
       t:alarm(10, tmr.ALARM_AUTO, function() leak[#leak + 1] = string.rep("x", 500) .. #leak end)`,
    );
    const panics: number[] = [];
    d.device.on("panic", (used) => panics.push(used));
    d.device.start();
    await d.expectConsole(/leaky boot 1\r\n/);
    const m = await d.expectConsole(/PANIC: unprotected error in call to Lua API \(not enough memory\)\r\nvirtual device: the Lua heap reached ([\d.]+) KB, over the 40\.0 KB budget; rebooting\r\n/);
    expect(Number(m[1])).toBeGreaterThan(40);
    // A fresh boot runs init.lua again (boot reason: exception)
    await d.expectConsole(/PANIC[\s\S]*NodeMCU 3\.0\.0\.0[\s\S]*leaky boot 2\r\n/);
    expect(panics.length).toBeGreaterThanOrEqual(1);
    expect(panics[0]).toBeGreaterThan(40 * 1024);
    expect(d.device.stats.boots).toBeGreaterThanOrEqual(2);
  });

  it("counts what the firmware holds, not the files: node.heap() drops as data is kept", async () => {
    const d = make(`print("ready")`);
    d.device.start();
    await d.expectConsole(/ready\r\n> $/);
    await d.type("collectgarbage()");
    const before = Number((await d.type("=node.heap()")).split("\r\n")[1]);
    expect(before).toBeGreaterThan(30 * 1024);
    expect(before).toBeLessThanOrEqual(40 * 1024);
    await d.type('keep = string.rep("k", 10000)');
    await d.type("collectgarbage()");
    const after = Number((await d.type("=node.heap()")).split("\r\n")[1]);
    expect(before - after).toBeGreaterThan(9000);
    expect(before - after).toBeLessThan(12000);
    // Writing 100 KB to a file costs flash, not heap (a few KB of noise: Lua's string table resizes)
    await d.type('f = file.open("big.txt", "w"); for i = 1, 100 do f:write(string.rep("b", 1000)) end; f:close(); f = nil');
    await d.type("collectgarbage()");
    const withFile = Number((await d.type("=node.heap()")).split("\r\n")[1]);
    expect(Math.abs(withFile - after)).toBeLessThan(5000);
    expect(d.device.stats.panics).toBe(0);
  });

  it("an allocation the budget cannot hold fails with 'not enough memory'; kept past the budget it panics", async () => {
    const d = make(`print("ready")`);
    d.device.start();
    await d.expectConsole(/ready\r\n> $/);
    // Built in a Lua loop: the check inside the entry raises; the REPL reports it and the memory is freed.
    expect(await d.type("local t = {} for i = 1, 20000 do t[i] = {} end")).toMatch(/Lua error: not enough memory\r\n> $/);
    expect(d.device.stats.panics).toBe(0);
    // Kept in a global past the end of the entry: a panic and a reboot.
    const from = d.console.length;
    d.device.write('big = string.rep("z", 60000)\r');
    await d.expectConsole(/PANIC: unprotected error in call to Lua API \(not enough memory\)[\s\S]*NodeMCU 3\.0\.0\.0[\s\S]*ready\r\n> $/, 5000, from);
    expect(d.device.stats.panics).toBe(1);
  });

  it("a callback that never returns trips the watchdog: the device resets", async () => {
    const d = make(`print("boot " .. select(2, node.bootreason()))`, { wdtSeconds: 0.3 });
    d.device.start();
    await d.expectConsole(/boot 0\r\n> $/);
    d.device.write("while true do end\r");
    await d.expectConsole(/watchdog reset[\s\S]*NodeMCU 3\.0\.0\.0[\s\S]*boot 3\r\n> $/, 5000);
  });

  it("an uncaught error in a callback prints 'Lua error:' and restarts, as NodeMCU 3.x does", async () => {
    const d = make(`print("boot " .. select(2, node.bootreason()))
      if select(2, node.bootreason()) == 0 then
        tmr.create():alarm(20, tmr.ALARM_SINGLE, function() local x = nil; return x.field end)
      end`);
    d.device.start();
    await d.expectConsole(/Lua error: init\.lua:3: attempt to index local 'x' \(a nil value\)[\s\S]*NodeMCU 3\.0\.0\.0[\s\S]*boot 4\r\n> $/);
    await waitFor("a second boot", () => d.device.stats.boots === 2);
  });
});
