/**
 * The emulated mqtt and wifi modules' NodeMCU quirks, against a real broker:
 * "not connected" from publish while offline, connect failures with reason
 * codes, no auto-reconnect, max_message_length and "overflow", the last
 * will on a lost link, and wifi that the host can make fail or drop.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Observer, startAedes, type TestBroker, waitFor } from "./support/brokers";
import { ConsoleDevice, removeDir, tempDir } from "./support/harness";

/** A small firmware that logs every mqtt and wifi event on the console. */
function script(port: number, tag: string, maxLength = 1024): string {
  return `
wifi.eventmon.register(wifi.eventmon.STA_GOT_IP, function(i) print("GOT_IP " .. i.IP) end)
wifi.eventmon.register(wifi.eventmon.STA_DISCONNECTED, function(i) print("DISCONNECTED " .. i.reason) end)
m = mqtt.Client("quirks-${tag}", 10, nil, nil, 1, ${maxLength})
m:lwt("will/${tag}", "gone", 1, 0)
m:on("offline", function() print("OFFLINE") end)
m:on("message", function(_, t, d) print("MESSAGE " .. t .. " " .. tostring(d)) end)
m:on("overflow", function(_, t, d) print("OVERFLOW " .. t .. " " .. #d) end)
function go(port)
  m:connect("127.0.0.1", port or ${port}, false,
    function() print("CONNECTED") m:subscribe("in/#", 0, function() print("SUBACK") end) end,
    function(_, reason) print("CONNFAIL " .. reason) end)
end
wifi.setmode(wifi.STATION)
wifi.sta.config({ ssid = "lab", pwd = "", auto = true, save = false })
print("READY")
`;
}

describe("mqtt and wifi quirks", () => {
  let broker: TestBroker;
  let observer: Observer;
  const dirs: string[] = [];
  const devices: ConsoleDevice[] = [];

  beforeAll(async () => {
    broker = await startAedes();
    observer = await Observer.connect(broker.url);
  });
  afterEach(() => {
    for (const d of devices.splice(0)) {
      d.device.stop();
    }
    for (const dir of dirs.splice(0)) {
      removeDir(dir);
    }
  });
  afterAll(async () => {
    await observer.close();
    await broker.close();
  });

  const boot = async (tag: string, maxLength?: number): Promise<ConsoleDevice> => {
    const dir = tempDir("quirks");
    dirs.push(dir);
    writeFileSync(join(dir, "init.lua"), script(broker.port, tag, maxLength));
    const d = new ConsoleDevice({ fsDir: dir, wifiJoinDelayMs: 30, wifiRetryMs: 100 });
    devices.push(d);
    d.device.start();
    await d.expectConsole(/READY\r\n> $/);
    await d.expectConsole(/GOT_IP 192\.168\.4\.\d+\r\n/);
    return d;
  };

  it("publish raises 'not connected' before connect; connect to a closed port fails with -5", async () => {
    const d = await boot("fail");
    expect(await d.type('m:publish("t", "p", 0, 0)')).toMatch(/Lua error: not connected\r\n/);
    await d.type("go(1)");
    await d.expectConsole(/CONNFAIL -5\r\n/);
  });

  it("connects, subscribes, receives; a message over max_message_length goes to 'overflow'", async () => {
    const d = await boot("overflow", 100);
    await d.type("go()");
    await d.expectConsole(/CONNECTED\r\nSUBACK\r\n/);
    await observer.publish("in/small", "hello");
    await d.expectConsole(/MESSAGE in\/small hello\r\n/);
    await observer.publish("in/big", "x".repeat(300));
    await d.expectConsole(/OVERFLOW in\/big 300\r\n/);
    await observer.publish("in/empty", "");
    await d.expectConsole(/MESSAGE in\/empty nil\r\n/);
    await d.type('m:publish("out/x", "from device", 1, 0, function() print("PUBACK") end)');
    await d.expectConsole(/PUBACK\r\n/);
    await waitFor("the device's message at the broker", () => observer.on("out/x")[0]);
    expect(observer.on("out/x").map((m) => m.payload)).toEqual(["from device"]);
  });

  it("a clean close fires 'offline' and sends no will; there is no auto-reconnect", async () => {
    const d = await boot("close");
    await d.type("go()");
    await d.expectConsole(/CONNECTED\r\n/);
    await d.type("m:close()");
    await d.expectConsole(/OFFLINE\r\n/);
    await new Promise((r) => setTimeout(r, 300));
    expect(observer.on("will/close")).toEqual([]);
    expect(d.device.mqttConnections()).toBe(0);
    expect(await d.type('m:publish("t", "p", 0, 0)')).toMatch(/Lua error: not connected/);
  });

  it("a dropped wifi link takes the MQTT session down (last will, 'offline'); the station rejoins by itself", async () => {
    const d = await boot("drop");
    await d.type("go()");
    await d.expectConsole(/CONNECTED\r\n/);
    const from = d.console.length;
    d.device.wifi.drop();
    await d.expectConsole(/DISCONNECTED 200\r\n[\s\S]*OFFLINE\r\n/, 5000, from);
    await waitFor("the last will", () => observer.on("will/drop")[0]);
    await d.expectConsole(/GOT_IP /, 5000, from);
    expect(d.device.mqttConnections()).toBe(0); // the firmware has to reconnect itself
  });

  it("a wifi made to fail reports every failed join until it is restored", async () => {
    const dir = tempDir("quirks");
    dirs.push(dir);
    writeFileSync(join(dir, "init.lua"), script(broker.port, "wififail"));
    const d = new ConsoleDevice({ fsDir: dir, wifiJoinDelayMs: 30, wifiRetryMs: 50 });
    devices.push(d);
    d.device.wifi.fail(202);
    d.device.start();
    await d.expectConsole(/DISCONNECTED 202\r\n[\s\S]*DISCONNECTED 202\r\n/);
    expect(await d.type("=wifi.sta.status(), wifi.sta.getip()")).toContain("2\tnil\r\n"); // STA_WRONGPWD
    await d.type("go()");
    await d.expectConsole(/CONNFAIL -5\r\n/);
    d.device.wifi.restore();
    await d.expectConsole(/GOT_IP /);
  });
});
