-- luacheck: std max+busted
-- Shared setup for the busted specs in test/lua: a fresh NodeMCU mock per
-- test, the BUILT firmware (firmware/dist) loaded into it, and small readers
-- for what the broker and the file system saw.
local H = {}

local function script_dir()
  local source = debug.getinfo(1, "S").source
  if source:sub(1, 1) == "@" then
    local dir = source:sub(2):match("^(.*)[/\\][^/\\]*$")
    if dir then
      return dir
    end
  end
  return "test/lua"
end

H.DIR = script_dir()
H.ROOT = H.DIR .. "/../.."
H.mock = dofile(H.DIR .. "/nodemcu_mock.lua")

H.NODE_ID = "esp8266-12345678"
H.TOPIC = {
  -- readings: the one shared topic by default (topic_data "sensor_data"); the id is in the payload
  data = "sensor_data",
  config = "config_change",
  status = "status/" .. H.NODE_ID,
  ack = "config_ack/" .. H.NODE_ID,
  event = "event/" .. H.NODE_ID,
}

local cache = {}

--- Text of a file of the repository, relative to its root.
function H.read(path)
  local f = io.open(H.ROOT .. "/" .. path, "rb")
  if not f then
    return nil
  end
  local text = f:read("*a")
  f:close()
  return text
end

--- Where the built firmware is: firmware/dist, or $ESPFLEET_DIST (e.g. to run
-- the specs against a patched build elsewhere).
H.DIST = (os and os.getenv and os.getenv("ESPFLEET_DIST")) or (H.ROOT .. "/firmware/dist")

--- Text of a built firmware file; fails clearly when the build is missing.
function H.dist(name)
  if cache[name] == nil then
    local f = io.open(H.DIST .. "/" .. name, "rb")
    local text = f and f:read("*a")
    if f then
      f:close()
    end
    if text == nil then
      error(H.DIST .. "/" .. name .. " not found: run `npm run build:firmware` first", 2)
    end
    cache[name] = text
  end
  return cache[name]
end

local current = nil
local saved_random = math.random

local function drop_current()
  if current then
    current.uninstall()
    current = nil
  end
  _G.espfleet_node = nil
  _G.espfleet_stop = nil
end

--- Uninstall the current sim, the globals the firmware leaves behind and any
-- fixed math.random (use as after_each).
function H.cleanup()
  drop_current()
  math.random = saved_random -- luacheck: ignore 122
end

--- A fresh sim with app.lua and init.lua on its file system.
-- opts: everything M.install takes, plus config (table -> config.json),
-- files (name -> text, copied), no_app (leave app.lua out).
function H.new_sim(opts)
  drop_current()
  opts = opts or {}
  -- ESPFLEET_JSON=pure runs everything on the mock's pure-Lua JSON codec
  local install = { capture_print = true, dofile = true, json = os.getenv("ESPFLEET_JSON") }
  for k, v in pairs(opts) do
    if k ~= "config" and k ~= "files" and k ~= "no_app" then
      install[k] = v
    end
  end
  local sim = H.mock.install(install)
  current = sim
  if not opts.no_app then
    sim.files["app.lua"] = H.dist("app.lua")
  end
  sim.files["init.lua"] = H.dist("init.lua")
  for name, text in pairs(opts.files or {}) do
    sim.files[name] = text
  end
  if opts.config then
    sim.files["config.json"] = sim.json.encode(opts.config)
  end
  return sim
end

--- Run the app the way init.lua does (dofile("app.lua")).
function H.boot_app(sim)
  sim.dofile("app.lua")
  return sim
end

--- New sim + app running; opts.online: wifi up and the broker session open.
function H.start(opts)
  opts = opts or {}
  local sim = H.boot_app(H.new_sim(opts))
  if opts.online then
    H.go_online(sim)
  end
  return sim
end

--- Wifi up, then let the connect (and what follows it) happen.
function H.go_online(sim)
  sim.wifi_up()
  sim.advance(0)
  return sim
end

