/**
 * The built init.lua's boot window, on the virtual device as on hardware:
 * file.remove("init.lua") typed at the prompt within 3 s keeps the app from
 * starting (and init.lua is gone from the flash).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flashFirmware } from "../../device/flash";
import { Observer, startAedes, type TestBroker } from "./support/brokers";
import { ConsoleDevice, DIST, removeDir, requireBuiltFirmware, tempDir } from "./support/harness";

describe("the boot window of the built init.lua", () => {
  let broker: TestBroker;
  let observer: Observer;
  let dir: string;
  let d: ConsoleDevice;

  beforeAll(async () => {
    requireBuiltFirmware();
    broker = await startAedes();
    observer = await Observer.connect(broker.url);
    dir = tempDir("boot-window");
    flashFirmware(dir, DIST, { node_id: "vdev-stop", mqtt_host: "127.0.0.1", mqtt_port: broker.port, interval_ms: 200, wifi_ssid: "lab" });
    d = new ConsoleDevice({ fsDir: dir, heapKb: 40, wifiJoinDelayMs: 50 });
  });

  afterAll(async () => {
    d.device.stop();
    await observer.close();
    await broker.close();
    removeDir(dir);
  });

  it('file.remove("init.lua") at the prompt during the window stops the app', async () => {
    d.device.start();
    await d.expectConsole(/to stop: file\.remove\("init\.lua"\)\r\n> $/);
    await d.type('file.remove("init.lua")');
    expect(existsSync(join(dir, "init.lua"))).toBe(false);
    await d.expectConsole(/espfleet: stopped before start; the app did not run\r\n/, 5000);
    // Well past the window: the app never ran, so it never reached the broker.
    await new Promise((r) => setTimeout(r, 800));
    expect(observer.messages.filter((m) => m.topic.endsWith("vdev-stop") || m.topic.startsWith("sensor_data"))).toEqual([]);
    expect(d.device.mqttConnections()).toBe(0);
    expect(d.console).not.toContain("espfleet info: node vdev-stop");
    // And the next boot finds no init.lua at all.
    const from = d.console.length;
    d.device.reset();
    await d.expectConsole(/lua: cannot open init\.lua\r\n> $/, 5000, from);
  });
});
