/**
 * `espfleet run --engine lua`: the fleet as virtual ESP8266s (device/) that
 * run the built firmware (firmware/dist) byte for byte, instead of the
 * TypeScript core. Same node ids, same config.json per node (built by
 * seedConfig from the options and what the node stored before), same
 * broker. Each node's flash is <state-dir>/<node-id>.
 *
 * Differences from the TypeScript engine: a device cannot say goodbye on
 * Ctrl-C (the firmware has no shutdown), so stop() powers it off and the
 * broker publishes its last will, the same retained "offline" payload.
 * Readings and their acks are counted on the wire, as the TypeScript engine
 * counts them (published: a reading's PUBLISH went out; acked: the broker's
 * PUBACK came back, or for QoS 0 it was written out). Offline buffers and
 * sensor faults are not visible from outside the Lua state, so those
 * counters stay 0.
 *
 * Each board powers on in the ADC mode its sensors need: adc.INIT_VDD33
 * when they list vdd and not adc (adc.readvdd33() answers), else
 * adc.INIT_ADC (adc.read(0) answers). The firmware would set that mode
 * itself at its first boot and restart once (firmware/nodemcu/main.ts);
 * powering on in it, as a board on which that already happened, spares
 * every node of every run that restart. The TypeScript engine's sensor
 * model reads vdd without asking, so both engines send the default sensors
 * (temperature, humidity, vdd) without a failed read.
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { LogLevel } from "../firmware/core/platform";
import { flashFirmware } from "../device/flash";
import { VirtualDeviceFleet } from "../device/fleet";
import { DEFAULT_HEAP_KB, type VirtualDeviceOptions } from "../device/options";
import { CliError } from "../common/errors";
import { DEFAULT_TOPIC_DATA, operatorTopics, topicMatches } from "../broker/topics";
import type { FleetOptions } from "./fleet";
import type { FleetSnapshot } from "./fleet-counters";
import { seedConfig, type FleetNodeSettings } from "./node-config-seed";
import { nodeId } from "./node-ids";

/** Lua heap budget per device for the lua engine, in KB: a stock board's (the firmware runs from LFS). */
export const LUA_ENGINE_HEAP_KB = DEFAULT_HEAP_KB;

/** The built firmware: firmware/dist next to this folder. */
export const FIRMWARE_DIST = join(dirname(fileURLToPath(import.meta.url)), "..", "firmware", "dist");

/**
 * What a device needs of the build (each file also sits in the device's
 * RAM-side mirror): from LFS, init.lua and the image in the LFS partition;
 * without, the .lc files.
 */
const UPLOADED_LFS = ["init.lua"] as const;
const UPLOADED_LC = ["init.lua", "app.lc", "cfg.lc"] as const;

/** NodeMCU's adc.INIT_ADC and adc.INIT_VDD33 (app/modules/adc.c). */
export const ADC_MODE = { adc: 0, vdd33: 0xff } as const;

/**
 * The ADC mode a board reading `sensors` is set up in: VDD33 for vdd
 * without adc; otherwise the ADC on A0 (both listed: vdd reads fail, as on
 * hardware, where one ADC reads one or the other).
 */
export function adcModeFor(sensors: unknown): number {
  const list = Array.isArray(sensors) ? sensors : [];
  return list.includes("vdd") && !list.includes("adc") ? ADC_MODE.vdd33 : ADC_MODE.adc;
}

export interface LuaFleetOptions extends Omit<FleetOptions, "faults" | "dayStartMs"> {
  /** Lua heap budget per device, in KB. */
  heapKb: number;
  /** Run the app from LFS (the build's lfs.img in each device's LFS partition); default true. false: from app.lc. */
  lfs?: boolean;
  /** The build to flash; default firmware/dist. */
  firmwareDir?: string;
  /** More options for every device (tests shorten the wifi join, for example). */
  device?: Omit<VirtualDeviceOptions, "fsDir" | "id" | "heapKb" | "seed">;
}

export class LuaFleet {
  /** Nodes that kept a stored run-time setting the options asked to change. */
  keptStored = 0;
  fleet: VirtualDeviceFleet | undefined = undefined;
  private readonly counts = { published: 0, acked: 0, configApplied: 0, configRejected: 0 };
  private readonly dataTopic: string;
  private readonly ackPrefix: string;
  private stopped = false;

