-- luacheck: std lua51
-- luacheck: globals __wasm
--[[
The host side of one virtual device's boot: loaded into a fresh wasm32 Lua
state by device/lua-vm.ts with the NodeMCU modules of device/lua/nodemcu/
(the same ones the busted mock in test/lua uses), which it wires to the
JavaScript host; then the host runs init.lua through it. What the firmware
sees is documented behaviour, not an idealised API (see each module's file
and device/README.md). This file holds what is the device's alone: the
mailbox, the real-time clock, the heap budget and watchdog, error handling
and restarts, the REPL, loading from flash and NodeMCU's .lc layout.

Lua in wasm cannot call JavaScript, so everything that needs the host goes
through a mailbox:
  * the host enters Lua with __wasm.dev_enter(now_ms, kind, args...) to
    deliver one event (a timer is due, an MQTT packet, wifi got an IP, a REPL
    line, ...);
  * while it runs, Lua appends requests (console output, MQTT I/O, file
    writes, restart, ...) to an outbox;
  * dev_enter returns the outbox, the heap in use and when the next timer is
    due, in one string (see device/mailbox.ts for the format).
Synchronous answers (file contents, "not connected", the wifi state, sensor
values) come from state the host mirrored into Lua before entering.

The heap budget is checked after every entry and every 1000 VM instructions
inside one (a count hook): over the budget after a full collection, Lua gets
"not enough memory" and the host panics and reboots the device.

  chunk(C, B, X, settings, N): C = nodemcu_common.lua, B = nodemcu_bytecode.lua,
  X = nodemcu_codecs.lua (the chunk), N(name) = the constructor in
  nodemcu/<name>.lua.
]]

local C, B, X, settings, N = ...

local W = __wasm
local find, sub, gsub = string.find, string.sub, string.gsub
local concat = table.concat
local floor = math.floor
local collectgarbage, select, type, tostring, tonumber, pairs, ipairs, error, pcall, xpcall =
  collectgarbage, select, type, tostring, tonumber, pairs, ipairs, error, pcall, xpcall
local unpack = unpack or rawget(table, "unpack")
local loadstring = loadstring or load
local traceback, sethook = debug.traceback, debug.sethook
local clock = os and os.clock
local checkstring = C.checkstring

local G = _G
local modules = settings.modules -- name -> true: the emulated build
local budget = settings.budget -- bytes of Lua heap the firmware may use
local OOM = "not enough memory"
local WDT_SECONDS = settings.wdt_seconds or 3.2
local HOOK_EVERY = 1000

-- ---------------------------------------------------------------------------
-- mailbox
-- ---------------------------------------------------------------------------

local outbox, nout = {}, 0
local console_parts, nconsole = {}, 0
local out_bytes = 0 -- bytes held by the outbox: not the firmware's heap
local SEP_FIELD, SEP_RECORD = "\1", "\2"

local tohex, fromhex = C.tohex, C.fromhex

-- Fields cross as ASCII: text as is ("t"), anything with NUL, the separators
-- or bytes >= 0x80 as hex ("h") -- the bindings pass C strings through UTF-8.
local function enc(v)
  v = tostring(v)
  if find(v, "[%z\1\2\128-\255]") then
    return "h" .. tohex(v)
  end
  return "t" .. v
end

local function dec(a)
  local tag = sub(a, 1, 1)
  if tag == "t" then
    return sub(a, 2)
  elseif tag == "h" then
    return fromhex(sub(a, 2))
  elseif tag == "v" then
    local key = sub(a, 2)
    local v = W.vars[key]
    W.vars[key] = nil
    return v
  end
  return a
end

local function flush_console()
  if nconsole > 0 then
    local text = concat(console_parts, "", 1, nconsole)
    for i = nconsole, 1, -1 do
      console_parts[i] = nil
    end
    nconsole = 0
    nout = nout + 1
    outbox[nout] = "out" .. SEP_FIELD .. enc(text)
  end
