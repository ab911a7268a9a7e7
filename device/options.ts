/**
 * Options of one virtual device, their units and defaults, and the module
 * list of the emulated NodeMCU build.
 */
import type { LuaVersion } from "../common/wasm-lua";
import { DeviceError } from "./errors";
import type { SensorSource } from "./sensors";

/** Modules this emulator implements (`--modules` picks a subset: the "build"). */
export const EMULATED_MODULES = [
  "adc",
  "bit",
  "crypto",
  "dht",
  "encoder",
  "file",
  "mqtt",
  "node",
  "rtcmem",
  "rtctime",
  "sjson",
  "sntp",
  "tls",
  "tmr",
  "uart",
  "wifi",
] as const;

/** The default build: what firmware/dist/modules.txt asks for, plus the console and upload helpers. */
export const DEFAULT_MODULES: readonly string[] = EMULATED_MODULES;

/** Lua heap free for the firmware after boot, in KB (NODEMCU.md: ~40-44 KB on a 3.x Lua 5.1 build). */
export const DEFAULT_HEAP_KB = 40;
/** SPIFFS of a fresh virtual device, in bytes (a 4 MB board's file system). */
export const DEFAULT_FS_BYTES = 3 * 1024 * 1024;
/** LFS partition of a fresh virtual device, in KB: what ./flash.sh adds to a board without one. */
export const DEFAULT_LFS_KB = 128;

export function parseLfsKb(text: string): number {
  const kb = Number(text);
  if (!Number.isInteger(kb) || kb < 0 || kb % 4 !== 0 || kb > 1024) {
    throw new DeviceError(`--lfs-kb ${text}: give the LFS partition size in KB, a multiple of 4 (flash sectors) up to 1024; 0 = no LFS partition`);
  }
  return kb;
}

export interface VirtualDeviceOptions {
  /** Folder holding the device's flash file system (created when missing). */
  fsDir: string;
  /** A name for logs and events; default: the folder's name. */
  id?: string;
  /** Lua heap the firmware may hold, in KB; default 40. Past it the device panics and reboots. */
  heapKb?: number;
  /** Modules of the emulated build (absent ones are nil globals); default DEFAULT_MODULES. */
  modules?: readonly string[];
  /** "5.1" (default, NodeMCU's default build) or "5.3". */
  luaVersion?: LuaVersion;
  /** node.chipid(); default derived from the id. */
  chipId?: number;
  /** Send every MQTT connection to this broker instead of the host/port the firmware asks for. */
  broker?: string;
  /** ms from wifi.sta.config/connect to STA_GOT_IP; default 1000. */
  wifiJoinDelayMs?: number;
  /** ms between failed join attempts; default 3000. */
  wifiRetryMs?: number;
  /** The station's address; default 192.168.4.x from the chip id. */
  ip?: string;
  /** No CONNACK within this many ms: mqtt.CONN_FAIL_TIMEOUT_RECEIVING; default 10000. */
  mqttConnectTimeoutMs?: number;
  /** Sensor values; default SimpleSensors(seed). */
  sensors?: SensorSource;
  /** Seed of math.random (per boot: seed + boot count) and of the default sensors; default from the chip id. */
  seed?: number;
  /** One entry into Lua longer than this resets the device like the software watchdog; default 3.2 s. */
  wdtSeconds?: number;
  /** SPIFFS size in bytes (file.fsinfo()) of a fresh device; default 3 MB. node.setpartitiontable can change it. */
  fsTotalBytes?: number;
  /**
   * LFS partition of a fresh device, in bytes; default 128 KB (what ./flash.sh asks for), 0 = an image
   * without one (most cloud builds). node.setpartitiontable can change it; the table is kept in the
   * device's folder.
   */
  lfsBytes?: number;
  /**
   * The ADC mode a fresh device powers on in: adc.INIT_ADC (0, default: A0 is read, as on a board fresh
   * from esptool) or adc.INIT_VDD33 (255: adc.readvdd33() answers, as on a board where
   * adc.force_init_mode(adc.INIT_VDD33) ran once). NodeMCU keeps the mode in flash (esp_init_data);
   * force_init_mode changes it for the next boot.
   */
  adcMode?: number;
}

export function parseModules(list: string): string[] {
  const wanted = list
    .split(",")
    .map((m) => m.trim())
    .filter((m) => m !== "");
  const unknown = wanted.filter((m) => !(EMULATED_MODULES as readonly string[]).includes(m));
  if (unknown.length > 0) {
    throw new DeviceError(
      `--modules: ${unknown.join(", ")} ${unknown.length === 1 ? "is" : "are"} not emulated; choose from ${EMULATED_MODULES.join(",")}`,
    );
  }
  return [...new Set(wanted)];
}

export function parseHeapKb(text: string): number {
  const kb = Number(text);
  if (!Number.isFinite(kb) || kb <= 0 || kb > 4096) {
    throw new DeviceError(`--heap-kb ${text}: give the Lua heap budget in KB, e.g. 40 (a 3.x build has ~40-44 KB free)`);
  }
  return kb;
}

/** A stable 24-bit chip id from a name (ESP8266 chip ids are the low 3 bytes of the MAC). */
export function chipIdFor(name: string): number {
  let h = 2166136261;
  for (const c of Buffer.from(name, "utf8")) {
    h = Math.imul(h ^ c, 16777619) >>> 0;
  }
  return (h % 0xfffffe) + 1;
}
