/**
 * N virtual devices in one process, each with its own file system folder
 * (<rootDir>/<id>), all running the built firmware: the engine behind
 * `espfleet run --engine lua`. Each device is a separate wasm32 Lua state,
 * so a fleet runs exactly what ships, heap budget included.
 */
import { join } from "node:path";
import { flashFirmware } from "./flash";
import type { VirtualDeviceOptions } from "./options";
import { VirtualDevice } from "./virtual-device";

export interface VirtualDeviceFleetOptions {
  count: number;
  /** Parent of the devices' file system folders. */
  rootDir: string;
  /** The built firmware to put on each device (firmware/dist); omit to boot what the folders hold. */
  firmwareDir?: string;
  /** Settings merged into each device's config.json (with node_id set per device). */
  config?: Record<string, unknown>;
  /** Upload only these files of the build (default: all of it but modules.txt). */
  files?: readonly string[];
  /** Device ids: node-0001, node-0002, ... by default. */
  idFor?: (index: number) => string;
  /** Options shared by every device (fsDir and id are set per device). */
  device?: Omit<VirtualDeviceOptions, "fsDir" | "id">;
  /** Options of one device, over `device` (the Lua engine sets each board's ADC mode from its sensors). */
  deviceFor?: (index: number, id: string) => Omit<VirtualDeviceOptions, "fsDir" | "id">;
  /** Pause between two power-ons, in ms, so N devices do not all compile app.lua at once. Default 20. */
  staggerMs?: number;
}

export interface FleetCounters {
  devices: number;
  running: number;
  mqttConnected: number;
  publishes: number;
  boots: number;
  panics: number;
  faults: number;
  entries: number;
}

export function defaultDeviceId(index: number): string {
  return `node-${String(index + 1).padStart(4, "0")}`;
}

export class VirtualDeviceFleet {
  readonly devices: VirtualDevice[] = [];

  constructor(readonly options: VirtualDeviceFleetOptions) {
    const idFor = options.idFor ?? defaultDeviceId;
    for (let i = 0; i < options.count; i++) {
      const id = idFor(i);
      const fsDir = join(options.rootDir, id);
      if (options.firmwareDir !== undefined) {
        flashFirmware(fsDir, options.firmwareDir, { ...options.config, node_id: id }, options.files);
      }
      this.devices.push(new VirtualDevice({ ...options.device, ...options.deviceFor?.(i, id), fsDir, id }));
    }
  }

  /** Power the devices on, one every staggerMs. */
  async start(): Promise<void> {
    const stagger = this.options.staggerMs ?? 20;
    for (const device of this.devices) {
      device.start();
      if (stagger > 0) {
        await new Promise((r) => setTimeout(r, stagger));
      }
    }
  }

  stop(): void {
    for (const device of this.devices) {
      device.stop();
    }
  }

  counters(): FleetCounters {
    const c: FleetCounters = { devices: this.devices.length, running: 0, mqttConnected: 0, publishes: 0, boots: 0, panics: 0, faults: 0, entries: 0 };
    for (const d of this.devices) {
      c.running += d.running ? 1 : 0;
      c.mqttConnected += d.mqttConnections() > 0 ? 1 : 0;
      c.publishes += d.stats.publishes;
      c.boots += d.stats.boots;
      c.panics += d.stats.panics;
      c.faults += d.stats.faults;
      c.entries += d.stats.entries;
    }
    return c;
  }
}
