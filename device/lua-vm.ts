/**
 * One boot of a virtual device: a fresh wasm32 Lua state (32-bit, like the
 * ESP8266) with the emulated NodeMCU modules and the device's files loaded,
 * entered once per event. A reboot throws the state away and makes a new one,
 * so nothing the firmware left in RAM survives, as on the device.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { luaString, type LuaVersion, WasmLua } from "../common/wasm-lua";
import { encodeField, type EntryResult, parseEntryResult } from "./mailbox";

const LUA_DIR = join(dirname(fileURLToPath(import.meta.url)), "lua");
/** Longest argument passed as a C string; longer ones go through __wasm.vars. */
const MAX_INLINE_ARG = 30000;

/**
 * The emulator's Lua files (device/lua): the helpers and the device's host
 * side; the NodeMCU modules are every file of device/lua/nodemcu/ (one per
 * module, shared with the busted mock in test/lua), named "nodemcu/<file>".
 */
const LUA_FILES = ["nodemcu_common.lua", "nodemcu_bytecode.lua", "nodemcu_codecs.lua", "nodemcu_device.lua"] as const;
const MODULE_DIR = "nodemcu";
let sourcesCache: Map<string, string> | undefined = undefined;
let modulesCache: Map<string, string> | undefined = undefined;

/**
 * The NodeMCU modules (device/lua/nodemcu/*.lua) as "nodemcu/<file>" -> text,
 * read once per process: what a wasm Lua needs, besides nodemcu_common.lua,
 * to load test/lua/nodemcu_mock.lua (it finds them among its sources).
 */
export function nodemcuModuleSources(): ReadonlyMap<string, string> {
  modulesCache ??= new Map(
    readdirSync(join(LUA_DIR, MODULE_DIR))
      .filter((name) => name.endsWith(".lua"))
      .sort()
      .map((name) => [`${MODULE_DIR}/${name}`, readFileSync(join(LUA_DIR, MODULE_DIR, name), "utf8")]),
  );
  return modulesCache;
}

/** The Lua sources, read once per process. */
function luaSources(): Map<string, string> {
  sourcesCache ??= new Map([
    ...LUA_FILES.map((name): [string, string] => [name, readFileSync(join(LUA_DIR, name), "utf8")]),
    ...nodemcuModuleSources(),
  ]);
  return sourcesCache;
}

/** What the Lua side needs to know at boot (mirrored host state). */
export interface BootSettings {
  /** Modules of the emulated build; the others are nil globals. */
  modules: readonly string[];
  /** Lua heap the firmware may hold, in bytes. */
  budgetBytes: number;
  chipId: number;
  flashId: number;
  mac: string;
  fsTotalBytes: number;
  /** adc.INIT_ADC (0) or adc.INIT_VDD33 (255), as chosen by force_init_mode before this boot. */
  adcMode: number;
  /** node.bootreason(): raw code and extended reason. */
  bootReason: [number, number];
  /** rtcmem slots 0..127 (kept across reboots, lost at power-off). */
  rtcmem: readonly number[];
  /** Station config saved in flash by wifi.sta.config{save=true}. */
  wifiSaved: { ssid: string; pwd: string; auto: boolean } | undefined;
  /** A CA is in the tls module's certificate flash area (tls.cert.verify(true) needs one). */
  tlsCaStored: boolean;
  /** Seed of math.random for this boot. */
  seed: number;
  /** An entry running longer than this trips the (software) watchdog. */
  wdtSeconds: number;
  /** The partition table (node.getpartitiontable), bytes. */
  partitions: { lfs_addr: number; lfs_size: number; spiffs_addr: number; spiffs_size: number };
  /** Where the firmware's code ends: a new LFS partition goes here. */
  irom0End: number;
  /** Bytes of the image in the LFS region (0 when empty). */
  lfsUsedBytes: number;
  /** node.LFS.time: the timestamp of the image in the LFS region; undefined (nil) when the region is empty, as on the device. */
  lfsTime: number | undefined;
  /** What node.LFS.reload would say of each image file on the file system: "ok" or the device's error text. */
  lfsVerdicts: Record<string, string>;
}

type LuaValue = string | number | boolean | undefined | LuaValue[] | { [key: string]: LuaValue };

/** A Lua table constructor for plain data (arrays become 0-based when asked). */
function luaLiteral(value: LuaValue, zeroBased = false): string {
  if (value === undefined) {
    return "nil";
  }
  if (typeof value === "string") {
    return luaString(value);
  }
  if (typeof value === "number") {
    return Number.isFinite(value) ? String(value) : "0";
  }
  if (typeof value === "boolean") {
    return value ? "true" : "false";
  }
  if (Array.isArray(value)) {
    return "{" + value.map((v, i) => `[${zeroBased ? i : i + 1}]=${luaLiteral(v)}`).join(",") + "}";
  }
  return "{" + Object.entries(value).map(([k, v]) => `[${luaString(k)}]=${luaLiteral(v)}`).join(",") + "}";
}