  constructor(readonly options: LuaFleetOptions) {
    const topics = operatorTopics(options.fixed?.topic_prefix ?? "", options.fixed?.topic_data ?? DEFAULT_TOPIC_DATA);
    this.dataTopic = topics.data;
    this.ackPrefix = topics.acks.slice(0, -1);
    const dist = options.firmwareDir ?? FIRMWARE_DIST;
    if (!existsSync(join(dist, "init.lua"))) {
      throw new CliError(`--engine lua runs the built firmware, and ${dist} has no init.lua: run npm run build:firmware first`);
    }
  }

  /** Flash every node's folder, then power the devices on, paced by connectRate. */
  async start(): Promise<void> {
    const o = this.options;
    const settings: FleetNodeSettings = { broker: o.broker, initial: o.initial ?? {}, fixed: o.fixed ?? {} };
    const idFor = (i: number): string => nodeId(o.first + i);
    const adcModes: number[] = [];
    for (let i = 0; i < o.count; i++) {
      const id = idFor(i);
      const dir = join(o.stateDir, id);
      if (o.fresh === true) {
        rmSync(dir, { recursive: true, force: true });
      }
      const seeded = seedConfig(id, readStoredConfig(join(dir, "config.json")), settings);
      if (seeded.kept.length > 0) {
        this.keptStored++;
      }
      const config: Record<string, unknown> = { ...seeded.config };
      adcModes.push(adcModeFor(config.sensors));
      // The virtual access point takes any network name; the firmware needs one to join.
      if (config.wifi_ssid === "") {
        config.wifi_ssid = "espfleet";
      }
      const lfs = o.lfs !== false;
      flashFirmware(dir, o.firmwareDir ?? FIRMWARE_DIST, config, lfs ? UPLOADED_LFS : UPLOADED_LC, { lfs });
    }
    const fleet = new VirtualDeviceFleet({
      count: o.count,
      rootDir: o.stateDir,
      idFor,
      device: { wifiJoinDelayMs: 100, ...o.device, heapKb: o.heapKb },
      deviceFor: (i) => ({ adcMode: adcModes[i] ?? ADC_MODE.adc }),
    });
    this.fleet = fleet;
    for (const device of fleet.devices) {
      const id = device.id;
      device.on("publish", (topic: string, payload: Buffer) => this.onPublish(topic, payload.toString("utf8")));
      device.on("acked", (topic: string) => {
        if (topicMatches(this.dataTopic, topic)) {
          this.counts.acked++;
        }
      });
      device.on("panic", (used: number, budget: number) =>
        this.log(id, "error", `heap panic: ${Math.round(used / 1024)} KB over the ${Math.round(budget / 1024)} KB budget (--heap-kb); rebooting`),
      );
      device.on("fault", (message: string) => this.log(id, "error", `emulator fault: ${message}`));
      device.on("restart", (reason: string) => {
        if (reason === "watchdog") {
          this.log(id, "warn", "watchdog reset");
        }
      });
    }
    // Paced like the TypeScript engine (and each boot compiles app.lc): connectRate power-ons per second.
    const gapMs = 1000 / o.connectRate;
    for (const device of fleet.devices) {
      if (this.stopped) {
        break;
      }
      device.start();
      await new Promise((r) => setTimeout(r, gapMs));
    }
  }

  snapshot(): FleetSnapshot {
    const c = this.fleet?.counters();
    return {
      started: c?.running ?? 0,
      total: this.options.count,
      connected: c?.mqttConnected ?? 0,
      connectAttempts: 0,
      connects: 0,
      connectFailures: 0,
      disconnects: 0,
      published: this.counts.published,
      acked: this.counts.acked,
      configApplied: this.counts.configApplied,
      configRejected: this.counts.configRejected,
      buffered: 0,
      dropped: 0,
      storageErrors: 0,
      faulted: 0,
      workerRestarts: 0,
    };
  }

  /** Power every device off: sockets close without DISCONNECT, so the broker publishes each last will ("offline"). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.fleet?.stop();
    // Let the closed sockets reach the broker before the caller (maybe) closes it.
    await new Promise((r) => setTimeout(r, 200));
  }

  private onPublish(topic: string, payload: string): void {
    if (topicMatches(this.dataTopic, topic)) {
      this.counts.published++;
    } else if (topic.startsWith(this.ackPrefix)) {
      try {
        const result = (JSON.parse(payload) as { result?: unknown }).result;
        if (result === "applied") {
          this.counts.configApplied++;
        } else {
          this.counts.configRejected++;
        }
      } catch {
        this.counts.configRejected++;
      }
    }
  }

  private log(id: string, level: LogLevel, text: string): void {
    this.options.log?.(id, level, text);
  }
}

function readStoredConfig(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return undefined;
  }
}
