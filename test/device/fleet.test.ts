/** VirtualDeviceFleet: N virtual devices in one process, each its own flash folder, all on the built firmware. */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { VirtualDeviceFleet } from "../../device/fleet";
import { Observer, startAedes, type TestBroker, waitFor } from "./support/brokers";
import { DIST, removeDir, requireBuiltFirmware, tempDir } from "./support/harness";

describe("a fleet of virtual devices", () => {
  let broker: TestBroker | undefined;
  let observer: Observer | undefined;
  let fleet: VirtualDeviceFleet | undefined;
  const root = tempDir("fleet");

  afterAll(async () => {
    fleet?.stop();
    await observer?.close();
    await broker?.close();
    removeDir(root);
  });

  it("flashes each device's folder, boots them all, and each publishes as itself", async () => {
    requireBuiltFirmware();
    broker = await startAedes();
    observer = await Observer.connect(broker.url);
    fleet = new VirtualDeviceFleet({
      count: 3,
      rootDir: root,
      firmwareDir: DIST,
      files: ["init.lua", "app.lc", "cfg.lc"],
      config: { mqtt_host: "127.0.0.1", mqtt_port: broker.port, interval_ms: 300, wifi_ssid: "lab" },
      device: { heapKb: 96, wifiJoinDelayMs: 20 },
      staggerMs: 5,
    });
    const ids = fleet.devices.map((d) => d.id);
    expect(ids).toEqual(["node-0001", "node-0002", "node-0003"]);
    for (const id of ids) {
      expect(JSON.parse(readFileSync(join(root, id, "config.json"), "utf8")).node_id).toBe(id);
      expect(existsSync(join(root, id, "app.lua"))).toBe(false); // only the files asked for
    }
    await fleet.start();
    const obs = observer;
    await waitFor("a reading from every device", () => ids.every((id) => obs.json("sensor_data").some((r) => r.id === id)), 10_000);
    const chipIds = new Set(fleet.devices.map((d) => d.debugRun("return node.chipid()")[0]));
    expect(chipIds.size).toBe(3);
    const c = fleet.counters();
    expect(c).toMatchObject({ devices: 3, running: 3, mqttConnected: 3, panics: 0, faults: 0 });
    expect(c.publishes).toBeGreaterThanOrEqual(6);
  });
});
