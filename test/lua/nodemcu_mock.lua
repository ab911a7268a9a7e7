-- luacheck: std max
--[[
NodeMCU (ESP8266, firmware 3.x) mock for running the built firmware under
plain Lua 5.1 / 5.3, busted, or a wasm Lua 5.1 without io/os/C modules.

  local M = require("nodemcu_mock")      -- or dofile / load the text
  local sim = M.install({ chipid = 42, capture_print = true })
  sim.files["config.json"] = '{"interval_ms":1000}'
  sim.dofile("app.lua")                  -- runs sim.files["app.lua"]
  sim.wifi_up(); sim.advance(0)
  sim.advance(5000)
  print(#sim.broker.published)
  sim.uninstall()

What is emulated, and where it follows the NodeMCU sources rather than an
idealised API (app/modules/{tmr,mqtt,file,dht,wifi}.c, docs/modules/*.md):

* Time is virtual. sim.advance(ms) runs, in time order, deferred events
  (network callbacks: never called from inside the call that caused them) and
  due tmr timers (ties: registration order). Deferred events due at the same
  time run before timers.
* tmr: register() checks 1 <= interval <= 6870947 and raises otherwise;
  register() does not start; start() on a running timer returns false and does
  not restart; ALARM_SINGLE unregisters itself before its callback runs;
  ALARM_SEMI stays registered but stopped; interval() re-arms a running timer.
* mqtt: one publish-callback slot per client ("the last callback function
  defined will be called for ALL publish commands"); outgoing messages are a
  strict FIFO: a QoS 1 PUBLISH holds the queue until its PUBACK arrives, QoS 0
  fires the callback when sent. publish/subscribe raise "not connected" when
  the socket is down; connect raises "already connected" when it is up;
  close() sends DISCONNECT through the queue and "offline" fires afterwards
  (3.x). A refused CONNACK fires the failure callback and then "offline"
  (the TCP socket was up). Incoming messages whose full MQTT size exceeds
  max_message_length go to "overflow" with the part that arrived in the first
  TCP segment. Clean sessions lose their subscriptions on disconnect.
* file: SPIFFS-like: flat names of at most 31 bytes, rename() fails when the
  target exists, open() returns nil when a file to read is missing.
* dht.read(pin) raises "dht N does not exist" for pins outside 1..12, returns
  floats and -999 values on failure.
* wifi.sta.config{auto=true} disconnects and reconnects (events are delivered
  again); wifi.sta.connect() while connected does nothing; eventmon callbacks
  only see events that happen after they were registered.

The mock itself uses no io/os/C modules; cjson is used when `require` finds
it, otherwise (or with opts.json == "pure") a small JSON codec below.

Controller (the table M.install returns):
  now, advance(ms), pending(), schedule(delay_ms, fn, ...), timers()
  wifi_up([ip]), wifi_down([reason]), wifi = {config, mode, connected, events}
  broker = {up, acks (bool | fn(msg)), connack (0 = accept), fail_reason (-5),
    latency_ms (0), published, retained, subscriptions, lwt, clients_created,
    connects (one entry per client:connect, with the will given at that time),
    publish_calls, publish_errors, drop([{offline=false | offline_after_ms=N}]),
    deliver(topic, payload[, {qos=, mss=}]) -> "message" | "overflow" | nil}
  files, fs_full, fs_total, sensors = {adc, vdd_mv, dht = {status, temp, humi}},
  dht_reads, dht_log, restarts, console, chipid, json ({encode, decode, null}),
  NULL, loadfile(name), dofile(name), uninstall()
]]

local M = {}

local unpack = rawget(table, "unpack") or rawget(_G, "unpack")
local load_string = rawget(_G, "loadstring") or load
local floor = math.floor

M.TMR_MAX_MS = 6870947

-- ---------------------------------------------------------------------------
-- JSON (pure Lua, sjson/cjson compatible enough for the firmware)
-- ---------------------------------------------------------------------------

-- The pure-Lua pieces this mock shares with the virtual device (the sjson
-- codec, argument checks, the file module) live in device/lua/nodemcu_common.lua.
-- It is found next to this file's repository (busted, lua5.x) or, in a state
-- without a file system (wasm Lua), as the source "nodemcu_common.lua".
local function load_shared(name)
  local info = rawget(_G, "debug") and debug.getinfo(1, "S")
  local dir = info and info.source:match("^@(.*[/\\])") or ""
  local tried = {}
  for _, path in ipairs({ dir .. "../../device/lua/" .. name, "device/lua/" .. name, name }) do
    local chunk = loadfile(path)
    if chunk then
      return chunk
    end
    tried[#tried + 1] = path
  end
  error("nodemcu_mock: cannot load " .. name .. " (tried " .. table.concat(tried, ", ") .. ")", 2)
end
local common = load_shared("nodemcu_common.lua")()
local make_null, pure_json = common.make_null, common.pure_json

local function cjson_backend()
  local ok, cjson = pcall(require, "cjson")
  if not ok or type(cjson) ~= "table" then
    return nil
  end
  local c = cjson.new and cjson.new() or cjson
  if c.decode_max_depth then
    c.decode_max_depth(20) -- sjson's default depth
  end
  if c.encode_max_depth then
    c.encode_max_depth(20)
  end
  return {
    null = cjson.null,
    encode = function(v)
      return c.encode(v)
    end,
    decode = function(s)
      return c.decode(s)
    end,
  }
end

M.pure_json = pure_json

-- ---------------------------------------------------------------------------
-- helpers
-- ---------------------------------------------------------------------------

local argerror, checkinteger, checkstring, copy_table =
  common.argerror, common.checkinteger, common.checkstring, common.copy_table

local MODULES = { "tmr", "node", "wifi", "mqtt", "sjson", "file", "adc", "dht", "rtctime", "sntp", "crypto" }

-- ---------------------------------------------------------------------------
-- install
-- ---------------------------------------------------------------------------

--- Install the NodeMCU globals and return the simulation controller.
-- opts: chipid (12345678), capture_print (false), json ("pure" to skip cjson),
-- rtctime / sntp (install those modules), unix_time (rtctime set at boot),
-- dofile (install a global dofile reading sim.files), tls (true),
-- crypto (install the crypto module: the virtual device's pure-Lua SHA/HMAC),
-- heap_total (44*1024), env (table to install into, default _G), files.
--- What a node.LFS.reload that succeeded raises: the chip restarts there.
M.RESTARTED = "mock: restarted by node.LFS.reload"

function M.install(opts)
  opts = opts or {}
  local env = opts.env or _G
  local sim = {}
  sim.now = 0
  sim.files = {}
  if opts.files then
    for k, v in pairs(opts.files) do
      sim.files[k] = v
    end
  end
  sim.fs_full = false
  sim.fs_total = opts.fs_total or 3 * 1024 * 1024
  sim.restarts = 0
  sim.console = {}
  sim.dht_reads = 0
  sim.dht_log = {}
  sim.sensors = {
    adc = 512,
    vdd_mv = 3300,
    dht = { status = 0, temp = 21.5, humi = 40.2 },
  }
  sim.chipid = opts.chipid or 12345678
  sim.max_events_per_advance = opts.max_events_per_advance or 2000000

  local json = nil
  if opts.json ~= "pure" then
    json = cjson_backend()
  end
  if not json then
    json = pure_json(make_null())
  end
  sim.json = json
  sim.NULL = json.null

  -- ---- event loop --------------------------------------------------------
  local seq = 0
  local function next_seq()
    seq = seq + 1
    return seq
  end
  local deferred = {} -- { at, seq, fn, args }
  -- Armed timers only: an idle tmr object nobody references can be collected,
  -- a running one is anchored (NodeMCU keeps a registry ref while it runs).
  local armed = {}
  local function set_running(t, on)
    t.running = on
    armed[t] = on or nil
  end

  -- History lists (published, connects, console, ...) keep at most
  -- sim.history_limit entries when it is set (long heap benchmarks).
  sim.history_limit = opts.history_limit
  local function record(list, item)
    list[#list + 1] = item
    local limit = sim.history_limit
    if limit and #list > limit then
      table.remove(list, 1)
    end
  end
  local running = false

  local function post(delay, fn, ...)
    deferred[#deferred + 1] = {
      at = sim.now + (delay or 0), seq = next_seq(), fn = fn,
      args = { n = select("#", ...), ... },
    }
  end
  sim.post = post

  --- Run fn(...) at sim.now + delay_ms, from the event loop (test hook).
  function sim.schedule(delay_ms, fn, ...)
    post(delay_ms, fn, ...)
  end

  local function take_deferred(limit)
    local best, best_i = nil, nil
    for i, e in ipairs(deferred) do
      if e.at <= limit and (best == nil or e.at < best.at or (e.at == best.at and e.seq < best.seq)) then
        best, best_i = e, i
      end
    end
    if best then
      table.remove(deferred, best_i)
    end
    return best
  end

  local function next_timer(limit)
    local best = nil
    for t in pairs(armed) do
      if t.running and t.due <= limit and (best == nil or t.due < best.due or (t.due == best.due and t.regseq < best.regseq)) then
        best = t
      end
    end
    return best
  end

  local fire_timer -- defined with tmr below

  --- Advance virtual time by ms, running everything that falls due on the way.
  function sim.advance(ms)
    ms = ms or 0
    if type(ms) ~= "number" or ms < 0 then
      error("sim.advance: ms must be a number >= 0", 2)
    end
    if running then
      error("sim.advance called from inside a callback", 2)
    end
    running = true
    local target = sim.now + ms
    local count = 0
    local traceback = rawget(_G, "debug") and debug.traceback
    local ok, err = xpcall(function()
      while true do
        count = count + 1
        if count > sim.max_events_per_advance then
          error("sim.advance: more than " .. sim.max_events_per_advance .. " events; runaway loop?", 0)
        end
        local t = next_timer(target)
        local e = take_deferred(t and t.due or target)
        if e then
          -- a deferred event due no later than the next timer runs first
          if t and e.at > t.due then
            error("internal: event ordering") -- cannot happen
          end
          if e.at > sim.now then
            sim.now = e.at
          end
          e.fn(unpack(e.args, 1, e.args.n))
        elseif t then
          sim.now = t.due
          fire_timer(t)
        else
          break
        end
      end
    end, function(e)
      return traceback and traceback(tostring(e), 2) or tostring(e)
    end)
    running = false
    if not ok then
      error(err, 0)
    end
    sim.now = target
  end

  --- Number of deferred events waiting (network callbacks not yet delivered).
  function sim.pending()
    return #deferred
  end

  -- ---- print ---------------------------------------------------------------
  local saved = {}
  for _, name in ipairs(MODULES) do
    saved[name] = rawget(env, name)
  end
  saved.print = rawget(env, "print")
  saved.dofile = rawget(env, "dofile")
  local original_print = print

  if opts.capture_print then
    env.print = function(...)
      local parts = {}
      for i = 1, select("#", ...) do
        parts[#parts + 1] = tostring((select(i, ...)))
      end
      local line = table.concat(parts, "\t")
      record(sim.console, line)
      if opts.echo then
        original_print(line)
      end
    end
  end

  -- ---- tmr ---------------------------------------------------------------
  local tmr = { ALARM_SINGLE = 0, ALARM_AUTO = 1, ALARM_SEMI = 2 }
  local Timer = {}
  Timer.__index = Timer

  local function check_interval(ms, fname)
    ms = checkinteger(ms, 2, fname)
    if ms < 1 or ms > M.TMR_MAX_MS then
      argerror(2, fname, "invalid interval " .. tostring(ms) .. "; Range: 1-" .. M.TMR_MAX_MS)
    end
    return ms
  end

  function tmr.create()
    local t = setmetatable({ mode = nil, running = false, ms = 0, regseq = 0, due = 0 }, Timer)
    return t
  end

  function Timer:register(ms, mode, fn)
    ms = check_interval(ms, "register")
    mode = checkinteger(mode, 3, "register")
    if mode ~= 0 and mode ~= 1 and mode ~= 2 then
      argerror(3, "register", "Invalid mode")
    end
    if type(fn) ~= "function" then
      argerror(4, "register", "Must be function")
    end
    set_running(self, false)
    self.mode = mode
    self.ms = ms
    self.fn = fn
    self.regseq = next_seq()
  end

  function Timer:start()
    if self.mode == nil or self.running then
      return false
    end
    set_running(self, true)
    self.due = sim.now + self.ms
    return true
  end

  function Timer:stop()
    if self.mode ~= nil and self.running then
      set_running(self, false)
      return true
    end
    return false
  end

  function Timer:unregister()
    set_running(self, false)
    self.mode = nil
    self.fn = nil
  end

  function Timer:interval(ms)
    ms = check_interval(ms, "interval")
    if self.mode ~= nil then
      self.ms = ms
      if self.running then
        self.due = sim.now + ms
      end
    end
  end

  function Timer:alarm(ms, mode, fn)
    self:register(ms, mode, fn)
    return self:start()
  end

  function Timer:state()
    if self.mode == nil then
      return nil
    end
    return self.running, self.mode
  end

  fire_timer = function(t)
    local fn = t.fn
    if t.mode == tmr.ALARM_SINGLE then
      t.mode = nil
      t.fn = nil
      set_running(t, false)
    elseif t.mode == tmr.ALARM_SEMI then
      set_running(t, false)
    else
      t.due = t.due + t.ms
    end
    fn(t)
  end

  function tmr.time()
    return floor(sim.now / 1000) % 2147483648
  end

  function tmr.now()
    return floor(sim.now * 1000) % 2147483648
  end

  function tmr.delay(us)
    us = checkinteger(us, 1, "delay")
    if us <= 0 then
      error("wrong arg range", 0)
    end
    sim.now = sim.now + us / 1000 -- busy loop: time passes, nothing runs
  end

  function tmr.wdclr() end

  function tmr.softwd(s)
    sim.softwd = s
  end

  function tmr.ccount()
    return floor(sim.now * 80000) % 4294967296
  end

  --- Armed timers, for debugging: { {interval=, mode=, due=}, ... }
  function sim.timers()
    local list = {}
    for t in pairs(armed) do
      list[#list + 1] = { interval = t.ms, mode = t.mode, due = t.due, regseq = t.regseq }
    end
    table.sort(list, function(a, b)
      return a.due < b.due or (a.due == b.due and a.regseq < b.regseq)
    end)
    return list
  end

  -- ---- node --------------------------------------------------------------
  local heap_total = opts.heap_total or 44 * 1024
  local heap_baseline = collectgarbage("count")
  local node = {}
  function node.chipid()
    return sim.chipid
  end
  function node.heap()
    local used = (collectgarbage("count") - heap_baseline) * 1024
    local free = floor(heap_total - used)
    if free < 0 then
      free = 0
    end
    return free
  end
  function node.restart()
    sim.restarts = sim.restarts + 1
  end

  -- LFS, only on a firmware built with it (opts.lfs = { size = bytes of the
  -- partition, 0 = none; modules = name -> Lua source held in LFS;
  -- images = file contents -> modules (name -> source) or the error text
  -- node.LFS.reload gives for that file }). The mock does not decode images:
  -- the virtual device (device/) does, with the project's LFS reader.
  -- A successful reload keeps the modules in sim.lfs_modules (for the next
  -- boot: pass them as opts.lfs.modules) and ends in error(M.RESTARTED).
  if opts.lfs then
    local lfs_size = opts.lfs.size or 128 * 1024
    local loaded, names = {}, nil
    for name, source in pairs(opts.lfs.modules or {}) do
      loaded[name] = assert((loadstring or load)(source, "=" .. name))
      names = names or {}
      names[#names + 1] = name
    end
    if names then
      table.sort(names)
    end
    sim.lfs_modules = opts.lfs.modules or {}
    sim.lfs_reloads = {}
    function node.getpartitiontable()
      return { lfs_addr = lfs_size > 0 and 0xa0000 or 0, lfs_size = lfs_size, spiffs_addr = 0x100000, spiffs_size = sim.fs_total }
    end
    node.LFS = {
      get = function(name)
        return loaded[name]
      end,
      list = function()
        if names == nil then
          return nil
        end
        local copy = {}
        for i, n in ipairs(names) do
          copy[i] = n
        end
        return copy
      end,
      reload = function(name)
        sim.lfs_reloads[#sim.lfs_reloads + 1] = name
        if lfs_size == 0 then
          return "No LFS partition allocated"
        end
        local data = sim.files[name]
        if data == nil then
          return "LFS image file not found"
        end
        local image = (opts.lfs.images or {})[data]
        if image == nil then
          return "incorrect LFS header signature"
        elseif type(image) == "string" then
          return image
        end
        sim.lfs_modules = image
        sim.restarts = sim.restarts + 1
        error(M.RESTARTED, 0)
      end,
    }
  end
  function node.info(group)
    if group == nil then
      return 3, 0, 0, sim.chipid, 1458400, 4096, 0, 40000000
    elseif group == "hw" then
      return { chip_id = sim.chipid, flash_id = 1458400, flash_size = 4096, flash_mode = 0, flash_speed = 40000000 }
    elseif group == "sw_version" then
      return { node_version_major = 3, node_version_minor = 0, node_version_revision = 0,
        git_branch = "release", git_commit_id = "mock", git_release = "3.0-mock", git_commit_dts = "0" }
    elseif group == "build_config" then
      local modules = {}
      for _, name in ipairs(MODULES) do
        if env[name] ~= nil then
          modules[#modules + 1] = name
        end
      end
      return { ssl = opts.tls ~= false, lfs_size = 0, modules = table.concat(modules, ","),
        number_type = "float" }
    end
    error("bad argument #1 to 'info' (invalid group)", 0)
  end
  function node.uptime()
    local us = floor(sim.now * 1000)
    return us % 4294967296, floor(us / 4294967296)
  end
  function node.random(a, b)
    if a == nil then
      return math.random()
    end
    return math.random(a, b)
  end

  -- ---- wifi --------------------------------------------------------------
  local wifi = {
    NULLMODE = 0, STATION = 1, SOFTAP = 2, STATIONAP = 3,
    STA_IDLE = 0, STA_CONNECTING = 1, STA_WRONGPWD = 2, STA_APNOTFOUND = 3, STA_FAIL = 4, STA_GOTIP = 5,
  }
  wifi.sta = {}
  wifi.eventmon = {
    STA_CONNECTED = 0, STA_DISCONNECTED = 1, STA_AUTHMODE_CHANGE = 2, STA_GOT_IP = 3,
    STA_DHCP_TIMEOUT = 4, AP_STACONNECTED = 5, AP_STADISCONNECTED = 6, AP_PROBEREQRECVED = 7,
    WIFI_MODE_CHANGED = 8,
    reason = { UNSPECIFIED = 1, AUTH_EXPIRE = 2, AUTH_LEAVE = 3, ASSOC_EXPIRE = 4, ASSOC_LEAVE = 8,
      BEACON_TIMEOUT = 200, NO_AP_FOUND = 201, AUTH_FAIL = 202, ASSOC_FAIL = 203, HANDSHAKE_TIMEOUT = 204 },
  }
  sim.wifi = { mode = nil, config = nil, connected = false, handlers = {}, ip = "192.168.1.50",
    ssid = "espfleet-test", events = {} }

  local function wifi_event(event, info)
    record(sim.wifi.events, { event = event, info = info, at = sim.now })
    local fn = sim.wifi.handlers[event]
    if fn then
      fn(info)
    end
  end

  local function got_ip_info()
    return { IP = sim.wifi.ip, netmask = "255.255.255.0", gateway = "192.168.1.1" }
  end

  local drop_client -- defined with mqtt below

  function wifi.setmode(mode)
    sim.wifi.mode = checkinteger(mode, 1, "setmode")
    return sim.wifi.mode
  end
  function wifi.getmode()
    return sim.wifi.mode or wifi.STATION
  end
  function wifi.sta.config(cfg)
    if type(cfg) ~= "table" then
      argerror(1, "config", "config table not found!")
    end
    sim.wifi.config = copy_table(cfg)
    if cfg.auto ~= false and sim.wifi.connected then
      -- wifi_station_disconnect(); ...; wifi_station_connect(): the station
      -- leaves and joins again, and the events are delivered again.
      post(0, function()
        if sim.wifi.connected then
          wifi_event(wifi.eventmon.STA_DISCONNECTED,
            { SSID = sim.wifi.ssid, BSSID = "aa:bb:cc:dd:ee:ff", reason = wifi.eventmon.reason.ASSOC_LEAVE })
          wifi_event(wifi.eventmon.STA_CONNECTED, { SSID = sim.wifi.ssid, BSSID = "aa:bb:cc:dd:ee:ff", channel = 6 })
          wifi_event(wifi.eventmon.STA_GOT_IP, got_ip_info())
        end
      end)
    end
    return true
  end
  function wifi.sta.connect()
    -- Joining happens when the test says so (sim.wifi_up); joining while
    -- already joined does nothing and reports nothing.
    sim.wifi.connect_calls = (sim.wifi.connect_calls or 0) + 1
  end
  function wifi.sta.disconnect()
    if sim.wifi.connected then
      post(0, function()
        sim.wifi_down(wifi.eventmon.reason.ASSOC_LEAVE)
      end)
    end
  end
  function wifi.sta.getip()
    if sim.wifi.connected then
      return sim.wifi.ip, "255.255.255.0", "192.168.1.1"
    end
    return nil
  end
  function wifi.sta.status()
    return sim.wifi.connected and wifi.STA_GOTIP or wifi.STA_CONNECTING
  end
  function wifi.eventmon.register(event, fn)
    sim.wifi.handlers[event] = fn
  end
  function wifi.eventmon.unregister(event)
    sim.wifi.handlers[event] = nil
  end

  --- The station joins the network: STA_CONNECTED, then STA_GOT_IP {IP=...}.
  function sim.wifi_up(ip)
    if ip then
      sim.wifi.ip = ip
    end
    sim.wifi.connected = true
    wifi_event(wifi.eventmon.STA_CONNECTED, { SSID = sim.wifi.ssid, BSSID = "aa:bb:cc:dd:ee:ff", channel = 6 })
    wifi_event(wifi.eventmon.STA_GOT_IP, got_ip_info())
  end

  --- The station loses the network: STA_DISCONNECTED {reason=N}; an MQTT
  -- session on top of it dies too ("offline" follows from the event loop).
  function sim.wifi_down(reason)
    sim.wifi.connected = false
    wifi_event(wifi.eventmon.STA_DISCONNECTED,
      { SSID = sim.wifi.ssid, BSSID = "aa:bb:cc:dd:ee:ff", reason = reason or wifi.eventmon.reason.BEACON_TIMEOUT })
    if drop_client then
      drop_client({ offline_after_ms = 0 })
    end
  end

  -- ---- mqtt --------------------------------------------------------------
  local mqtt = {
    CONN_FAIL_SERVER_NOT_FOUND = -5, CONN_FAIL_NOT_A_CONNACK_MSG = -4, CONN_FAIL_DNS = -3,
    CONN_FAIL_TIMEOUT_RECEIVING = -2, CONN_FAIL_TIMEOUT_SENDING = -1, CONNACK_ACCEPTED = 0,
    CONNACK_REFUSED_PROTOCOL_VER = 1, CONNACK_REFUSED_ID_REJECTED = 2, CONNACK_REFUSED_SERVER_UNAVAILABLE = 3,
    CONNACK_REFUSED_BAD_USER_OR_PASS = 4, CONNACK_REFUSED_NOT_AUTHORIZED = 5,
  }
  local broker = {
    up = true, -- TCP connects and CONNACK is sent
    acks = true, -- PUBACKs come back (boolean, or function(message) -> boolean)
    connack = 0, -- CONNACK return code; non-zero refuses the session
    fail_reason = mqtt.CONN_FAIL_SERVER_NOT_FOUND, -- reason when up == false
    latency_ms = 0, -- delay of CONNACK/SUBACK/PUBACK
    published = {}, -- { topic, payload, qos, retain, at, client, will? } as the broker received them
    published_count = 0, -- all of them, also when history_limit trims `published`
    retained = {}, -- topic -> payload
    subscriptions = {}, -- topic -> qos, of the connected client
    lwt = nil, -- last will given with client:lwt()
    clients_created = 0,
    connects = {}, -- one entry per client:connect call
    publish_calls = 0, -- client:publish calls, including those that raised
    publish_errors = 0, -- client:publish calls that raised
    client = nil, -- the connected client
  }
  sim.broker = broker
  sim.mqtt_clients = {}

  local Client = {}
  Client.__index = Client

  local function call_slot(client, slot, ...)
    local fn = client.slots[slot]
    if fn then
      fn(client, ...)
    end
  end

  local function acked(msg)
    local a = broker.acks
    if type(a) == "function" then
      return a(msg) and true or false
    end
    return a and true or false
  end

  local pump
  local function schedule_pump(client, delay)
    if not client.pump_scheduled then
      client.pump_scheduled = true
      post(delay or 0, pump, client, client.socket)
    end
  end

  local function socket_closed(client, fire_offline)
    local was_connected = client.connected
    client.connected = false
    client.connecting = nil
    client.queue = {}
    client.socket = client.socket + 1 -- events of the old socket are ignored
    client.pump_scheduled = false
    if broker.client == client then
      broker.client = nil
      if client.clean then
        broker.subscriptions = {}
      end
    end
    if was_connected and fire_offline then
      call_slot(client, "offline")
    end
  end

  local function publish_will(client)
    local w = client.will
    if w then
      broker.published_count = broker.published_count + 1
      record(broker.published, { topic = w.topic, payload = w.payload, qos = w.qos,
        retain = w.retain, at = sim.now, client = client.id, will = true })
      if w.retain then
        broker.retained[w.topic] = w.payload
      end
    end
  end

  -- Send the head of the outgoing queue; PUBACK/SUBACK come latency_ms later.
  pump = function(client, socket)
    if socket ~= client.socket then
      return
    end
    client.pump_scheduled = false
    local msg = client.queue[1]
    if not client.connected or not msg then
      return
    end
    if msg.waiting then
      return -- a QoS 1 PUBLISH without PUBACK holds the queue
    end
    if msg.kind == "publish" then
      if not msg.sent then
        msg.sent = true
        broker.published_count = broker.published_count + 1
        record(broker.published, { topic = msg.topic, payload = msg.payload, qos = msg.qos,
          retain = msg.retain, at = sim.now, client = client.id })
        if msg.retain then
          broker.retained[msg.topic] = msg.payload
        end
      end
      if msg.qos == 0 then
        table.remove(client.queue, 1)
        call_slot(client, "puback")
        if client.queue[1] then
          schedule_pump(client)
        end
      elseif acked(msg) then
        msg.waiting = true
        post(broker.latency_ms, function()
          if socket ~= client.socket then
            return
          end
          table.remove(client.queue, 1)
          call_slot(client, "puback")
          if client.queue[1] then
            schedule_pump(client)
          end
        end)
      else
        msg.waiting = true -- the PUBACK is lost: the queue is stuck until the socket dies
        broker.lost_acks = (broker.lost_acks or 0) + 1
      end
    elseif msg.kind == "subscribe" or msg.kind == "unsubscribe" then
      msg.waiting = true
      post(broker.latency_ms, function()
        if socket ~= client.socket then
          return
        end
        for topic, qos in pairs(msg.topics) do
          if msg.kind == "subscribe" then
            broker.subscriptions[topic] = qos
          else
            broker.subscriptions[topic] = nil
          end
        end
        table.remove(client.queue, 1)
        call_slot(client, msg.kind == "subscribe" and "suback" or "unsuback")
        if client.queue[1] then
          schedule_pump(client)
        end
      end)
    elseif msg.kind == "disconnect" then
      -- clean DISCONNECT: no last will; the socket closes, then "offline" (3.x)
      socket_closed(client, true)
    end
  end

  local function enqueue(client, msg)
    client.queue[#client.queue + 1] = msg
    schedule_pump(client)
  end

  function mqtt.Client(clientid, keepalive, user, pass, cleansession, max_message_length)
    broker.clients_created = broker.clients_created + 1
    if type(clientid) ~= "string" then
      clientid = string.format("NodeMCU_%x", sim.chipid)
    end
    local client = setmetatable({
      id = clientid,
      keepalive = (type(keepalive) == "number" and keepalive ~= 0) and keepalive or 60,
      user = type(user) == "string" and user or nil,
      password = type(pass) == "string" and pass or nil,
      clean = cleansession == nil or (type(cleansession) == "number" and cleansession ~= 0),
      max_message_length = (type(max_message_length) == "number" and max_message_length ~= 0)
        and max_message_length or 1024,
      slots = {},
      queue = {},
      connected = false,
      socket = 0,
    }, Client)
    sim.mqtt_clients[#sim.mqtt_clients + 1] = client
    return client
  end

  function Client:lwt(topic, message, qos, retain)
    if type(topic) ~= "string" and type(topic) ~= "number" then
      argerror(2, "lwt", "need lwt topic")
    end
    if type(message) ~= "string" and type(message) ~= "number" then
      argerror(3, "lwt", "need lwt message")
    end
    self.will = {
      topic = tostring(topic), payload = tostring(message),
      qos = type(qos) == "number" and qos % 4 or 0,
      retain = type(retain) == "number" and retain ~= 0 or false,
    }
    broker.lwt = copy_table(self.will)
  end

  local EVENTS = { connect = true, connfail = true, offline = true, message = true, overflow = true,
    puback = true, suback = true, unsuback = true }

  function Client:on(event, fn)
    if not EVENTS[event] then
      argerror(2, "on", "invalid option '" .. tostring(event) .. "'")
    end
    if type(fn) ~= "function" then
      argerror(3, "on", "function expected, got " .. type(fn))
    end
    self.slots[event] = fn
  end

  function Client:connect(host, ...)
    if self.connected then
      error("already connected", 0)
    end
    -- argument parsing as in mqtt_socket_connect: host[, port[, secure]][, ok[, fail]]
    local args = { n = select("#", ...), ... }
    local i = 1
    local port, secure = 1883, false
    if i <= args.n and type(args[i]) == "number" then
      port = args[i]
      i = i + 1
    end
    if i <= args.n and (type(args[i]) == "number" or type(args[i]) == "boolean") then
      if type(args[i]) == "number" then
        secure = args[i] ~= 0
        record(sim.console, "Warning, deprecated API! mqtt.connect secure parameter as integer. It will be removed in the future.")
      else
        secure = args[i]
      end
      i = i + 1
    end
    if type(args[i]) == "function" then
      self.slots.connect = args[i]
    end
    i = i + 1
    if type(args[i]) == "function" then
      self.slots.connfail = args[i]
    end
    if secure and opts.tls == false then
      error("ssl not available", 0)
    end
    if type(host) ~= "string" then
      error("invalid domain", 0)
    end
    local will = self.will and copy_table(self.will) or nil
    record(broker.connects, {
      at = sim.now, client = self.id, host = host, port = port, secure = secure,
      user = self.user, password = self.password, keepalive = self.keepalive, clean = self.clean,
      will = will,
    })
    self.socket = self.socket + 1
    local socket = self.socket
    self.connecting = true
    post(broker.latency_ms, function()
      if socket ~= self.socket then
        return
      end
      self.connecting = nil
      if not sim.wifi.connected or not broker.up then
        call_slot(self, "connfail", sim.wifi.connected and broker.fail_reason or mqtt.CONN_FAIL_SERVER_NOT_FOUND)
        return
      end
      if broker.connack ~= 0 then
        -- TCP was up: CONNACK refused -> failure callback, then the socket
        -- closes and "offline" fires (mqtt_socket_disconnected, connected=true)
        self.connected = true
        call_slot(self, "connfail", broker.connack)
        post(0, function()
          if socket == self.socket then
            socket_closed(self, true)
          end
        end)
        return
      end
      -- another session with the same client id is taken over by this one
      local other = broker.client
      if other and other ~= self and other.id == self.id then
        socket_closed(other, false)
        post(0, call_slot, other, "offline")
      end
      self.connected = true
      broker.client = self
      if self.clean then
        broker.subscriptions = {}
      end
      call_slot(self, "connect")
    end)
  end

  function Client:close()
    if self.connected then
      enqueue(self, { kind = "disconnect" })
    end
  end

  function Client:publish(topic, payload, qos, retain, fn)
    broker.publish_calls = broker.publish_calls + 1
    if not self.connected then
      broker.publish_errors = broker.publish_errors + 1
      error("not connected", 0)
    end
    topic = checkstring(topic, 2, "publish")
    payload = checkstring(payload, 3, "publish")
    qos = checkinteger(qos, 4, "publish")
    retain = checkinteger(retain, 5, "publish")
    if type(fn) == "function" then
      self.slots.puback = fn
    end
    enqueue(self, { kind = "publish", topic = topic, payload = payload, qos = qos, retain = retain ~= 0 })
    return true
  end

  function Client:subscribe(topic, qos, fn)
    if not self.connected then
      error("not connected", 0)
    end
    local topics = {}
    if type(topic) == "table" then
      for k, v in pairs(topic) do
        topics[checkstring(k, 2, "subscribe")] = checkinteger(v, 2, "subscribe")
      end
      fn = qos
    else
      topics[checkstring(topic, 2, "subscribe")] = checkinteger(qos, 3, "subscribe")
    end
    if type(fn) == "function" then
      self.slots.suback = fn
    end
    enqueue(self, { kind = "subscribe", topics = topics })
    return true
  end

  function Client:unsubscribe(topic, fn)
    if not self.connected then
      error("not connected", 0)
    end
    local topics = {}
    if type(topic) == "table" then
      for k in pairs(topic) do
        topics[checkstring(k, 2, "unsubscribe")] = true
      end
    else
      topics[checkstring(topic, 2, "unsubscribe")] = true
    end
    if type(fn) == "function" then
      self.slots.unsuback = fn
    end
    enqueue(self, { kind = "unsubscribe", topics = topics })
    return true
  end

  local function topic_matches(filter, topic)
    if filter == topic then
      return true
    end
    local fi, ti = 1, 1
    local fparts, tparts = {}, {}
    for p in (filter .. "/"):gmatch("([^/]*)/") do
      fparts[#fparts + 1] = p
    end
    for p in (topic .. "/"):gmatch("([^/]*)/") do
      tparts[#tparts + 1] = p
    end
    while fi <= #fparts do
      if fparts[fi] == "#" then
        return true
      end
      if ti > #tparts or (fparts[fi] ~= "+" and fparts[fi] ~= tparts[ti]) then
        return false
      end
      fi, ti = fi + 1, ti + 1
    end
    return ti > #tparts
  end

  local function remaining_length_bytes(n)
    if n < 128 then
      return 1
    elseif n < 16384 then
      return 2
    elseif n < 2097152 then
      return 3
    end
    return 4
  end

  --- Deliver a PUBLISH from the broker to the connected client, if it is
  -- subscribed. opts: qos (0), mss (1460, bytes of the first TCP segment).
  -- Returns "message", "overflow" or nil (not delivered).
  function broker.deliver(topic, payload, dopts)
    dopts = dopts or {}
    local client = broker.client
    if not client or not client.connected then
      return nil
    end
    local subscribed = false
    for filter in pairs(broker.subscriptions) do
      if topic_matches(filter, topic) then
        subscribed = true
      end
    end
    if not subscribed then
      return nil
    end
    payload = payload or ""
    local qos = dopts.qos or 0
    local variable = 2 + #topic + (qos > 0 and 2 or 0) + #payload
    local total = 1 + remaining_length_bytes(variable) + variable
    if total > client.max_message_length then
      -- delivered to "overflow" with what arrived in the first TCP segment
      local mss = dopts.mss or 1460
      local header = total - #payload
      local data = payload:sub(1, math.max(0, mss - header))
      if client.slots.overflow then
        if data ~= "" then
          client.slots.overflow(client, topic, data)
        else
          client.slots.overflow(client, topic)
        end
      end
      return "overflow"
    end
    if client.slots.message then
      if payload ~= "" then
        client.slots.message(client, topic, payload)
      else
        client.slots.message(client, topic) -- NodeMCU passes no data for an empty payload
      end
    end
    return "message"
  end

  --- The broker goes away under the connected client: the last will is
  -- published, publish() raises from now on, and "offline" fires — at once
  -- (default), after dopts.offline_after_ms from the event loop, or never
  -- (dopts.offline == false).
  drop_client = function(dopts)
    dopts = dopts or {}
    local client = broker.client
    if not client then
      return false
    end
    publish_will(client)
    local was_connected = client.connected
    socket_closed(client, false)
    if was_connected and dopts.offline ~= false then
      if dopts.offline_after_ms then
        post(dopts.offline_after_ms, call_slot, client, "offline")
      else
        call_slot(client, "offline")
      end
    end
    return true
  end
  broker.drop = drop_client

  -- ---- sjson -------------------------------------------------------------
  local sjson = { NULL = json.null }
  function sjson.encode(v, _)
    return json.encode(v)
  end
  function sjson.decode(s, _)
    return json.decode(s)
  end
  function sjson.decoder()
    local parts, result, done = {}, nil, false
    local d = {}
    function d.write(_, s)
      parts[#parts + 1] = s
      local ok, value = pcall(json.decode, table.concat(parts))
      if ok then
        result, done = value, true
        return value
      end
      return nil
    end
    function d.result()
      if not done then
        error("decode not complete", 0)
      end
      return result
    end
    return d
  end
  function sjson.encoder(t)
    local text = json.encode(t)
    local pos = 1
    local e = {}
    function e.read(_, size)
      size = size or 1024
      if pos > #text then
        return nil
      end
      local chunk = text:sub(pos, pos + size - 1)
      pos = pos + size
      return chunk
    end
    return e
  end

  -- ---- file --------------------------------------------------------------
  local file = common.file_module(sim)

  -- ---- adc / dht -----------------------------------------------------------
  local adc = { INIT_ADC = 0, INIT_VDD33 = 0xFF }
  function adc.read(channel)
    channel = checkinteger(channel, 1, "read")
    if channel ~= 0 then
      error("adc " .. channel .. " does not exist", 0)
    end
    return sim.sensors.adc
  end
  function adc.readvdd33()
    -- 65535 when the ADC is not in VDD33 mode (set sim.sensors.vdd_mv = 65535)
    return sim.sensors.vdd_mv
  end
  function adc.force_init_mode(mode)
    local changed = sim.adc_mode ~= mode
    sim.adc_mode = mode
    return changed
  end

  local dht = { OK = 0, ERROR_CHECKSUM = -1, ERROR_TIMEOUT = -2 }
  local function dht_read(pin)
    pin = checkinteger(pin, 1, "read")
    if pin < 1 or pin > 12 then
      error("dht " .. pin .. " does not exist", 0)
    end
    sim.dht_reads = sim.dht_reads + 1
    record(sim.dht_log, { at = sim.now, pin = pin })
    local d = sim.sensors.dht
    local status = d.status or 0
    if status ~= dht.OK then
      return status, -999.0, -999.0, 0.0, 0.0
    end
    local t, h = d.temp + 0.0, d.humi + 0.0
    local function dec(v)
      local int = v >= 0 and floor(v) or -floor(-v)
      local x = (v - int) * 1000
      return (x >= 0 and floor(x) or -floor(-x)) + 0.0
    end
    return status, t, h, dec(t), dec(h)
  end
  dht.read, dht.read11, dht.readxx = dht_read, dht_read, dht_read

  -- ---- rtctime / sntp (optional modules) -----------------------------------
  local rtctime, sntp = nil, nil
  if opts.rtctime then
    rtctime = {}
    sim.rtc = opts.unix_time and { base = opts.unix_time - sim.now / 1000 } or nil
    function rtctime.get()
      if not sim.rtc then
        return 0, 0, 0
      end
      local t = sim.rtc.base + sim.now / 1000
      local sec = floor(t)
      return sec, floor((t - sec) * 1000000), 0
    end
    function rtctime.set(sec, usec)
      if sec == nil then
        sim.rtc = nil
        return
      end
      sim.rtc = { base = sec + (usec or 0) / 1000000 - sim.now / 1000 }
    end
  end
  if opts.sntp then
    sntp = {}
    sim.sntp_syncs = 0
    function sntp.sync(server, ok_fn, fail_fn, autorepeat)
      sim.sntp_syncs = sim.sntp_syncs + 1
      sim.sntp_autorepeat = autorepeat
      post(broker.latency_ms, function()
        if sim.wifi.connected and sim.ntp_time then
          if rtctime then
            rtctime.set(sim.ntp_time + sim.now / 1000)
          end
          if type(ok_fn) == "function" then
            ok_fn(floor(sim.ntp_time + sim.now / 1000), 0, server or "pool.ntp.org", {})
          end
        elseif type(fail_fn) == "function" then
          fail_fn(sim.wifi.connected and 2 or 1, "mock: no NTP answer")
        end
      end)
    end
  end

  -- ---- crypto (optional module): the virtual device's pure-Lua one ----------
  local crypto = nil
  if opts.crypto then
    local codecs = load_shared("nodemcu_codecs.lua")(common, function(name)
      return sim.files[name]
    end, function(fn)
      fn()
    end)
    crypto = codecs.crypto
  end

  -- ---- dofile from the simulated file system ------------------------------
  --- Load sim.files[name] as a chunk (what dofile does on the device).
  function sim.loadfile(name)
    local text = sim.files[name]
    if text == nil then
      return nil, "cannot open " .. name
    end
    local setfenv_fn = rawget(_G, "setfenv")
    if setfenv_fn then -- Lua 5.1: chunks get the globals of the install env
      local fn, err = load_string(text, "@" .. name)
      if fn then
        setfenv_fn(fn, env)
      end
      return fn, err
    end
    return load(text, "@" .. name, "t", env)
  end

  --- dofile(name) against sim.files; raises like the device does.
  function sim.dofile(name)
    local chunk, err = sim.loadfile(name)
    if not chunk then
      error(err, 2)
    end
    return chunk()
  end

  -- ---- install / uninstall --------------------------------------------------
  local installed = {
    tmr = tmr, node = node, wifi = wifi, mqtt = mqtt, sjson = sjson, file = file,
    adc = adc, dht = dht, rtctime = rtctime, sntp = sntp, crypto = crypto,
  }
  for _, name in ipairs(MODULES) do
    env[name] = installed[name]
  end
  if opts.dofile then
    env.dofile = sim.dofile
  end
  -- NodeMCU's Lua 5.3 is built with LUA_COMPAT_UNPACK and LUA_COMPAT_LOADSTRING
  -- (app/lua53/luaconf.h): the globals `unpack` and `loadstring` exist there,
  -- and TypeScriptToLua's 5.1 output uses `unpack`.
  saved.unpack = rawget(env, "unpack")
  saved.loadstring = rawget(env, "loadstring")
  if saved.unpack == nil then
    env.unpack = unpack
  end
  if saved.loadstring == nil then
    env.loadstring = load_string
  end
  sim.modules = installed

  function sim.uninstall()
    for _, name in ipairs(MODULES) do
      env[name] = saved[name]
    end
    env.print = saved.print
    env.dofile = saved.dofile
    env.unpack = saved.unpack
    env.loadstring = saved.loadstring
  end

  return sim
end

return M
