/**
 * The built firmware (firmware/dist, byte for byte) on a virtual device:
 * it boots, joins the broker, publishes readings and applies a config change
 * -- against the embedded aedes and a real mosquitto; run the way it ships,
 * from LFS on a stock 40 KB heap (the first boot loads lfs.img into the LFS
 * partition and restarts), and the fallback way, from app.lc.
 *
 * From app.lc the heap budget is 96 KB, not the device's 40 KB: the code is
 * on the heap then and peaks at ~60 KB while it starts (`npm run
 * bench:firmware`), so on a 40 KB device it panics and reboots.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flashFirmware } from "../../device/flash";
import { Observer, startAedes, startMosquitto, type TestBroker, waitFor } from "./support/brokers";
import { ConsoleDevice, DIST, removeDir, requireBuiltFirmware, tempDir } from "./support/harness";

interface Mode {
  name: string;
  heapKb: number;
  /** Files of the build put on the device's file system (undefined: all of them). */
  files: readonly string[] | undefined;
  /** What init.lua says it starts. */
  starting: RegExp;
}

const FROM_LFS: Mode = { name: "from LFS", heapKb: 40, files: undefined, starting: /espfleet: starting LFS in 3000 ms/ };
const FROM_LC: Mode = { name: "from app.lc", heapKb: 96, files: ["init.lua", "app.lc", "cfg.lc"], starting: /espfleet: starting app\.lc in 3000 ms/ };

describe.each([
  ["aedes (in process)", FROM_LFS.name, startAedes, FROM_LFS],
  ["mosquitto", FROM_LFS.name, startMosquitto, FROM_LFS],
  ["aedes (in process)", FROM_LC.name, startAedes, FROM_LC],
] as const)("the built firmware on a virtual device, broker %s, app run %s", (_name, _how, start, mode) => {
  let broker: TestBroker;
  let observer: Observer;
  let dir: string;
  let d: ConsoleDevice;
  const id = `vdev-${_name.slice(0, 5)}-${mode.heapKb}`;

  beforeAll(async () => {
    requireBuiltFirmware();
    broker = await start();
    observer = await Observer.connect(broker.url);
    dir = tempDir("firmware");
    flashFirmware(dir, DIST, { node_id: id, mqtt_host: "127.0.0.1", mqtt_port: broker.port, interval_ms: 300, wifi_ssid: "espfleet-lab" }, mode.files);
    d = new ConsoleDevice({ fsDir: dir, heapKb: mode.heapKb, wifiJoinDelayMs: 50 });
    d.device.start();
  });

  afterAll(async () => {
    d.device.stop();
    await observer.close();
    await broker.close();
    removeDir(dir);
  });

  it("boots init.lua, starts the app after the boot window and joins the broker", async () => {
    if (mode === FROM_LFS) {
      // The first boot finds lfs.img, loads it into the LFS partition and restarts; the next runs the app from there.
      await d.expectConsole(/espfleet: loading lfs\.img into LFS; the board restarts\r\nLFS region updated\. {2}Restarting\.\r\n/);
      expect(d.device.flash.lfsContents()?.modules.size).toBe(2);
    }
    await d.expectConsole(mode.starting);
    const online = await waitFor("the retained online status", () => observer.json(`status/${id}`).find((s) => s.state === "online"), 8000);
    expect(online).toMatchObject({ id, state: "online", boot: 1 });
    // Retained: a client that subscribes later still gets it.
    const late = await Observer.connect(broker.url);
    try {
      const kept = await waitFor("the retained status for a late subscriber", () => late.on(`status/${id}`)[0]);
      expect(kept.retain).toBe(true);
    } finally {
      await late.close();
    }
    expect(d.device.stats.panics).toBe(0);
  });

  it("publishes sensor_data with its id and consecutive seq numbers", async () => {
    const readings = await waitFor("three readings", () => {
      const r = observer.json("sensor_data").filter((m) => m.id === id);
      return r.length >= 3 ? r : undefined;
    });
    const seqs = readings.map((r) => r.seq as number);
    expect(seqs.slice(0, 3)).toEqual([seqs[0], (seqs[0] as number) + 1, (seqs[0] as number) + 2]);
    expect(readings[0]).toMatchObject({ id, boot: 1 });
    expect(typeof readings[0]?.temperature).toBe("number");
    expect(typeof readings[0]?.humidity).toBe("number");
  });

  it("applies a config_change: acknowledged as applied and stored in config.json on the device's flash", async () => {
    await observer.publish("config_change", JSON.stringify({ target: id, interval_ms: 700, req: "t-1" }));
    const ack = await waitFor("the config ack", () => observer.json(`config_ack/${id}`).find((a) => a.req === "t-1"));
    expect(ack).toMatchObject({ id, req: "t-1", result: "applied" });
    expect((ack.config as Record<string, unknown>).interval_ms).toBe(700);
    const stored = await waitFor("config.json with the new interval", () => {
      const cfg = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
      return cfg.interval_ms === 700 ? cfg : undefined;
    });
    expect(stored.node_id).toBe(id);
    expect(existsSync(join(dir, "config.json.new"))).toBe(false);
  });

  it("powering off closes the socket without DISCONNECT: the broker sends the last will", async () => {
    d.device.stop();
    const offline = await waitFor("the offline last will", () => observer.json(`status/${id}`).find((s) => s.state === "offline"));
    expect(offline).toMatchObject({ id, state: "offline" });
  });
});