end

--- Queue a request for the host.
local function req(kind, ...)
  flush_console()
  local rec = { kind }
  for i = 1, select("#", ...) do
    rec[i + 1] = enc((select(i, ...)))
  end
  local s = concat(rec, SEP_FIELD)
  out_bytes = out_bytes + #s + 17
  nout = nout + 1
  outbox[nout] = s
end

--- Console text (print, prompts): the host turns "\n" into "\r\n" like uart0_putc.
local function console(text)
  nconsole = nconsole + 1
  console_parts[nconsole] = text
  out_bytes = out_bytes + #text + 17
end

local function take_outbox()
  flush_console()
  local s = concat(outbox, SEP_RECORD, 1, nout)
  for i = nout, 1, -1 do
    outbox[i] = nil
  end
  nout = 0
  out_bytes = 0
  return s
end

-- ---------------------------------------------------------------------------
-- time, heap, errors
-- ---------------------------------------------------------------------------

local now = 0 -- ms since boot, set by the host at each entry
local entry_started = 0
local baseline = 0 -- collectgarbage("count") bytes of the bare emulator, set at the end of init
local STRING_COST = 17 -- a Lua string is a 16-byte header + contents + NUL on 32-bit
local store = { files = {}, fs_full = false, fs_total = settings.fs_total }
local fs_bytes_cache = nil
local D = { oom = false, wdt = false, halted = false, restart = nil }
local onerror = nil

local function fs_bytes()
  local total = fs_bytes_cache
  if total == nil then
    total = 0
    for name, data in pairs(store.files) do
      total = total + #data + #name + 2 * STRING_COST
    end
    fs_bytes_cache = total
  end
  return total
end

--- Bytes of heap the firmware holds: everything but the emulator itself, the
-- file contents (in flash on the device) and the outbox (the UART/TCP buffers).
local transient -- bytes of .lc conversion buffers (defined with the loaders)
local function used()
  return collectgarbage("count") * 1024 - baseline - fs_bytes() - out_bytes - transient
end

-- > 0 while an emulated C function (crypto) runs: on the device it works in
-- C memory, not the Lua heap, so its temporary strings are not the firmware's.
local native_depth = 0

local function heap_hook()
  if D.wdt then
    error("watchdog", 0)
  end
  if clock and clock() - entry_started > WDT_SECONDS then
    D.wdt = true
    error("watchdog", 0)
  end
  if native_depth == 0 and used() > budget then
    collectgarbage("collect")
    local u = used()
    if u > budget then
      -- Like a failed allocation: the firmware may catch it (pcall); if it
      -- escapes a callback, or the heap is still over at the end of the
      -- entry, the device panics.
      error(OOM, 0)
    end
  end
end