--- A new boot of the same device: same files, fresh RAM (a new sim).
function H.reboot(sim, opts)
  local files = {}
  for k, v in pairs(sim.files) do
    files[k] = v
  end
  opts = opts or {}
  local merged = { files = files, no_app = true, chipid = sim.chipid }
  for k, v in pairs(opts) do
    merged[k] = v
  end
  return H.new_sim(merged)
end

--- Fix math.random (reconnect jitter) to one value until cleanup.
function H.fix_random(value)
  math.random = function(a, b) -- luacheck: ignore 122
    if a == nil then
      return value
    end
    return saved_random(a, b)
  end
end

--- Broker entries for a topic (not counting last-will deliveries).
function H.messages(sim, topic)
  local list = {}
  for _, m in ipairs(sim.broker.published) do
    if m.topic == topic and not m.will then
      list[#list + 1] = m
    end
  end
  return list
end

--- Virtual times (ms) at which readings were published, in order.
function H.reading_times(sim)
  local list = {}
  for _, m in ipairs(H.messages(sim, H.TOPIC.data)) do
    list[#list + 1] = m.at
  end
  return list
end

--- Decoded payloads published on a topic, in order.
function H.json(sim, topic)
  local list = {}
  for _, m in ipairs(H.messages(sim, topic)) do
    list[#list + 1] = sim.json.decode(m.payload)
  end
  return list
end

function H.readings(sim)
  return H.json(sim, H.TOPIC.data)
end

function H.acks(sim)
  return H.json(sim, H.TOPIC.ack)
end

function H.events(sim, code)
  local list = {}
  for _, e in ipairs(H.json(sim, H.TOPIC.event)) do
    if code == nil or e.code == code then
      list[#list + 1] = e
    end
  end
  return list
end

--- seq numbers of the readings, in publish order.
function H.seqs(sim)
  local list = {}
  for _, r in ipairs(H.readings(sim)) do
    list[#list + 1] = r.seq
  end
  return list
end

--- The last reading, or nil.
function H.last_reading(sim)
  local r = H.readings(sim)
  return r[#r]
end

--- Decoded config.json (nil when absent).
function H.stored_config(sim)
  local text = sim.files["config.json"]
  if text == nil then
    return nil
  end
  return sim.json.decode(text)
end

--- Send a config_change (table or raw string) and let the node react.
function H.send_config(sim, body, topic)
  local payload = type(body) == "table" and sim.json.encode(body) or body
  local how = sim.broker.deliver(topic or H.TOPIC.config, payload, { qos = 1 })
  sim.advance(0)
  return how
end

--- First console line containing `text` (plain find), or nil.
function H.console_find(sim, text)
  for _, line in ipairs(sim.console) do
    if line:find(text, 1, true) then
      return line
    end
  end
  return nil
end

--- Is `list` 1, 2, ..., n (or first, first+1, ...)?
function H.consecutive(list, first)
  first = first or list[1]
  for i, v in ipairs(list) do
    if v ~= first + i - 1 then
      return false
    end
  end
  return true
end

--- Specs for firmware bugs that are known and reported. busted's `it` and
-- `pending` live in the spec file's (dynamic) environment, so the spec passes
-- `it` and a function calling `pending`:
--   local known_bug = H.known_bug(it, function(msg) pending(msg) end)
-- to get
-- known_bug(name, note, fn): the body runs every time; while it fails the
-- test is reported pending with `note`; once it passes the test fails, so the
-- marker gets removed. ESPFLEET_STRICT=1 runs the bodies as plain tests.
function H.known_bug(it, mark_pending)
  local strict = os and os.getenv and os.getenv("ESPFLEET_STRICT") == "1"
  return function(name, note, fn)
    it(name, function()
      if strict then
        return fn()
      end
      local ok, err = pcall(fn)
      if ok then
        error("known bug no longer reproduces; remove the known_bug marker (" .. note .. ")", 0)
      end
      local first = tostring(type(err) == "table" and (err.message or err[1]) or err):match("[^\n]*")
      mark_pending("KNOWN FIRMWARE BUG: " .. note .. " -- fails with: " .. first)
    end)
  end
end

return H
