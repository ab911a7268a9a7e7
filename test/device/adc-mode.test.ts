/**
 * The ESP8266's one ADC reads either the A0 pin or the supply voltage, in a
 * mode NodeMCU reads from flash at boot (adc.force_init_mode sets the next
 * boot's). The built firmware (firmware/dist, from LFS on a 40 KB virtual
 * board) sets the mode its stored `sensors` need and restarts once, so a
 * board told to read vdd reads it without anyone typing force_init_mode at
 * the REPL; a list with both leaves the mode alone (one of them must fail).
 */
import { afterEach, describe, expect, it } from "vitest";
import { flashFirmware } from "../../device/flash";
import { Observer, startAedes, type TestBroker, waitFor } from "./support/brokers";
import { ConsoleDevice, DIST, removeDir, requireBuiltFirmware, tempDir } from "./support/harness";

const INIT_ADC = 0;
const INIT_VDD33 = 0xff;
const SWITCHED = /ADC mode set for the sensors: restarting once/;

interface Started {
  broker: TestBroker;
  observer: Observer;
  dir: string;
  d: ConsoleDevice;
  id: string;
}

let running: Started | undefined;

afterEach(async () => {
  const r = running;
  running = undefined;
  if (r !== undefined) {
    r.d.device.stop();
    await r.observer.close();
    await r.broker.close();
    removeDir(r.dir);
  }
});

/** A stock board (40 KB, from LFS) powered on in `adcMode`, with `sensors` in its config.json. */
async function boot(id: string, sensors: string[], adcMode: number): Promise<Started> {
  requireBuiltFirmware();
  const broker = await startAedes();
  const observer = await Observer.connect(broker.url);
  const dir = tempDir("adc-mode");
  flashFirmware(dir, DIST, { node_id: id, mqtt_host: "127.0.0.1", mqtt_port: broker.port, interval_ms: 300, wifi_ssid: "espfleet-lab", sensors });
  const d = new ConsoleDevice({ fsDir: dir, heapKb: 40, wifiJoinDelayMs: 50, adcMode });
  running = { broker, observer, dir, d, id };
  d.device.start();
  return running;
}

/** The first `n` readings of the node. */
function readings(s: Started, n: number): Promise<Array<Record<string, unknown>>> {
  return waitFor(`${n} readings`, () => {
    const r = s.observer.json("sensor_data").filter((m) => m.id === s.id);
    return r.length >= n ? r.slice(0, n) : undefined;
  }, 20_000);
}

describe("the firmware sets the ADC mode its sensors need", () => {
  it("vdd without adc on a board in A0 mode: switches to VDD33, restarts once, then reads the supply", async () => {
    const s = await boot("adc-vdd", ["temperature", "vdd"], INIT_ADC);
    let restarts = 0;
    s.d.device.on("restart", (reason: string) => {
      if (reason === "restart") {
        restarts++;
      }
    });
    await s.d.expectConsole(SWITCHED, 15_000);
    const got = await readings(s, 3);
    for (const r of got) {
      expect(r.failed).toBeUndefined();
      expect(typeof r.vdd).toBe("number");
      expect(r.vdd as number).toBeGreaterThan(2);
    }
    // The restart came before any reading, and happened once: the next boot found the mode set.
    expect(new Set(got.map((r) => r.boot)).size).toBe(1);
    expect(s.d.console.match(new RegExp(SWITCHED, "g"))?.length).toBe(1);
    // Two: the first boot's load of lfs.img into LFS, then the mode switch.
    expect(restarts).toBe(2);
    expect(s.d.device.stats.panics).toBe(0);
  });

  it("adc without vdd on a board left in VDD33 mode: switches back to A0 and reads the pin", async () => {
    const s = await boot("adc-pin", ["adc"], INIT_VDD33);
    await s.d.expectConsole(SWITCHED, 15_000);
    const got = await readings(s, 2);
    for (const r of got) {
      expect(r.failed).toBeUndefined();
      expect(typeof r.adc).toBe("number");
      // 65535 is what adc.read answers in VDD33 mode; the pin reads 0..1024.
      expect(r.adc as number).toBeLessThanOrEqual(1024);
    }
  });

  it("a board already in the mode its sensors need does not restart", async () => {
    const s = await boot("adc-kept", ["temperature", "vdd"], INIT_VDD33);
    const got = await readings(s, 2);
    expect(got.every((r) => r.failed === undefined && typeof r.vdd === "number")).toBe(true);
    expect(s.d.console).not.toMatch(SWITCHED);
  });

  it("adc and vdd together: the mode stays, and vdd reads fail with what to do", async () => {
    const s = await boot("adc-both", ["adc", "vdd"], INIT_ADC);
    const got = await readings(s, 2);
    expect(s.d.console).not.toMatch(SWITCHED);
    expect(got[0]?.failed).toEqual(["vdd"]);
    expect(typeof got[0]?.adc).toBe("number");
    const event = await waitFor("the failed-read event", () => s.observer.json(`event/${s.id}`).find((e) => JSON.stringify(e).includes("VDD33")));
    expect(JSON.stringify(event)).toContain("list vdd without adc, then restart");
  });
});
