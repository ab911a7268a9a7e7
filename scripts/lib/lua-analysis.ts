/**
 * Static facts about generated Lua, read from its text: which NodeMCU
 * modules it calls and which lualib functions the bundle carries.
 */

/** Modules of the NodeMCU firmware (nodemcu-firmware app/modules) a sensor node may touch. */
export const NODEMCU_MODULES = [
  "adc", "bit", "bme280", "crypto", "dht", "ds18b20", "encoder", "file", "gpio", "i2c",
  "mqtt", "net", "node", "ow", "pwm", "rtcmem", "rtctime", "sjson", "sntp", "spi",
  "tls", "tmr", "uart", "wifi",
];

/** Lua source with comments and string literals blanked, so only code is matched. */
export function codeOnly(lua: string): string {
  return lua
    .replace(/--\[(=*)\[[\s\S]*?\]\1\]/g, " ")
    .replace(/\[(=*)\[[\s\S]*?\]\1\]/g, '""')
    .replace(/"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'/g, '""')
    .replace(/--[^\n]*/g, " ");
}

/**
 * NodeMCU modules the code indexes as globals (`tmr.create`, `wifi.sta`).
 * A module only ever used behind a presence check (`type(sntp) ~= "nil"`,
 * `if rtctime then`) is optional: the firmware runs without it.
 */
export function analyseModules(lua: string): { required: string[]; optional: string[] } {
  const source = lua.replace(/type\((\w+)\)\s*[~=]=\s*"nil"/g, "__present($1)");
  const code = codeOnly(source);
  const required: string[] = [];
  const optional: string[] = [];
  for (const name of NODEMCU_MODULES) {
    const used = new RegExp(`(^|[^.:\\w])${name}\\s*[.:]`, "m").test(code);
    if (!used) {
      continue;
    }
    const guarded = code.includes(`__present(${name})`) || new RegExp(`if\\s+${name}\\s+then`).test(code);
    (guarded ? optional : required).push(name);
  }
  return { required, optional };
}

/** Names of the lualib functions defined in a TypeScriptToLua bundle. */
export function lualibExports(bundle: string): string[] {
  const names = new Set<string>();
  for (const match of bundle.matchAll(/local function (__TS__\w+)|local (__TS__\w+)\s*=\s*function/g)) {
    names.add(match[1] ?? match[2]);
  }
  return [...names].sort();
}
