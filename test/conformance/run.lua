-- Runs one conformance scenario through the transpiled core (build/conformance/runner.lua)
-- and prints its trace as JSON. Usage: lua5.x run.lua <runner.lua> <scenario.json>
local cjson = require("cjson")
local runner_path, scenario_path = arg[1], arg[2]
local f = assert(io.open(scenario_path, "r"))
local scenario = cjson.decode(f:read("*a"))
f:close()
local runner = dofile(runner_path)
local codec = {
  encode = function(value) return cjson.encode(value) end,
  decode = function(text)
    local ok, value = pcall(cjson.decode, text)
    if ok then return value end
    return nil
  end,
}
io.write(cjson.encode(runner.runScenario(scenario, codec)))
