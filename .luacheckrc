-- luacheck for the built firmware (firmware/dist): only NodeMCU's globals exist there.
-- Run: luacheck firmware/dist   (npm test does)
std = "lua51"
max_line_length = false
-- Modules of a NodeMCU build (read-only), see scripts/lib/lua-analysis.ts.
read_globals = {
  "adc", "bit", "bme280", "crypto", "dht", "ds18b20", "encoder", "file", "gpio", "i2c",
  "mqtt", "net", "node", "ow", "pwm", "rtcmem", "rtctime", "sjson", "sntp", "spi",
  "tls", "tmr", "uart", "wifi",
}
-- Globals the firmware sets on purpose, for the REPL.
globals = { "espfleet_node", "espfleet_stop", "espfleet_ca_pinned" }
-- TypeScriptToLua's bundle prelude shadows `require` and leaves unused self/args.
local bundle = { ignore = { "612", "211", "212", "213", "231", "311", "411", "412", "421", "431", "432" } }
files["firmware/dist/app.lua"] = bundle
files["firmware/dist/cfg.lua"] = bundle
