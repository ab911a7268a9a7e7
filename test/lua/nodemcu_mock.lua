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

The NodeMCU modules are the virtual device's: device/lua/nodemcu/<module>.lua
(tmr, node, wifi, mqtt, sjson, file, adc, dht, rtctime, sntp; each file's
header says what device behaviour it copies) over device/lua/nodemcu_common.lua,
and crypto from device/lua/nodemcu_codecs.lua. This file is their host:
a virtual clock, an in-Lua broker as the MQTT transport, a wifi link the test
drives, and the controller below. It finds those files next to this one's
repository (busted, lua5.x) or, in a state without a file system (wasm Lua),
as the sources "nodemcu_common.lua" and "nodemcu/<module>.lua".

* Time is virtual. sim.advance(ms) runs, in time order, deferred events
  (network callbacks: never called from inside the call that caused them;
  node.task.post tasks) and due tmr timers (ties: registration order).
  Deferred events due at the same time run before timers. tmr.delay(us)
  moves the clock on (a busy wait: nothing runs).
* Callbacks are called directly: an error in one ends sim.advance (or the
  call that ran it) instead of restarting the device.
* The broker: CONNACK, SUBACK/UNSUBACK and PUBACK come latency_ms after the
  message was written; a QoS 0 PUBLISH is "written" (and its callback fires)
  from the event loop; lost PUBACKs hold the queue until the socket dies;
  clean sessions lose their subscriptions on disconnect; a second session
  with the same client id takes over (the first gets "offline"); messages
  whose full MQTT size exceeds max_message_length go to "overflow" with the
  part that arrived in the first TCP segment (dopts.mss, 1460).
* Wifi joins when the test says so (sim.wifi_up); sta.config{auto=true}
  while joined leaves and joins again from the event loop; losing wifi drops
  the MQTT session ("offline" from the event loop).
Where the mock is looser than the device: the ADC mode is not modelled
(adc.read and adc.readvdd33 always answer; set sensors.vdd_mv = 65535 for
"not in VDD33 mode"); node.LFS (opts.lfs) takes images by their contents
(no image decoding: the virtual device does that); node.restart() only
counts; no tls, rtcmem, uart, encoder or bit modules, no
node.dsleep/bootreason/setonerror/input/compile.

The mock itself uses no io/os/C modules; cjson is used when `require` finds
it, otherwise (or with opts.json == "pure") the pure-Lua codec.

Controller (the table M.install returns):
  now, advance(ms), pending(), schedule(delay_ms, fn, ...), timers()
  wifi_up([ip]), wifi_down([reason]), wifi = {config, mode, connected, ip, events}
  broker = {up, acks (bool | fn(msg)), connack (0 = accept), fail_reason (-5),
    latency_ms (0), published, retained, subscriptions, lwt, clients_created,
    connects (one entry per client:connect, with the will given at that time),
    publish_calls, publish_errors, lost_acks, drop([{offline=false | offline_after_ms=N}]),
    deliver(topic, payload[, {qos=, mss=}]) -> "message" | "overflow" | nil}
  files, fs_full, fs_total, sensors = {adc, vdd_mv, dht = {status, temp, humi}},
  dht_reads, dht_log, restarts, console, chipid, json ({encode, decode, null}),
  NULL, ntp_time (sntp answers), lfs_reloads, lfs_modules, modules,
  loadfile(name), dofile(name), uninstall()
]]

local M = {}

local unpack = rawget(table, "unpack") or rawget(_G, "unpack")
local load_string = rawget(_G, "loadstring") or load
local floor = math.floor

M.TMR_MAX_MS = 6870947

-- ---------------------------------------------------------------------------
-- the shared emulation (device/lua)
-- ---------------------------------------------------------------------------

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
local copy_table = common.copy_table

-- The module constructors, loaded once (each install makes fresh modules).
local new = {}
for _, name in ipairs({ "tmr", "node", "wifi", "mqtt", "sjson", "file", "adc", "dht", "rtctime", "sntp" }) do
  new[name] = load_shared("nodemcu/" .. name .. ".lua")()
end

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

M.pure_json = common.pure_json

-- The globals install() sets (and uninstall() restores), in node.info's order.
local MODULES = { "tmr", "node", "wifi", "mqtt", "sjson", "file", "adc", "dht", "rtctime", "sntp", "crypto" }

local BSSID = "aa:bb:cc:dd:ee:ff"
local NETMASK, GATEWAY = "255.255.255.0", "192.168.1.1"

--- What a node.LFS.reload that succeeded raises: the chip restarts there.
M.RESTARTED = "mock: restarted by node.LFS.reload"