function settingsLiteral(s: BootSettings): string {
  const modules: Record<string, LuaValue> = {};
  for (const m of s.modules) {
    modules[m] = true;
  }
  const fields: Record<string, LuaValue> = {
    modules,
    module_list: [...s.modules].sort().join(","),
    budget: s.budgetBytes,
    chipid: s.chipId,
    flashid: s.flashId,
    mac: s.mac,
    fs_total: s.fsTotalBytes,
    adc_mode: s.adcMode,
    boot_raw: s.bootReason[0],
    boot_reason: s.bootReason[1],
    wifi_saved: s.wifiSaved === undefined ? undefined : { ...s.wifiSaved },
    tls_ca_stored: s.tlsCaStored,
    seed: s.seed,
    wdt_seconds: s.wdtSeconds,
    lfs_addr: s.partitions.lfs_addr,
    lfs_size: s.partitions.lfs_size,
    spiffs_addr: s.partitions.spiffs_addr,
    spiffs_size: s.partitions.spiffs_size,
    irom0_end: s.irom0End,
    lfs_used: s.lfsUsedBytes,
    lfs_time: s.lfsTime,
    lfs_verdicts: s.lfsVerdicts,
  };
  const rtcmem = luaLiteral([...s.rtcmem], true);
  return luaLiteral(fields).replace(/}$/, `,rtcmem=${rtcmem}}`);
}

/** The text, if the bytes survive a round trip through UTF-8 without NUL (the fast path). */
function asText(data: Buffer): string | undefined {
  if (data.includes(0)) {
    return undefined;
  }
  const text = data.toString("utf8");
  return Buffer.from(text, "utf8").equals(data) ? text : undefined;
}


export class DeviceVm {
  private lua: WasmLua | undefined;
  private spill = 0;

  /**
   * Make the state, load the modules and the files, and the LFS region's
   * modules (standard chunks) before the heap baseline, as code in flash;
   * nothing runs until enter(…, "boot").
   */
  constructor(version: LuaVersion, settings: BootSettings, files: ReadonlyMap<string, Buffer>, lfsModules: ReadonlyMap<string, Uint8Array> = new Map()) {
    const lua = new WasmLua({ version, print: "discard" });
    this.lua = lua;
    try {
      for (const [name, text] of luaSources()) {
        lua.addSource(name, text);
      }
      for (const [name, data] of files) {
        const text = asText(data);
        if (text !== undefined) {
          lua.setVar("fs:" + name, text);
        } else {
          // A \ddd-escaped literal, not the hex path: Lua's lexer reads it far faster.
          lua.run(`__wasm.vars[${luaString("fs:" + name)}] = ${luaString(data)}`, "=fs");
        }
      }
      for (const [name, chunk] of lfsModules) {
        lua.run(`__wasm.vars[${luaString("lfs:" + name)}] = ${luaString(chunk)}`, "=lfs");
      }
      // Chunk names "=nodemcu…" let tracebacks leave the emulator's frames out
      // (a module's frames read "nodemcu_mqtt:42:").
      lua.run(
        `local W, load = __wasm, loadstring or load
         local C = assert(load(W.sources["nodemcu_common.lua"], "=nodemcu_common"))()
         local B = assert(load(W.sources["nodemcu_bytecode.lua"], "=nodemcu_bytecode"))()
         local X = assert(load(W.sources["nodemcu_codecs.lua"], "=nodemcu_codecs"))
         local function N(name)
           return assert(load(assert(W.sources["${MODULE_DIR}/" .. name .. ".lua"], name), "=nodemcu_" .. name))()
         end
         assert(load(W.sources["nodemcu_device.lua"], "=nodemcu"))(C, B, X, ${settingsLiteral(settings)}, N)`,
        "=boot",
      );
      lua.callHelper("dev_baseline");
    } catch (error) {
      lua.close();
      this.lua = undefined;
      throw error;
    }
  }

  private state(): WasmLua {
    if (this.lua === undefined) {
      throw new Error("virtual device: this boot's Lua state is closed");
    }
    return this.lua;
  }

  /** Deliver one event; returns what Lua asked for. */
  enter(nowMs: number, kind: string, ...args: (string | number | Buffer)[]): EntryResult {
    const lua = this.state();
    const encoded = args.map((a) => {
      const field = encodeField(a);
      if (field.length <= MAX_INLINE_ARG) {
        return field;
      }
      const key = `arg${++this.spill}`;
      lua.setVar(key, typeof a === "number" ? String(a) : typeof a === "string" ? a : new Uint8Array(a));
      return "v" + key;
    });
    const [text] = lua.callHelper("dev_enter", String(Math.floor(nowMs)), kind, ...encoded);
    return parseEntryResult(text ?? "");
  }

  /** The firmware's live heap after a full collection, in bytes. */
  heapBytes(): number {
    const [text] = this.state().callHelper("dev_heap");
    return Number(text);
  }

  /** Run Lua in this boot's state directly (tests and debugging; bypasses the mailbox). */
  debugRun(code: string): string[] {
    return this.state().run(code, "=host");
  }

  close(): void {
    this.lua?.close();
    this.lua = undefined;
  }
}
