/**
 * The application entry on NodeMCU: init.lua runs it once per boot, from
 * LFS (node.LFS.get("app")), else from app.lc (or app.lua). `espfleet_node` is left global so it can be inspected
 * from the REPL (e.g. `=espfleet_node:currentConfig().interval_ms`).
 *
 * The core's cold code (core/config.ts: boot, schema, config_change) is
 * bundled here too, so app.lua alone is a complete firmware. The boot uses
 * that copy; then, when LFS holds the module `cfg` or cfg.lc (or cfg.lua) is
 * on flash, the app drops it and loads that at each use instead (NodeMcuPlatform.loadModule), which
 * takes the cold code's whole size off the heap for as long as the node runs.
 * (Code here runs once: it is garbage after boot, unlike the methods.)
 */
import * as cfg from "../core/cold";
import { SensorNode } from "../core/node";
import { NodeMcuPlatform } from "./platform";

/** Does LFS hold the config code? (Then the bundled copy can go: LFS costs no heap for code.) */
function inLfs(): boolean {
  const lfs = node.LFS;
  return lfs !== undefined && lfs.get("cfg") !== undefined;
}

/**
 * Is `name` on flash and, for bytecode, made for this Lua? (Its header says
 * version, format, word sizes and number type, as that of string.dump here;
 * a Lua 5.3 or an integer firmware cannot load the 5.1 float build's .lc.)
 */
function loadable(name: string, bytecode: boolean): boolean {
  const f = file.open(name, "r");
  if (f === undefined) {
    return false;
  }
  const header = f.read(12);
  f.close();
  return !bytecode || header === string.dump(loadable).slice(0, 12);
}

/**
 * The ESP8266 has one ADC, read at the A0 pin (`adc`) or as the supply
 * voltage (`vdd`), in a mode NodeMCU reads from flash at boot;
 * adc.force_init_mode sets only the next boot's, and says whether that
 * changed it. So when the stored sensors need one mode (one of the two
 * listed, not both), set it and restart once; the next boot finds it set
 * and runs. Without this a board told to read vdd failed every read until
 * someone ran force_init_mode at the REPL. A config_change to such sensors
 * takes effect at the next boot, as their failed reads say.
 */
function switchAdcMode(sensors: string[]): void {
  let pin = false;
  let supply = false;
  for (let i = 0; i < sensors.length; i++) {
    pin = pin || sensors[i] === "adc";
    supply = supply || sensors[i] === "vdd";
  }
  const force = adc.force_init_mode;
  if (pin !== supply && force !== undefined && force(supply ? adc.INIT_VDD33 : adc.INIT_ADC)) {
    platform.log("info", "ADC mode set for the sensors: restarting once");
    node.restart();
  }
}

let current: SensorNode | undefined = undefined;
const platform = new NodeMcuPlatform(cfg, () => (current !== undefined ? current.settings().dht_pin : 4));
current = new SensorNode(platform);
espfleet_node = current;
current.start();
switchAdcMode(current.settings().sensors);
if (inLfs() || loadable("cfg.lc", true) || loadable("cfg.lua", false)) {
  platform.builtin = undefined;
} else {
  platform.log("warn", "no cfg.lc or cfg.lua this Lua can load on flash: keeping the config code of app.lua in memory");
}
