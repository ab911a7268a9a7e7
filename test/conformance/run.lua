-- Runs one conformance scenario through the transpiled core (build/conformance/runner.lua)
-- and prints its trace as JSON. Usage: lua5.x run.lua <runner.lua> <scenario.json>
local cjson = require("cjson")
local runner_path, scenario_path = arg[1], arg[2]
local f = assert(io.open(scenario_path, "r"))
local scenario = cjson.decode(f:read("*a"))
f:close()
local runner = dofile(runner_path)
-- HMAC from the virtual device's pure-Lua crypto, so Lua checks signatures with its own SHA-256.
local root = (arg[0]:match("^(.*)/test/conformance/[^/]+$") or ".")
local C = dofile(root .. "/device/lua/nodemcu_common.lua")
local codecs = assert(loadfile(root .. "/device/lua/nodemcu_codecs.lua"))(C, function() return nil end, function(fn) fn() end)
local codec = {
  hmacSha256Hex = function(key, message)
    return codecs.crypto.toHex(codecs.crypto.hmac("sha256", message, key))
  end,
  encode = function(value) return cjson.encode(value) end,
  decode = function(text)
    local ok, value = pcall(cjson.decode, text)
    if ok then return value end
    return nil
  end,
}
io.write(cjson.encode(runner.runScenario(scenario, codec)))