--- Install the NodeMCU globals and return the simulation controller.
-- opts: chipid (12345678), capture_print (false), echo (print captured lines
-- too), json ("pure" to skip cjson), rtctime / sntp (install those modules),
-- unix_time (rtctime set at boot), dofile (install a global dofile reading
-- sim.files), tls (true: secure MQTT connections are available),
-- crypto (install the crypto module: the virtual device's pure-Lua SHA/HMAC),
-- heap_total (44*1024), env (table to install into, default _G), files,
-- fs_total, history_limit, max_events_per_advance,
-- lfs = { size = bytes of the partition (128 KB; 0 = none), modules = name ->
-- Lua source held in LFS, images = file contents -> modules (name -> source)
-- or the error text node.LFS.reload gives for that file }: a successful
-- reload keeps the modules in sim.lfs_modules (for the next boot: pass them
-- as opts.lfs.modules) and ends in error(M.RESTARTED).
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
    json = common.pure_json(common.make_null())
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

  -- Firmware callbacks run directly: their errors reach the test.
  local function call(fn, ...)
    if type(fn) == "function" then
      return fn(...)
    end
  end

  -- What every module gets (see the headers in device/lua/nodemcu/).
  local ctx = {
    C = common,
    now = function()
      return sim.now
    end,
    seq = next_seq,
    callback = call,
    console = function(line)
      record(sim.console, line)
    end,
    chipid = function()
      return sim.chipid
    end,
    json = json,
    file = { store = sim },
    tmr = {
      delay = function(us)
        sim.now = sim.now + us / 1000 -- busy loop: time passes, nothing runs
      end,
    },
  }

  local tmr, timers = new.tmr(ctx)

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
        local t = timers.earliest(target)
        local e = take_deferred(t and t.due or target)
        if e then
          -- a deferred event due no later than the next timer runs first
          if e.at > sim.now then
            sim.now = e.at
          end
          e.fn(unpack(e.args, 1, e.args.n))
        elseif t then
          sim.now = t.due
          timers.fire(t)
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

  --- Armed timers, for debugging: { {interval=, mode=, due=}, ... }
  function sim.timers()
    local list = {}
    for t in pairs(timers.armed) do
      list[#list + 1] = { interval = t.ms, mode = t.mode, due = t.due, regseq = t.regseq }
    end
    table.sort(list, function(a, b)
      return a.due < b.due or (a.due == b.due and a.regseq < b.regseq)
    end)
    return list
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

  -- ---- node: heap against heap_total, restarts counted, LFS by image contents
  local heap_total = opts.heap_total or 44 * 1024
  local heap_baseline = collectgarbage("count")
  local function heap_used()
    return (collectgarbage("count") - heap_baseline) * 1024
  end
  local node_tasks
  local tasks_posted = false
  local function run_tasks()
    tasks_posted = false
    local list = node_tasks.take_tasks()
    for _, t in ipairs(list or {}) do
      call(t.fn, t.prio)
    end
  end
  local lfs = nil
  if opts.lfs then
    local lfs_size = opts.lfs.size or 128 * 1024
    local images = opts.lfs.images or {}
    local loaded, names = {}, nil
    for name, source in pairs(opts.lfs.modules or {}) do
      loaded[name] = assert(load_string(source, "=" .. name))
      names = names or {}
      names[#names + 1] = name
    end
    if names then
      table.sort(names)
    end
    sim.lfs_modules = opts.lfs.modules or {}
    sim.lfs_reloads = {}
    lfs = {
      partitions = function()
        return { lfs_addr = lfs_size > 0 and 0xa0000 or 0, lfs_size = lfs_size, spiffs_addr = 0x100000,
          spiffs_size = sim.fs_total }
      end,
      modules = loaded,
      names = names,
      used = 0,
      reloading = function(name)
        sim.lfs_reloads[#sim.lfs_reloads + 1] = name
      end,
      read = function(name)
        return sim.files[name]
      end,
      check = function(_, data)
        local image = images[data]
        if image == nil then
          return "incorrect LFS header signature"
        elseif type(image) == "string" then
          return image
        end
        return nil
      end,
      reload = function(name)
        sim.lfs_modules = images[sim.files[name]]
        sim.restarts = sim.restarts + 1
        error(M.RESTARTED, 0)
      end,
    }
  end
  ctx.node = {
    heap = function()
      local free = floor(heap_total - heap_used())
      if free < 0 then
        free = 0
      end
      return free
    end,
    heap_used = heap_used,
    restart = function()
      sim.restarts = sim.restarts + 1
    end,
    wake = function()
      if not tasks_posted then
        tasks_posted = true
        post(0, run_tasks)
      end
    end,
    flashid = 1458400,
    version = { git_commit_id = "mock", git_release = "3.0-mock", git_commit_dts = "0" },
    build = function()
      local names = {}
      for _, name in ipairs(MODULES) do
        if env[name] ~= nil then
          names[#names + 1] = name
        end
      end
      return opts.tls ~= false, table.concat(names, ",")
    end,
    lfs = lfs,
  }
  local node
  node, node_tasks = new.node(ctx)

  -- ---- wifi: the test joins (sim.wifi_up) and leaves (sim.wifi_down) -------
  local join_ip = "192.168.1.50"
  local drop_client -- defined with the broker below
  local wifi_events
  local ASSOC_LEAVE, BEACON_TIMEOUT = 8, 200
  ctx.wifi = {
    mac = string.format("5c:cf:7f:%02x:%02x:%02x", floor(sim.chipid / 65536) % 256, floor(sim.chipid / 256) % 256,
      sim.chipid % 256),
    link = {
      join = function(_, again)
        -- Joining happens when the test says so (sim.wifi_up); sta.config{auto}
        -- while joined leaves and joins again, and the events are delivered again.
        if again and sim.wifi.connected then
          post(0, function()
            if sim.wifi.connected then
              wifi_events.disconnected(ASSOC_LEAVE, sim.wifi.ssid, BSSID)
              wifi_events.connected(sim.wifi.ssid, BSSID, 6)
              wifi_events.got_ip(join_ip, NETMASK, GATEWAY)
            end
          end)
        end
      end,
      leave = function()
        if sim.wifi.connected then
          post(0, function()
            sim.wifi_down(ASSOC_LEAVE)
          end)
        end
      end,
      event = function(event, info)
        record(sim.wifi.events, { event = event, info = info, at = sim.now })
      end,
    },
  }
  local wifi
  wifi, wifi_events = new.wifi(ctx)
  sim.wifi = wifi_events.state -- { config, mode, connected, ip, ... } of the station
  sim.wifi.ssid = "espfleet-test"
  sim.wifi.events = {}

  --- The station joins the network: STA_CONNECTED, then STA_GOT_IP {IP=...}.
  function sim.wifi_up(ip)
    if ip then
      join_ip = ip
    end
    wifi_events.connected(sim.wifi.ssid, BSSID, 6)
    wifi_events.got_ip(join_ip, NETMASK, GATEWAY)
  end

  --- The station loses the network: STA_DISCONNECTED {reason=N}; an MQTT
  -- session on top of it dies too ("offline" follows from the event loop).
  function sim.wifi_down(reason)
    wifi_events.disconnected(reason or BEACON_TIMEOUT, sim.wifi.ssid, BSSID)
    if drop_client then
      drop_client({ offline_after_ms = 0 })
    end
  end

  -- ---- mqtt: the in-Lua broker as the transport ------------------------------
  local CONN_FAIL_SERVER_NOT_FOUND = -5
  local broker = {
    up = true, -- TCP connects and CONNACK is sent
    acks = true, -- PUBACKs come back (boolean, or function(message) -> boolean)
    connack = 0, -- CONNACK return code; non-zero refuses the session
    fail_reason = CONN_FAIL_SERVER_NOT_FOUND, -- reason when up == false
    latency_ms = 0, -- delay of CONNACK/SUBACK/PUBACK
    published = {}, -- { topic, payload, qos, retain, at, client, will? } as the broker received them
    published_count = 0, -- all of them, also when history_limit trims `published`
    retained = {}, -- topic -> payload
    subscriptions = {}, -- topic -> qos, of the connected client
    lwt = nil, -- last will given with client:lwt()
    clients_created = 0,
    connects = {}, -- one entry per client:connect call
    publish_calls = 0, -- client:publish calls, including those that raised
    publish_errors = 0, -- client:publish calls that raised "not connected"
    client = nil, -- the connected client
  }
  sim.broker = broker
  sim.mqtt_clients = {}
  local Q -- what the transport reports to the clients (device/lua/nodemcu/mqtt.lua)

  local function acked(msg)
    local a = broker.acks
    if type(a) == "function" then
      return a(msg) and true or false
    end
    return a and true or false
  end

  local function received(client, topic, payload, qos, retain, will)
    broker.published_count = broker.published_count + 1
    record(broker.published, { topic = topic, payload = payload, qos = qos, retain = retain, at = sim.now,
      client = client.id, will = will })
    if retain then
      broker.retained[topic] = payload
    end
  end

  -- The head of a client's queue on the wire (from the event loop).
  local function wire(client, socket, msg)
    if socket ~= client.socket or not client.connected then
      return
    end
    if msg.kind == "publish" then
      received(client, msg.topic, msg.payload, msg.qos, msg.retain, nil)
      if msg.qos == 0 then
        Q.sent(client)
      elseif acked(msg) then
        post(broker.latency_ms, function()
          if socket == client.socket then
            Q.sent(client)
          end
        end)
      else
        -- the PUBACK is lost: the queue is stuck until the socket dies
        broker.lost_acks = (broker.lost_acks or 0) + 1
      end
    elseif msg.kind == "subscribe" or msg.kind == "unsubscribe" then
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
        Q.sent(client)
      end)
    elseif msg.kind == "disconnect" then
      -- clean DISCONNECT: no last will; the socket closes, then "offline" (3.x)
      Q.closed(client, true)
    end
  end

  ctx.mqtt = {
    ssl = opts.tls ~= false,
    created = function(client)
      broker.clients_created = broker.clients_created + 1
      sim.mqtt_clients[#sim.mqtt_clients + 1] = client
    end,
    will = function(client)
      broker.lwt = copy_table(client.will)
    end,
    publishing = function(client)
      broker.publish_calls = broker.publish_calls + 1
      if not client.connected then
        broker.publish_errors = broker.publish_errors + 1
      end
    end,
    connect = function(client, socket, p)
      record(broker.connects, {
        at = sim.now, client = client.id, host = p.host, port = p.port, secure = p.secure,
        user = client.user, password = client.password, keepalive = client.keepalive, clean = client.clean,
        will = client.will and copy_table(client.will) or nil,
      })
      post(broker.latency_ms, function()
        if socket ~= client.socket then
          return
        end
        if not sim.wifi.connected or not broker.up then
          Q.connfail(client, sim.wifi.connected and broker.fail_reason or CONN_FAIL_SERVER_NOT_FOUND)
          return
        end
        if broker.connack ~= 0 then
          -- TCP was up: CONNACK refused -> failure callback, then the socket
          -- closes and "offline" fires (mqtt_socket_disconnected, connected=true)
          Q.refused(client, broker.connack)
          post(0, function()
            if socket == client.socket then
              Q.closed(client, true)
            end
          end)
          return
        end
        -- another session with the same client id is taken over by this one
        local other = broker.client
        if other and other ~= client and other.id == client.id then
          Q.closed(other, false)
          post(0, Q.offline, other)
        end
        broker.client = client
        if client.clean then
          broker.subscriptions = {}
        end
        Q.connack(client)
      end)
    end,
    send = function(client, socket, msg)
      post(0, wire, client, socket, msg)
    end,
    released = function(client)
      if broker.client == client then
        broker.client = nil
        if client.clean then
          broker.subscriptions = {}
        end
      end
    end,
  }
  local mqtt
  mqtt, Q = new.mqtt(ctx)

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
  -- subscribed. dopts: qos (0), mss (1460, bytes of the first TCP segment).
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
      Q.overflow(client, topic, payload:sub(1, math.max(0, mss - header)))
      return "overflow"
    end
    Q.message(client, topic, payload)
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
    local w = client.will
    if w then
      received(client, w.topic, w.payload, w.qos, w.retain, true)
    end
    local was_connected = client.connected
    Q.closed(client, false)
    if was_connected and dopts.offline ~= false then
      if dopts.offline_after_ms then
        post(dopts.offline_after_ms, Q.offline, client)
      else
        Q.offline(client)
      end
    end
    return true
  end
  broker.drop = drop_client

  -- ---- sjson, file ---------------------------------------------------------
  local sjson = new.sjson(ctx)
  local file = new.file(ctx)

  -- ---- adc / dht: sim.sensors ----------------------------------------------
  ctx.adc = {
    mode = nil, -- not modelled: both readings answer
    read = function()
      return sim.sensors.adc
    end,
    vdd33 = function()
      return sim.sensors.vdd_mv
    end,
    set_mode = function(mode)
      sim.adc_mode = mode
    end,
  }
  local adc = new.adc(ctx)
  ctx.dht = {
    read = function(pin)
      sim.dht_reads = sim.dht_reads + 1
      record(sim.dht_log, { at = sim.now, pin = pin })
      local d = sim.sensors.dht
      return d.status or 0, d.temp, d.humi
    end,
  }
  local dht = new.dht(ctx)

  -- ---- rtctime / sntp (optional modules) -------------------------------------
  local rtctime, rtc, sntp = nil, nil, nil
  if opts.rtctime then
    ctx.rtctime = { unix = opts.unix_time }
    rtctime, rtc = new.rtctime(ctx)
  end
  if opts.sntp then
    sim.sntp_syncs = 0
    local answers
    ctx.sntp = {
      rtc = rtc,
      --- sim.ntp_time (unix seconds at virtual time 0) answers, latency_ms later, while wifi is up.
      sync = function(id, _, autorepeat)
        sim.sntp_syncs = sim.sntp_syncs + 1
        sim.sntp_autorepeat = autorepeat
        post(broker.latency_ms, function()
          if sim.wifi.connected and sim.ntp_time then
            local t = sim.ntp_time + sim.now / 1000
            local sec = floor(t)
            answers.done(id, sec, floor((t - sec) * 1000000))
          else
            answers.failed(id, sim.wifi.connected and 2 or 1, "mock: no NTP answer")
          end
        end)
      end,
    }
    sntp, answers = new.sntp(ctx)
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