--- Error handler: the message with a traceback, without the emulator's own
-- frames (its modules are C on the device: chunks "=nodemcu…") and without
-- what called xpcall.
local function handler(e)
  if D.wdt then
    return "watchdog"
  end
  local msg = tostring(e)
  if msg == OOM then
    return OOM
  end
  local tb = traceback(msg, 2)
  local lines = {}
  for line in (tb .. "\n"):gmatch("([^\n]*)\n") do
    if find(line, "^%s*%[C%]: in function 'xpcall'") then
      break
    end
    if not find(line, "^%s*nodemcu[%w_]*:%d+:") and not find(line, "^%s*%[C%]: in function 'error'") then
      lines[#lines + 1] = line
    end
  end
  return concat(lines, "\n")
end

local function request_restart(reason)
  if D.restart == nil then
    D.restart = reason
    req("restart", reason)
  end
  D.halted = true
end

--- An error escaped a callback: NodeMCU 3.x reports it and restarts
-- (unless node.setonerror() installed a handler, which decides).
local function callback_failed(err)
  if D.unwinding then
    -- node.LFS.reload or node.setpartitiontable: the chip restarts and never returns to the caller.
    return
  end
  if err == OOM or D.oom then
    D.oom = true
    D.halted = true
    return
  end
  if D.wdt then
    D.halted = true
    return
  end
  if onerror then
    local ok = pcall(onerror, err)
    if ok then
      return
    end
  end
  console("Lua error: " .. tostring(err) .. "\n")
  request_restart("error")
end

--- Run a firmware callback like NodeMCU's luaL_pcallx does.
local function callback(fn, ...)
  if D.halted or type(fn) ~= "function" then
    return
  end
  local n = select("#", ...)
  local ok, err
  if n == 0 then
    ok, err = xpcall(fn, handler)
  else
    local args = { ... }
    ok, err = xpcall(function()
      return fn(unpack(args, 1, n))
    end, handler)
  end
  if not ok then
    callback_failed(err)
  end
end

--- The chip restarts in the middle of a call that never returns on the device
-- (node_setpartitiontable and luaL_lfsreload end in `while (1) {}`): unwind
-- the entry without reporting an error to the firmware or the REPL.
local function restart_now(reason)
  request_restart(reason)
  D.unwinding = true
  error("restarting", 0)
end

-- ---------------------------------------------------------------------------
-- print and the file system
-- ---------------------------------------------------------------------------

local function lua_print(...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do
    parts[i] = tostring((select(i, ...)))
  end
  console(concat(parts, "\t") .. "\n")
end

-- Writes reach the host folder at the end of each entry (or before a
-- remove/rename of the same file): the offset where each file changed.
local dirty = {}
local function flush_file(name, data_name)
  local from = dirty[name]
  if from ~= nil then
    dirty[name] = nil
    local data = store.files[data_name or name]
    if data ~= nil then
      req("fs_put", name, from, #data, sub(data, from + 1))
    end
  end
end
local function flush_files()
  for name in pairs(dirty) do
    flush_file(name)
  end
end

--- Forget the host's check of a file's contents (checked anew when the host sees the new ones).
-- Only when there is one: in Lua 5.1, t[k] = nil for an absent k inserts the key.
local function forget_verdict(name)
  if settings.lfs_verdicts[name] ~= nil then
    settings.lfs_verdicts[name] = nil
  end
end

local file_hooks = {
  store = store,
  changed = function(name, offset)
    forget_verdict(name)
    local d = dirty[name]
    if d == nil or offset < d then
      dirty[name] = offset
    end
    fs_bytes_cache = nil
  end,
  removed = function(name)
    forget_verdict(name)
    dirty[name] = nil
    fs_bytes_cache = nil
    req("fs_remove", name)
  end,
  renamed = function(from, to)
    local verdict = settings.lfs_verdicts[from]
    forget_verdict(from)
    forget_verdict(to)
    if verdict ~= nil then
      settings.lfs_verdicts[to] = verdict
    end
    flush_file(from, to)
    fs_bytes_cache = nil
    req("fs_rename", from, to)
  end,
  formatted = function()
    settings.lfs_verdicts = {}
    dirty = {}
    fs_bytes_cache = nil
    req("fs_format")
  end,
}

-- .lc files are in NodeMCU's layout (see nodemcu_bytecode.lua); the
-- conversion buffers are not the firmware's heap: the device loads in place.
transient = 0
local function relayout(s, to_nodemcu)
  transient = transient + 2 * #s
  local ok, result = pcall(B.relayout, s, to_nodemcu)
  transient = transient - 2 * #s
  if not ok then
    error(result, 0)
  end
  return result
end

local stock_loadstring, stock_load = loadstring, load
local BINARY = "\27Lua"

--- loadstring as NodeMCU's: source, or a binary chunk in NodeMCU's layout.
local function dev_loadstring(s, name)
  if type(s) == "string" and sub(s, 1, 4) == BINARY then
    local ok, stock = pcall(relayout, s, false)
    if not ok then
      return nil, (name or "?") .. ": " .. stock
    end
    s = stock
  end
  return stock_loadstring(s, name)
end

--- load(reader, name): text streams through; a binary chunk is gathered and converted.
local function dev_load(reader, name)
  if type(reader) ~= "function" then
    return dev_loadstring(reader, name)
  end
  local first = reader()
  if type(first) == "string" and sub(first, 1, 4) == BINARY then
    local parts, n, size = { first }, 1, #first
    transient = transient + 2 * size
    while true do
      local piece = reader()
      if piece == nil or piece == "" then
        break
      end
      n = n + 1
      parts[n] = piece
      size = size + #piece
      transient = transient + 2 * #piece
    end
    local whole = concat(parts)
    parts = nil -- luacheck: ignore 311
    local f, err = dev_loadstring(whole, name)
    transient = transient - 2 * size
    return f, err
  end
  local pending = first
  return stock_load(function()
    if pending ~= nil then
      local p = pending
      pending = nil
      return p
    end
    return reader()
  end, name)
end

local function fs_loadfile(name)
  name = checkstring(name, 1, "loadfile")
  local src = store.files[name]
  if src == nil then
    return nil, "cannot open " .. name
  end
  return dev_loadstring(src, "@" .. name)
end

local function fs_dofile(name)
  local f, err = fs_loadfile(name)
  if not f then
    error(err, 2)
  end
  return f()
end

-- ---------------------------------------------------------------------------
-- sensors (values mirrored by the host's sensor model at each entry)
-- ---------------------------------------------------------------------------

local sensors = { temp = 21.5, humi = 45.0, dht_status = 0, adc = 512, vdd_mv = 3300 }
local function set_sensors(s)
  if s == nil or s == "" then
    return
  end
  local t, h, st, a, v = s:match("^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)$")
  sensors.temp, sensors.humi = tonumber(t) or sensors.temp, tonumber(h) or sensors.humi
  sensors.dht_status, sensors.adc, sensors.vdd_mv = tonumber(st) or 0, tonumber(a) or sensors.adc, tonumber(v) or 3300
end

-- ---------------------------------------------------------------------------
-- LFS: the modules of the image in the partition, loaded by the host before
-- the heap baseline was taken: their code and constants are in flash on the
-- device, so they are not the firmware's heap here either.
-- ---------------------------------------------------------------------------

local lfs_functions, lfs_names = {}, nil
for key, value in pairs(W.vars) do
  if sub(key, 1, 4) == "lfs:" then
    local name = sub(key, 5)
    lfs_functions[name] = assert(loadstring(value, "=" .. name))
    W.vars[key] = nil
    lfs_names = lfs_names or {}
    lfs_names[#lfs_names + 1] = name
  end
end
if lfs_names then
  table.sort(lfs_names)
end

--- Free heap node.LFS.reload needs to inflate and write an image (the issue's measurement on the device).
local LFS_RELOAD_HEAP = 24 * 1024

-- ---------------------------------------------------------------------------
-- the NodeMCU modules (device/lua/nodemcu/), on this host
-- ---------------------------------------------------------------------------

local seq = 0
local repl_line -- defined with the REPL below

local ctx = {
  C = C,
  now = function()
    return now
  end,
  seq = function()
    seq = seq + 1
    return seq
  end,
  callback = callback,
  console = function(line)
    console(line .. "\n")
  end,
  chipid = function()
    return settings.chipid
  end,
  json = C.pure_json(C.make_null()),
  file = file_hooks,
}

local file = N("file")(ctx)
local tmr, timers = N("tmr")(ctx)

ctx.node = {
  -- NodeMCU runs its emergency GC before allocations (legc EGC_ALWAYS), so
  -- the heap holds next to no garbage: the free heap is reported after a collection.
  heap = function()
    collectgarbage("collect")
    local free = floor(budget - used())
    return free > 0 and free or 0
  end,
  heap_used = used,
  restart = function()
    request_restart("restart")
  end,
  dsleep = function(us)
    if D.restart == nil then
      D.restart = "dsleep"
      req("dsleep", floor(us / 1000))
    end
    D.halted = true
  end,
  bootreason = function()
    return settings.boot_raw, settings.boot_reason
  end,
  setonerror = function(fn)
    onerror = fn
  end,
  repl = function(line)
    repl_line(line)
  end,
  --- name.lua to name.lc in the file system (bytecode of this 32-bit Lua, NodeMCU's layout).
  compile = function(name)
    local src = store.files[name]
    if src == nil then
      error("cannot open " .. name, 0)
    end
    local f, err = loadstring(src, "@" .. name)
    if not f then
      error(err, 0)
    end
    local lc = (gsub(name, "%.lua$", "")) .. ".lc"
    store.files[lc] = relayout(string.dump(f), true)
    file_hooks.changed(lc, 0)
  end,
  flashid = settings.flashid,
  version = { git_commit_id = "virtual", git_release = "3.0-espfleet-virtual", git_commit_dts = "202001010000" },
  build = function()
    return modules.tls == true, settings.module_list -- comma-separated, as the banner shows them
  end,
  lfs = {
    partitions = function()
      return settings
    end,
    irom0_end = settings.irom0_end,
    set_partitions = function(pt)
      req("partitions", pt.lfs_addr, pt.lfs_size, pt.spiffs_addr, pt.spiffs_size)
      restart_now("restart")
    end,
    modules = lfs_functions,
    names = lfs_names,
    time = settings.lfs_time,
    used = settings.lfs_used,
    read = function(name)
      return store.files[name]
    end,
    --- The host checked every image file it has seen (settings.lfs_verdicts and
    -- lfs_verdict events); a file written in this very boot is checked by the
    -- host after the restart, which then leaves the partition as it was.
    check = function(name, data)
      if #data <= 200 or sub(data, 1, 2) ~= "\31\139" then
        -- lflash.c: no luac.cross output is that small, and anything but gzip fails the first inflate.
        return "read error on LFS image file"
      end
      local verdict = settings.lfs_verdicts[name]
      if verdict ~= nil and verdict ~= "ok" then
        return verdict
      end
      collectgarbage("collect")
      if budget - used() < LFS_RELOAD_HEAP then
        return "Memory allocation error"
      end
      return nil
    end,
    reload = function(name)
      flush_files()
      req("lfs_reload", name)
      console("LFS region updated.  Restarting.\n")
      restart_now("restart")
    end,
  },
}
local node, tasks = N("node")(ctx)

ctx.wifi = {
  saved = settings.wifi_saved,
  mac = settings.mac,
  link = {
    join = function(ssid, again)
      req("wifi_connect", ssid, again and 1 or 0)
    end,
    leave = function()
      req("wifi_disconnect")
    end,
    save = function(ssid, pwd, auto)
      req("wifi_save", ssid, pwd, auto and 1 or 0)
    end,
  },
}
local wifi, wifi_events = N("wifi")(ctx)

-- mqtt: a real mqtt.js connection per socket on the host. Clients by handle
-- are weak, so an unreferenced, disconnected client is collected; one with a
-- socket open is anchored in `live`, as the C module does.
local clients = setmetatable({}, { __mode = "v" })
local live = {} -- luacheck: ignore 241 (an anchor: only ever written)
local next_handle = 0
ctx.mqtt = {
  ssl = modules.tls == true,
  created = function(client)
    next_handle = next_handle + 1
    client.h = next_handle
    clients[client.h] = client
  end,
  connect = function(client, socket, p)
    live[client.h] = client
    local w = client.will
    req("mqtt_connect", client.h, socket, p.host, p.port, p.secure and 1 or 0, client.id, client.keepalive,
      client.user or "", client.password or "", client.clean and 1 or 0, client.max_message_length,
      w and w.topic or "", w and w.payload or "", w and w.qos or 0, w and w.retain and 1 or 0,
      client.user ~= nil and 1 or 0, client.password ~= nil and 1 or 0)
  end,
  send = function(client, socket, msg)
    local kind = msg.kind
    if kind == "publish" then
      req("mqtt_publish", client.h, socket, msg.topic, msg.payload, msg.qos, msg.retain and 1 or 0)
    elseif kind == "subscribe" then
      local args = {}
      for topic, qos in pairs(msg.topics) do
        args[#args + 1] = topic
        args[#args + 1] = qos
      end
      req("mqtt_subscribe", client.h, socket, unpack(args))
    elseif kind == "unsubscribe" then
      local args = {}
      for topic in pairs(msg.topics) do
        args[#args + 1] = topic
      end
      req("mqtt_unsubscribe", client.h, socket, unpack(args))
    elseif kind == "disconnect" then
      req("mqtt_close", client.h, socket)
    end
  end,
  released = function(client)
    live[client.h] = nil
  end,
}
local mqtt, mqtt_reports = N("mqtt")(ctx)
local mqtt_events = {
  connack = mqtt_reports.connack,
  connfail = mqtt_reports.connfail,
  refused = mqtt_reports.refused,
  closed = function(client)
    mqtt_reports.closed(client, true)
  end,
  sent = mqtt_reports.sent,
  message = mqtt_reports.message,
  overflow = mqtt_reports.overflow,
}

local sjson = N("sjson")(ctx)

ctx.adc = {
  mode = settings.adc_mode or 0, -- chosen at boot (in flash); force_init_mode changes the next boot
  read = function()
    return sensors.adc
  end,
  vdd33 = function()
    return sensors.vdd_mv
  end,
  set_mode = function(mode)
    req("adc_mode", mode)
  end,
}
local adc = N("adc")(ctx)

ctx.dht = {
  read = function()
    return sensors.dht_status, sensors.temp, sensors.humi
  end,
}
local dht = N("dht")(ctx)

local rtctime, rtc = N("rtctime")(ctx)

ctx.sntp = {
  sync = function(id, server, autorepeat)
    req("sntp_sync", id, server, autorepeat and autorepeat ~= 0 and 1 or 0)
  end,
  rtc = modules.rtctime and rtc or nil,
}
local sntp, sntp_reports = N("sntp")(ctx)

ctx.tls = {
  ca_stored = settings.tls_ca_stored,
  store = function(pem)
    req("tls_ca", pem)
  end,
  verify = function(on)
    req("tls_verify", on and 1 or 0)
  end,
}
local tls = N("tls")(ctx)

ctx.rtcmem = {
  slots = settings.rtcmem,
  write = function(slot, v)
    req("rtcmem", slot, v)
  end,
}
local rtcmem = N("rtcmem")(ctx)

ctx.uart = {
  echo = function(on)
    req("uart_echo", on and 1 or 0)
  end,
  write = function(data)
    req("raw", data)
  end,
  on = function(enabled, run_input)
    req("uart_on", enabled and 1 or 0, run_input and 1 or 0)
  end,
}
local uart, uart_reports = N("uart")(ctx)

local codecs = X(C, function(name)
  return store.files[name]
end, function(fn)
  D.charge_to_emulator(fn)
end)
local encoder, bit, crypto = codecs.encoder, codecs.bit, codecs.crypto
-- crypto is C on the device: hashing a 40 KB file takes no Lua heap there.
local function native(fn)
  return function(...)
    native_depth = native_depth + 1
    local ok, result = pcall(fn, ...)
    native_depth = native_depth - 1
    if not ok then
      error(result, 0)
    end
    collectgarbage("collect")
    return result
  end
end
crypto = { hash = native(crypto.hash), fhash = native(crypto.fhash), hmac = native(crypto.hmac), toHex = crypto.toHex, toBase64 = crypto.toBase64 }

-- ---------------------------------------------------------------------------
-- timers and tasks (real time; the host wakes Lua when the next one is due)
-- ---------------------------------------------------------------------------

--- node.task.post tasks first (highest priority first), then the timers due, in time order.
local function run_due()
  local list = tasks.take_tasks()
  if list then
    for _, t in ipairs(list) do
      callback(t.fn, t.prio)
    end
  end
  while not D.halted do
    local t = timers.earliest(now)
    if t == nil then
      break
    end
    timers.fire(t)
  end
end

local function next_due()
  if tasks.has_tasks() then
    return now
  end
  local t = timers.earliest(nil)
  return t and t.due or -1
end

-- ---------------------------------------------------------------------------
-- the REPL (lua.c's dojob: "=" prefix, incomplete chunks, "Lua error: ")
-- ---------------------------------------------------------------------------

local pending_chunk = nil

local function prompt(p)
  req("prompt", p)
end

repl_line = function(line)
  local chunk
  if pending_chunk then
    chunk = pending_chunk .. "\n" .. line
  elseif sub(line, 1, 1) == "=" then
    chunk = "return " .. sub(line, 2)
  else
    chunk = line
  end
  local f, err = loadstring(chunk, "=stdin")
  if not f then
    -- incomplete(): the syntax error is at the end of the input ('<eof>' in 5.1, <eof> in 5.3): ask for more
    if sub(err, -7) == "'<eof>'" or sub(err, -5) == "<eof>" then
      pending_chunk = chunk
      prompt(">> ")
      return
    end
    pending_chunk = nil
    console("Lua error: " .. err .. "\n")
    prompt("> ")
    return
  end
  pending_chunk = nil
  local r = { n = 0 }
  local function pack(...)
    r = { n = select("#", ...), ... }
  end
  pack(xpcall(f, handler))
  if not r[1] then
    if r[2] == "watchdog" or D.unwinding then
      return
    end
    console("Lua error: " .. tostring(r[2]) .. "\n")
  elseif r.n > 1 then
    local p = G.print
    local ok, e = pcall(p, unpack(r, 2, r.n))
    if not ok then
      console("error calling 'print' (" .. tostring(e) .. ")\n")
    end
  end
  prompt("> ")
end

-- ---------------------------------------------------------------------------
-- boot and entries
-- ---------------------------------------------------------------------------

local function run_init()
  local src = store.files["init.lua"]
  if src == nil then
    console("lua: cannot open init.lua\n")
  else
    local f, err = loadstring(src, "@init.lua")
    if not f then
      console("Lua error: " .. err .. "\n")
    else
      local ok, e = xpcall(f, handler)
      if not ok then
        callback_failed(e)
      end
    end
  end
  if not D.halted then
    prompt("> ")
  end
end

local handlers = {
  --- The host's check of an image file written in this boot (what node.LFS.reload would say of it).
  lfs_verdict = function(name, verdict)
    if store.files[name] ~= nil then
      settings.lfs_verdicts[name] = verdict
    end
  end,
  boot = function()
    run_init()
  end,
  tick = function(s)
    set_sensors(s and dec(s))
    run_due()
  end,
  line = function(text, s)
    set_sensors(s and dec(s))
    repl_line(dec(text))
  end,
  uart = function(data)
    uart_reports.input(dec(data))
  end,
  wifi = function(what, a, b, c)
    local fn = wifi_events[dec(what)]
    if fn then
      fn(a and dec(a), b and dec(b), c and dec(c))
    end
  end,
  mqtt = function(h, socket, what, a, b)
    local client = clients[tonumber(dec(h))]
    if client == nil or client.socket ~= tonumber(dec(socket)) then
      return -- a client collected, or an event of an old socket
    end
    local fn = mqtt_events[dec(what)]
    if fn then
      fn(client, a and dec(a), b and dec(b))
    end
  end,
  sntp = function(id, what, a, b, c)
    what = dec(what)
    if what == "ok" then
      sntp_reports.done(dec(id), a and dec(a), b and dec(b), c and dec(c))
    else
      sntp_reports.failed(dec(id), a and dec(a), b and dec(b))
    end
  end,
}

local function status_string(status)
  flush_files()
  local u = floor(used())
  return concat({ status, tostring(u), tostring(next_due()), take_outbox() }, SEP_RECORD)
end

--- One entry from the host: returns the status, the heap in use, the next
-- timer due (ms since boot, -1 for none) and the outbox, in one string.
function W.dev_enter(now_ms, kind, ...)
  now = tonumber(now_ms) or now
  entry_started = clock and clock() or 0
  local fn = handlers[kind]
  if fn == nil then
    req("fault", "unknown event " .. tostring(kind))
    return status_string("fault")
  end
  local args = { n = select("#", ...), ... }
  sethook(heap_hook, "", HOOK_EVERY)
  local ok, err = pcall(fn, unpack(args, 1, args.n))
  sethook()
  if not ok and not D.oom and not D.wdt then
    -- An error in the emulator itself, not in the firmware: a bug to report.
    req("fault", tostring(err))
    return status_string("fault")
  end
  if D.wdt then
    return status_string("wdt")
  end
  if not D.oom and used() > budget then
    collectgarbage("collect")
    if used() > budget then
      D.oom = true
    end
  end
  if D.oom then
    return status_string("panic")
  end
  return status_string("ok")
end

-- Install the build's modules, move the file system in from __wasm.vars,
-- and take the heap baseline. Anything not in the build is absent (nil).
local all = {
  tmr = tmr, node = node, wifi = wifi, mqtt = mqtt, sjson = sjson, file = file, adc = adc, dht = dht,
  rtctime = rtctime, sntp = sntp, rtcmem = rtcmem, uart = uart, encoder = encoder, bit = bit, crypto = crypto,
  tls = tls,
}
for name, mod in pairs(all) do
  G[name] = modules[name] and mod or nil
end
G.print = lua_print
G.dofile = fs_dofile
G.loadfile = fs_loadfile
G.loadstring = dev_loadstring
G.load = dev_load
G.io, G.os = nil, nil -- NodeMCU has neither
local loaders = package.loaders or rawget(package, "searchers")
for i = #loaders, 2, -1 do
  loaders[i] = nil
end
loaders[2] = function(modname)
  local base = gsub(modname, "%.", "/")
  for _, name in ipairs({ base .. ".lc", base .. ".lua" }) do
    if store.files[name] ~= nil then
      return assert(fs_loadfile(name))
    end
  end
  return "\n\tno file '" .. base .. ".lc' or '" .. base .. ".lua' in the file system"
end
package.path, package.cpath = "?.lc;?.lua", ""

for key, value in pairs(W.vars) do
  if sub(key, 1, 3) == "fs:" then
    store.files[sub(key, 4)] = value
    W.vars[key] = nil
  end
end
W.sources = {}
W.dofile, W.loadfile = nil, nil

function W.dev_heap()
  collectgarbage("collect")
  return tostring(floor(used()))
end

--- The heap of the bare emulator: taken by the host once this chunk has
-- returned, so no source text or boot chunk lingers in a stack slot.
function W.dev_baseline()
  W.dev_baseline = nil
  collectgarbage("collect")
  collectgarbage("collect")
  baseline = collectgarbage("count") * 1024 - fs_bytes() - out_bytes
  return tostring(floor(baseline))
end

--- Emulator data made on first use (crypto tables) is the emulator's, not the firmware's.
function D.charge_to_emulator(fn)
  local before = collectgarbage("count")
  fn()
  baseline = baseline + (collectgarbage("count") - before) * 1024
end

-- collectgarbage("count") reports the firmware's share, as on the device
-- where the emulated modules are C and the files are in flash.
G.collectgarbage = function(opt, arg)
  if opt == "count" then
    return used() / 1024
  end
  return collectgarbage(opt, arg)
end

math.randomseed(settings.seed or 0)
