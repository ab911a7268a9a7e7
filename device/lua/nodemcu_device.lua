-- luacheck: std lua51
-- luacheck: globals __wasm
--[[
The NodeMCU (ESP8266, firmware 3.x) modules of one virtual device, for one
boot: loaded into a fresh wasm32 Lua state by device/lua-vm.ts, which then
runs init.lua through it. What the firmware sees is documented behaviour, not
an idealised API (see the module sections below and device/README.md).

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
]]

local C, B, X, settings = ...

local W = __wasm
local format, find, sub, char, gsub = string.format, string.find, string.sub, string.char, string.gsub
local concat, tsort, tremove = table.concat, table.sort, table.remove
local floor = math.floor
local collectgarbage, select, type, tostring, tonumber, pairs, ipairs, error, pcall, xpcall, setmetatable =
  collectgarbage, select, type, tostring, tonumber, pairs, ipairs, error, pcall, xpcall, setmetatable
local unpack = unpack or rawget(table, "unpack")
local loadstring = loadstring or load
local traceback, sethook = debug.traceback, debug.sethook
local clock = os and os.clock
local argerror, checkinteger, checkstring = C.argerror, C.checkinteger, C.checkstring

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
-- frames (its modules are C on the device) and without what called xpcall.
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
  extras = true,
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
local file = C.file_module(store, file_hooks)

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
-- tmr (real time; the host wakes Lua when the next timer is due)
-- ---------------------------------------------------------------------------

local TMR_MAX_MS = 6870947
local tmr = { ALARM_SINGLE = 0, ALARM_AUTO = 1, ALARM_SEMI = 2 }
local Timer = {}
Timer.__index = Timer
-- A running timer is anchored, as NodeMCU keeps a registry ref while it runs;
-- an idle one nobody references is collected.
local armed = {}
local seq = 0
local function next_seq()
  seq = seq + 1
  return seq
end
local function set_running(t, on)
  t.running = on
  armed[t] = on or nil
end

local function check_interval(ms, fname)
  ms = checkinteger(ms, 2, fname)
  if ms < 1 or ms > TMR_MAX_MS then
    argerror(2, fname, "invalid interval " .. tostring(ms) .. "; Range: 1-" .. TMR_MAX_MS)
  end
  return ms
end

function tmr.create()
  return setmetatable({ mode = nil, running = false, ms = 0, regseq = 0, due = 0 }, Timer)
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
  self.mode, self.ms, self.fn, self.regseq = mode, ms, fn, next_seq()
end

function Timer:start()
  if self.mode == nil or self.running then
    return false
  end
  set_running(self, true)
  self.due = now + self.ms
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
  self.mode, self.fn = nil, nil
end

function Timer:interval(ms)
  ms = check_interval(ms, "interval")
  if self.mode ~= nil then
    self.ms = ms
    if self.running then
      self.due = now + ms
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

local function fire_timer(t)
  local fn = t.fn
  if t.mode == tmr.ALARM_SINGLE then
    t.mode, t.fn = nil, nil
    set_running(t, false)
  elseif t.mode == tmr.ALARM_SEMI then
    set_running(t, false)
  else
    t.due = t.due + t.ms
    if t.due <= now then
      t.due = now + t.ms -- late (a long callback or a busy host): skip, as os_timer does
    end
  end
  callback(fn, t)
end

function tmr.time()
  return floor(now / 1000) % 2147483648
end
function tmr.now()
  return floor(now * 1000) % 2147483648
end
function tmr.ccount()
  return floor(now * 80000) % 4294967296
end
function tmr.delay(us)
  us = checkinteger(us, 1, "delay")
  if us <= 0 then
    error("wrong arg range", 0)
  end
end
function tmr.wdclr() end
function tmr.softwd() end

-- node.task.post queue, run before timers at the next wake-up (highest priority first)
local tasks = {}

local due_list = {}
local function run_due()
  if #tasks > 0 then
    local list = tasks
    tasks = {}
    tsort(list, function(a, b)
      return a.prio > b.prio or (a.prio == b.prio and a.seq < b.seq)
    end)
    for _, t in ipairs(list) do
      callback(t.fn, t.prio)
    end
  end
  local n = 0
  for t in pairs(armed) do
    if t.due <= now then
      n = n + 1
      due_list[n] = t
    end
  end
  if n > 1 then
    tsort(due_list, function(a, b)
      return a.due < b.due or (a.due == b.due and a.regseq < b.regseq)
    end)
  end
  for i = 1, n do
    local t = due_list[i]
    due_list[i] = nil
    if not D.halted and t.running and t.due <= now then
      fire_timer(t)
    end
  end
end

local function next_due()
  if #tasks > 0 then
    return now
  end
  local best = -1
  for t in pairs(armed) do
    if best < 0 or t.due < best then
      best = t.due
    end
  end
  return best
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

local adc = { INIT_ADC = 0, INIT_VDD33 = 0xFF }
local adc_mode = settings.adc_mode or 0 -- chosen at boot (in flash); force_init_mode changes the next boot
settings.adc_mode_next = adc_mode
function adc.read(channel)
  channel = checkinteger(channel, 1, "read")
  if channel ~= 0 then
    error("adc " .. channel .. " does not exist", 0)
  end
  if adc_mode == adc.INIT_VDD33 then
    return 65535
  end
  return sensors.adc
end
function adc.readvdd33()
  -- Only in VDD33 mode (adc.force_init_mode(adc.INIT_VDD33) and a restart).
  if adc_mode ~= adc.INIT_VDD33 then
    return 65535
  end
  return sensors.vdd_mv
end
function adc.force_init_mode(mode)
  mode = checkinteger(mode, 1, "force_init_mode")
  local changed = mode ~= settings.adc_mode_next
  settings.adc_mode_next = mode
  if changed then
    req("adc_mode", mode)
  end
  return changed
end

local dht = { OK = 0, ERROR_CHECKSUM = -1, ERROR_TIMEOUT = -2 }
local function dht_read(pin)
  pin = checkinteger(pin, 1, "read")
  if pin < 1 or pin > 12 then
    error("dht " .. pin .. " does not exist", 0)
  end
  local status = sensors.dht_status
  if status ~= dht.OK then
    return status, -999.0, -999.0, 0.0, 0.0
  end
  local function dec_part(v)
    local int = v >= 0 and floor(v) or -floor(-v)
    local x = (v - int) * 1000
    return (x >= 0 and floor(x) or -floor(-x)) + 0.0
  end
  local t, h = sensors.temp + 0.0, sensors.humi + 0.0
  return status, t, h, dec_part(t), dec_part(h)
end
dht.read, dht.read11, dht.readxx = dht_read, dht_read, dht_read

-- ---------------------------------------------------------------------------
-- node
-- ---------------------------------------------------------------------------

local node = {
  CPU80MHZ = 80, CPU160MHZ = 160,
  egc = { NOT_ACTIVE = 0, ON_ALLOC_FAILURE = 1, ON_MEM_LIMIT = 2, ALWAYS = 3 },
  task = { LOW_PRIORITY = 0, MEDIUM_PRIORITY = 1, HIGH_PRIORITY = 2 },
}
local cpufreq = 80
local stripdebug_level = 1

-- NodeMCU runs its emergency GC before allocations (legc EGC_ALWAYS), so
-- the heap holds next to no garbage: the free heap is reported after a collection.
function node.heap()
  collectgarbage("collect")
  local free = floor(budget - used())
  return free > 0 and free or 0
end
function node.chipid()
  return settings.chipid
end
function node.flashid()
  return settings.flashid
end
function node.flashsize()
  return 4194304
end
function node.restart()
  request_restart("restart")
end
--- Deep sleep ends the boot; the device wakes up (boots) after `us` (0: the host's reset).
function node.dsleep(us)
  us = us and checkinteger(us, 1, "dsleep") or 0
  if D.restart == nil then
    D.restart = "dsleep"
    req("dsleep", floor(us / 1000))
  end
  D.halted = true
end
function node.bootreason()
  return settings.boot_raw, settings.boot_reason
end
function node.uptime()
  local us = floor(now * 1000)
  return us % 4294967296, floor(us / 4294967296)
end
function node.random(a, b)
  if a == nil then
    return math.random()
  end
  if b == nil then
    return math.random(a)
  end
  return math.random(a, b)
end
function node.setcpufreq(f)
  cpufreq = checkinteger(f, 1, "setcpufreq")
  return cpufreq
end
function node.getcpufreq()
  return cpufreq
end
function node.stripdebug(level)
  if level == nil then
    return stripdebug_level
  end
  stripdebug_level = checkinteger(level, 1, "stripdebug")
end
function node.setonerror(fn)
  onerror = type(fn) == "function" and fn or nil
end
function node.egc.setmode() end
function node.egc.meminfo()
  local u = floor(used())
  return u, u
end
function node.task.post(prio, fn)
  if type(prio) == "function" then
    prio, fn = node.task.MEDIUM_PRIORITY, prio
  end
  if type(fn) ~= "function" then
    argerror(2, "post", "function expected")
  end
  tasks[#tasks + 1] = { prio = checkinteger(prio, 1, "post"), fn = fn, seq = next_seq() }
end
--- Compile name.lua to name.lc in the file system (bytecode of this 32-bit Lua).
function node.compile(name)
  name = checkstring(name, 1, "compile")
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
end

local INFO_MODULE_ORDER = settings.module_list -- comma-separated, as the banner shows them
function node.info(group)
  if group == nil then
    return 3, 0, 0, settings.chipid, settings.flashid, 4096, 0, 40000000
  elseif group == "hw" then
    return { chip_id = settings.chipid, flash_id = settings.flashid, flash_size = 4096, flash_mode = 0,
      flash_speed = 40000000 }
  elseif group == "sw_version" then
    return { node_version_major = 3, node_version_minor = 0, node_version_revision = 0, git_branch = "release",
      git_commit_id = "virtual", git_release = "3.0-espfleet-virtual", git_commit_dts = "202001010000" }
  elseif group == "build_config" then
    return { ssl = modules.tls == true, lfs_size = settings.lfs_size, modules = INFO_MODULE_ORDER, number_type = "float" }
  elseif group == "lfs" then
    return { lfs_base = settings.lfs_addr, lfs_mapped = 0x40200000 + settings.lfs_addr, lfs_size = settings.lfs_size,
      lfs_used = settings.lfs_used }
  end
  error("bad argument #1 to 'info' (invalid group)", 0)
end

-- ---------------------------------------------------------------------------
-- node: partition table and LFS (app/modules/node.c, app/lua/lflash.c)
-- ---------------------------------------------------------------------------

--- The chip restarts in the middle of a call that never returns on the device
-- (node_setpartitiontable and luaL_lfsreload end in `while (1) {}`): unwind
-- the entry without reporting an error to the firmware or the REPL.
local function restart_now(reason)
  request_restart(reason)
  D.unwinding = true
  error("restarting", 0)
end

local PT_KEYS = { lfs_addr = true, lfs_size = true, spiffs_addr = true, spiffs_size = true }
local SECTOR = 4096
local FLASH_SIZE = 4194304
local SYSTEM_PARAMETER_SIZE = 0x3000

function node.getpartitiontable()
  return { lfs_addr = settings.lfs_addr, lfs_size = settings.lfs_size, spiffs_addr = settings.spiffs_addr,
    spiffs_size = settings.spiffs_size }
end

--- Checks as node_setpartitiontable does (sector-aligned, in order after the
-- firmware, inside the flash), then the host stores the table and reboots.
function node.setpartitiontable(t)
  if type(t) ~= "table" then
    argerror(1, "setpartitiontable", "must be table")
  end
  local pt = node.getpartitiontable()
  for k, v in pairs(t) do
    if type(k) ~= "string" or type(v) ~= "number" or not PT_KEYS[k] then
      argerror(1, "setpartitiontable", "invalid partition setting")
    end
    pt[k] = floor(v)
  end
  if t.lfs_size ~= nil and t.lfs_addr == nil and settings.lfs_size == 0 then
    pt.lfs_addr = settings.irom0_end -- a new LFS partition follows the firmware
  end
  if t.spiffs_size ~= nil and t.spiffs_addr == nil then
    pt.spiffs_addr = pt.spiffs_size <= FLASH_SIZE - SYSTEM_PARAMETER_SIZE - 0x100000 and 0x100000
      or pt.lfs_addr + pt.lfs_size
  end
  local last = settings.irom0_end
  for _, part in ipairs({ { pt.lfs_addr, pt.lfs_size }, { pt.spiffs_addr, pt.spiffs_size } }) do
    local addr, size = part[1], part[2]
    if size > 0 then
      if addr % SECTOR ~= 0 or size % SECTOR ~= 0 or addr < last or addr + size > FLASH_SIZE then
        error("Partition value out of range", 0)
      end
      last = addr + size
    end
  end
  req("partitions", pt.lfs_addr, pt.lfs_size, pt.spiffs_addr, pt.spiffs_size)
  restart_now("restart")
end

-- The modules of the image in the LFS partition, loaded by the host before
-- the heap baseline was taken: their code and constants are in flash on the
-- device, so they are not the firmware's heap here either.
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
  tsort(lfs_names)
end

--- Free heap node.LFS.reload needs to inflate and write an image (the issue's measurement on the device).
local LFS_RELOAD_HEAP = 24 * 1024
local LFS = { time = settings.lfs_time }
function LFS.get(name)
  if type(name) ~= "string" then
    return nil
  end
  return lfs_functions[name]
end
function LFS.list()
  if lfs_names == nil then
    return nil
  end
  local copy = {}
  for i = 1, #lfs_names do
    copy[i] = lfs_names[i]
  end
  return copy
end
--- luaL_lfsreload: the first pass checks the image and returns its error;
-- past it the chip writes the partition and restarts (never returns). The
-- host checked every image file it has seen (settings.lfs_verdicts and
-- lfs_verdict events); a file written in this very boot is checked by the
-- host after the restart, which then leaves the partition as it was.
function LFS.reload(name)
  if settings.lfs_size == 0 then
    return "No LFS partition allocated"
  end
  name = checkstring(name, 1, "reload")
  local data = store.files[name]
  if data == nil then
    return "LFS image file not found"
  end
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
  flush_files()
  req("lfs_reload", name)
  console("LFS region updated.  Restarting.\n")
  restart_now("restart")
end
setmetatable(LFS, { __index = function(_, name)
  return lfs_functions[name]
end })
node.LFS = LFS
node.flashindex = LFS.get -- deprecated synonyms (docs/modules/node.md)
node.flashreload = LFS.reload

local repl_line -- defined with the REPL below
--- Submit a chunk to the interpreter as if typed (one line per newline).
function node.input(str)
  str = checkstring(str, 1, "input")
  for line in (str .. "\n"):gmatch("([^\n]*)\n") do
    tasks[#tasks + 1] = { prio = 1, seq = next_seq(), fn = function()
      repl_line(line)
    end }
  end
end

-- ---------------------------------------------------------------------------
-- wifi (the station joins after a delay; the host can make it fail or drop)
-- ---------------------------------------------------------------------------

local wifi = {
  NULLMODE = 0, STATION = 1, SOFTAP = 2, STATIONAP = 3,
  STA_IDLE = 0, STA_CONNECTING = 1, STA_WRONGPWD = 2, STA_APNOTFOUND = 3, STA_FAIL = 4, STA_GOTIP = 5,
  PHYMODE_B = 1, PHYMODE_G = 2, PHYMODE_N = 3,
}
wifi.sta = {}
wifi.eventmon = {
  STA_CONNECTED = 0, STA_DISCONNECTED = 1, STA_AUTHMODE_CHANGE = 2, STA_GOT_IP = 3,
  STA_DHCP_TIMEOUT = 4, AP_STACONNECTED = 5, AP_STADISCONNECTED = 6, AP_PROBEREQRECVED = 7,
  WIFI_MODE_CHANGED = 8,
  reason = { UNSPECIFIED = 1, AUTH_EXPIRE = 2, AUTH_LEAVE = 3, ASSOC_EXPIRE = 4, ASSOC_TOOMANY = 5,
    NOT_AUTHED = 6, NOT_ASSOCED = 7, ASSOC_LEAVE = 8, ASSOC_NOT_AUTHED = 9, BEACON_TIMEOUT = 200,
    NO_AP_FOUND = 201, AUTH_FAIL = 202, ASSOC_FAIL = 203, HANDSHAKE_TIMEOUT = 204 },
}
local sta = { mode = wifi.STATION, connected = false, ip = nil, netmask = nil, gateway = nil,
  status = wifi.STA_IDLE, config = settings.wifi_saved, handlers = {}, hostname = "NODE-" .. format("%06X",
    settings.chipid % 16777216), mac = settings.mac }

function wifi.setmode(mode)
  sta.mode = checkinteger(mode, 1, "setmode")
  return sta.mode
end
function wifi.getmode()
  return sta.mode
end
function wifi.sta.config(cfg)
  if type(cfg) ~= "table" then
    argerror(1, "config", "config table not found!")
  end
  local ssid = cfg.ssid
  if type(ssid) ~= "string" or #ssid < 1 or #ssid > 32 then
    error("ssid: length: 1-32", 0)
  end
  local pwd = cfg.pwd or ""
  if type(pwd) ~= "string" or (#pwd ~= 0 and (#pwd < 8 or #pwd > 64)) then
    error("pwd: length: 0 or 8-64", 0)
  end
  sta.config = { ssid = ssid, pwd = pwd, auto = cfg.auto ~= false }
  if cfg.save then
    req("wifi_save", ssid, pwd, cfg.auto ~= false and 1 or 0)
  end
  if cfg.auto ~= false then
    -- wifi_station_disconnect(); wifi_station_connect(): a joined station leaves and joins again.
    sta.status = wifi.STA_CONNECTING
    req("wifi_connect", ssid, 1)
  end
  return true
end
function wifi.sta.connect()
  if sta.config ~= nil and not sta.connected then
    sta.status = wifi.STA_CONNECTING
    req("wifi_connect", sta.config.ssid, 0)
  end
end
function wifi.sta.disconnect()
  req("wifi_disconnect")
end
function wifi.sta.autoconnect(auto)
  if sta.config then
    sta.config.auto = checkinteger(auto, 1, "autoconnect") ~= 0
  end
end
function wifi.sta.getip()
  if sta.connected then
    return sta.ip, sta.netmask, sta.gateway
  end
  return nil
end
function wifi.sta.status()
  return sta.status
end
function wifi.sta.getconfig(as_table)
  local c = sta.config
  if c == nil then
    return nil
  end
  if as_table then
    return { ssid = c.ssid, pwd = c.pwd, bssid_set = false, auto = c.auto }
  end
  return c.ssid, c.pwd, 0, ""
end
function wifi.sta.getmac()
  return sta.mac
end
function wifi.sta.gethostname()
  return sta.hostname
end
function wifi.sta.sethostname(name)
  sta.hostname = checkstring(name, 1, "sethostname")
  return true
end
function wifi.sta.getrssi()
  if sta.connected then
    return -58
  end
  return nil
end
function wifi.eventmon.register(event, fn)
  sta.handlers[checkinteger(event, 1, "register")] = fn
end
function wifi.eventmon.unregister(event)
  sta.handlers[checkinteger(event, 1, "unregister")] = nil
end

local function wifi_event(event, info)
  local fn = sta.handlers[event]
  if fn then
    callback(fn, info)
  end
end

local wifi_events = {
  connected = function(ssid, bssid, channel)
    wifi_event(wifi.eventmon.STA_CONNECTED, { SSID = ssid, BSSID = bssid, channel = tonumber(channel) })
  end,
  got_ip = function(ip, mask, gw)
    sta.connected, sta.ip, sta.netmask, sta.gateway, sta.status = true, ip, mask, gw, wifi.STA_GOTIP
    wifi_event(wifi.eventmon.STA_GOT_IP, { IP = ip, netmask = mask, gateway = gw })
  end,
  disconnected = function(reason, ssid, bssid)
    sta.connected, sta.ip = false, nil
    local r = tonumber(reason)
    if r == wifi.eventmon.reason.AUTH_FAIL then
      sta.status = wifi.STA_WRONGPWD
    elseif r == wifi.eventmon.reason.NO_AP_FOUND then
      sta.status = wifi.STA_APNOTFOUND
    else
      sta.status = sta.config and wifi.STA_CONNECTING or wifi.STA_IDLE
    end
    -- The host also closes this boot's MQTT sockets ("closed" events follow).
    wifi_event(wifi.eventmon.STA_DISCONNECTED, { SSID = ssid, BSSID = bssid, reason = r })
  end,
}

-- ---------------------------------------------------------------------------
-- mqtt (mqtt.js underneath; the queue and the quirks are here)
-- ---------------------------------------------------------------------------

local mqtt = {
  CONN_FAIL_SERVER_NOT_FOUND = -5, CONN_FAIL_NOT_A_CONNACK_MSG = -4, CONN_FAIL_DNS = -3,
  CONN_FAIL_TIMEOUT_RECEIVING = -2, CONN_FAIL_TIMEOUT_SENDING = -1, CONNACK_ACCEPTED = 0,
  CONNACK_REFUSED_PROTOCOL_VER = 1, CONNACK_REFUSED_ID_REJECTED = 2, CONNACK_REFUSED_SERVER_UNAVAILABLE = 3,
  CONNACK_REFUSED_BAD_USER_OR_PASS = 4, CONNACK_REFUSED_NOT_AUTHORIZED = 5,
}
local Client = {}
Client.__index = Client
-- Clients by handle: weak, so an unreferenced, disconnected client is
-- collected; one with a socket open is anchored in `live`, as the C module does.
local clients = setmetatable({}, { __mode = "v" })
local live = {} -- luacheck: ignore 241 (an anchor: only ever written)
local next_handle = 0

local function call_slot(client, slot, ...)
  local fn = client.slots[slot]
  if fn then
    callback(fn, client, ...)
  end
end

local function socket_closed(client, fire_offline)
  local was_connected = client.connected
  client.connected = false
  client.connecting = nil
  client.queue = {}
  client.socket = client.socket + 1 -- events of the old socket are ignored
  live[client.h] = nil
  if was_connected and fire_offline then
    call_slot(client, "offline")
  end
end

-- Send the head of the outgoing queue; the next waits for its PUBACK (QoS 1)
-- or for the write (QoS 0): NodeMCU keeps one message in flight.
local function pump(client)
  local msg = client.queue[1]
  if not client.connected or not msg or msg.inflight then
    return
  end
  msg.inflight = true
  if msg.kind == "publish" then
    req("mqtt_publish", client.h, client.socket, msg.topic, msg.payload, msg.qos, msg.retain and 1 or 0)
  elseif msg.kind == "subscribe" then
    local args = {}
    for topic, qos in pairs(msg.topics) do
      args[#args + 1] = topic
      args[#args + 1] = qos
    end
    req("mqtt_subscribe", client.h, client.socket, unpack(args))
  elseif msg.kind == "unsubscribe" then
    local args = {}
    for topic in pairs(msg.topics) do
      args[#args + 1] = topic
    end
    req("mqtt_unsubscribe", client.h, client.socket, unpack(args))
  elseif msg.kind == "disconnect" then
    req("mqtt_close", client.h, client.socket)
  end
end

local function enqueue(client, msg)
  client.queue[#client.queue + 1] = msg
  pump(client)
end

function mqtt.Client(clientid, keepalive, user, pass, cleansession, max_message_length)
  if type(clientid) ~= "string" then
    clientid = format("NodeMCU_%x", settings.chipid)
  end
  next_handle = next_handle + 1
  local client = setmetatable({
    h = next_handle,
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
  clients[client.h] = client
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
      console("Warning, deprecated API! mqtt.connect secure parameter as integer. It will be removed in the future.\n")
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
  if secure and not modules.tls then
    error("ssl not available", 0)
  end
  if type(host) ~= "string" then
    error("invalid domain", 0)
  end
  self.socket = self.socket + 1
  self.connecting = true
  live[self.h] = self
  local w = self.will
  req("mqtt_connect", self.h, self.socket, host, port, secure and 1 or 0, self.id, self.keepalive,
    self.user or "", self.password or "", self.clean and 1 or 0, self.max_message_length,
    w and w.topic or "", w and w.payload or "", w and w.qos or 0, w and w.retain and 1 or 0,
    self.user ~= nil and 1 or 0, self.password ~= nil and 1 or 0)
  return true
end

function Client:close()
  if self.connected then
    enqueue(self, { kind = "disconnect" })
    return true
  end
  return false
end

function Client:publish(topic, payload, qos, retain, fn)
  if not self.connected then
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

local SLOT_OF = { publish = "puback", subscribe = "suback", unsubscribe = "unsuback" }

local mqtt_events = {
  connack = function(client)
    client.connecting = nil
    client.connected = true
    call_slot(client, "connect")
  end,
  connfail = function(client, reason)
    client.connecting = nil
    live[client.h] = nil
    call_slot(client, "connfail", tonumber(reason))
  end,
  -- The CONNACK refused the session: the TCP socket was up, so "offline" follows (on "closed").
  refused = function(client, code)
    client.connecting = nil
    client.connected = true
    call_slot(client, "connfail", tonumber(code))
  end,
  closed = function(client)
    socket_closed(client, true)
  end,
  sent = function(client)
    local msg = tremove(client.queue, 1)
    if msg then
      local slot = SLOT_OF[msg.kind]
      if slot then
        call_slot(client, slot)
      end
    end
    pump(client)
  end,
  message = function(client, topic, payload)
    if payload ~= "" then
      call_slot(client, "message", topic, payload)
    else
      call_slot(client, "message", topic) -- NodeMCU passes no data for an empty payload
    end
  end,
  overflow = function(client, topic, payload)
    if payload ~= "" then
      call_slot(client, "overflow", topic, payload)
    else
      call_slot(client, "overflow", topic)
    end
  end,
}

-- ---------------------------------------------------------------------------
-- sjson, rtctime, sntp, rtcmem, uart, encoder, bit, crypto
-- ---------------------------------------------------------------------------

local json = C.pure_json(C.make_null())
local sjson = { NULL = json.null }
function sjson.encode(v)
  return json.encode(v)
end
function sjson.decode(s)
  return json.decode(s)
end
function sjson.decoder()
  local parts, result, done = {}, nil, false
  local d = {}
  function d.write(_, s)
    parts[#parts + 1] = s
    local ok, value = pcall(json.decode, concat(parts))
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
    local chunk = sub(text, pos, pos + size - 1)
    pos = pos + size
    return chunk
  end
  return e
end

local rtc = nil -- { unix = seconds at boot-relative ms `at` }
local rtctime = {}
function rtctime.get()
  if rtc == nil then
    return 0, 0, 0
  end
  local t = rtc.unix + (now - rtc.at) / 1000
  local sec = floor(t)
  return sec, floor((t - sec) * 1000000), 0
end
function rtctime.set(sec, usec)
  if sec == nil then
    rtc = nil
    return
  end
  rtc = { unix = checkinteger(sec, 1, "set") + (usec or 0) / 1000000, at = now }
end
local DAYS = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }
function rtctime.epoch2cal(t)
  t = checkinteger(t, 1, "epoch2cal")
  local days, secs = floor(t / 86400), t % 86400
  local wday = (days + 4) % 7 + 1
  local year = 1970
  while true do
    local len = (year % 4 == 0 and (year % 100 ~= 0 or year % 400 == 0)) and 366 or 365
    if days < len then
      break
    end
    days, year = days - len, year + 1
  end
  local yday = days + 1
  local leap = year % 4 == 0 and (year % 100 ~= 0 or year % 400 == 0)
  local mon = 1
  while true do
    local len = DAYS[mon] + ((mon == 2 and leap) and 1 or 0)
    if days < len then
      break
    end
    days, mon = days - len, mon + 1
  end
  return { year = year, mon = mon, day = days + 1, hour = floor(secs / 3600), min = floor(secs / 60) % 60,
    sec = secs % 60, yday = yday, wday = wday }
end

local sntp = {}
local sntp_calls = {}
local next_sntp = 0
function sntp.sync(server, ok_fn, fail_fn, autorepeat)
  next_sntp = next_sntp + 1
  local srv = type(server) == "string" and server or (type(server) == "table" and server[1]) or "pool.ntp.org"
  sntp_calls[next_sntp] = { ok = ok_fn, fail = fail_fn, server = srv }
  req("sntp_sync", next_sntp, srv, autorepeat and autorepeat ~= 0 and 1 or 0)
end
local function sntp_event(id, what, a, b, c)
  local call = sntp_calls[tonumber(id)]
  if call == nil then
    return
  end
  if what == "ok" then
    local sec, usec = tonumber(a), tonumber(b)
    if modules.rtctime then
      rtc = { unix = sec + usec / 1000000, at = now }
    end
    callback(call.ok, sec, usec, c or call.server, {})
  else
    callback(call.fail, tonumber(a), b)
  end
end

-- tls: only what the firmware uses, tls.cert.verify. The PEM goes to a flash
-- area outside the file system (the host keeps it across reboots); the
-- verify flag is RAM, off at every boot. The host then checks the broker's
-- certificate against that CA on secure connections.
local tls = { cert = {} }
local tls_ca_stored = settings.tls_ca_stored == true
function tls.cert.verify(a, b)
  if type(a) == "string" then
    local pem = a .. (type(b) == "string" and ("\n" .. b) or "")
    if not find(pem, "-----BEGIN CERTIFICATE-----", 1, true) or not find(pem, "-----END CERTIFICATE-----", 1, true) then
      error("Unable to load certificate", 0)
    end
    req("tls_ca", pem)
    tls_ca_stored = true
    req("tls_verify", 1)
    return true
  elseif type(a) == "function" then
    error("tls.cert.verify(callback) is not emulated; pass the PEM data", 0)
  end
  local on = a and true or false
  if on and not tls_ca_stored then
    error("no certificates found", 0)
  end
  req("tls_verify", on and 1 or 0)
  return true
end

local rtcmem = {}
local rtc_slots = settings.rtcmem or {}
function rtcmem.read32(idx, num)
  idx = checkinteger(idx, 1, "read32")
  num = num and checkinteger(num, 2, "read32") or 1
  local r = {}
  for i = 0, num - 1 do
    if idx + i >= 0 and idx + i < 128 then
      r[#r + 1] = rtc_slots[idx + i] or 0
    end
  end
  return unpack(r)
end
function rtcmem.write32(idx, ...)
  idx = checkinteger(idx, 1, "write32")
  for i = 1, select("#", ...) do
    local slot = idx + i - 1
    local v = checkinteger((select(i, ...)), i + 1, "write32") % 4294967296
    if slot >= 0 and slot < 128 then
      rtc_slots[slot] = v
      req("rtcmem", slot, v)
    end
  end
end

local uart = { STOPBITS_1 = 1, STOPBITS_1_5 = 2, STOPBITS_2 = 3, PARITY_NONE = 0, PARITY_EVEN = 1, PARITY_ODD = 2 }
local uart_cfg = { baud = 115200, databits = 8, parity = 0, stopbits = 1 }
local uart_data = nil -- { fn =, len =, char =, buf = }
function uart.setup(id, baud, databits, parity, stopbits, echo)
  id = checkinteger(id, 1, "setup")
  if id ~= 0 and id ~= 1 then
    error("uart " .. id .. " does not exist", 0)
  end
  uart_cfg = { baud = checkinteger(baud, 2, "setup"), databits = databits or 8, parity = parity or 0,
    stopbits = stopbits or 1 }
  if id == 0 then
    req("uart_echo", (echo == nil or echo ~= 0) and 1 or 0)
  end
  return uart_cfg.baud
end
function uart.getconfig()
  return uart_cfg.baud, uart_cfg.databits, uart_cfg.parity, uart_cfg.stopbits
end
function uart.alt() end
function uart.write(id, ...)
  checkinteger(id, 1, "write")
  local parts = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if type(v) == "number" then
      parts[#parts + 1] = char(v % 256)
    else
      parts[#parts + 1] = checkstring(v, i + 1, "write")
    end
  end
  req("raw", concat(parts))
end
function uart.on(event, a, fn, run_input)
  if event ~= "data" then
    return
  end
  if type(a) == "function" then
    a, fn, run_input = 0, a, fn
  end
  if type(fn) ~= "function" then
    uart_data = nil
    req("uart_on", 0, 1)
    return
  end
  local cfg = { fn = fn, buf = "" }
  if type(a) == "string" then
    cfg.char = sub(a, 1, 1)
  else
    cfg.len = checkinteger(a, 2, "on")
  end
  uart_data = cfg
  req("uart_on", 1, (run_input == nil or run_input ~= 0) and 1 or 0)
end
local function uart_input(data)
  local cfg = uart_data
  if cfg == nil then
    return
  end
  if cfg.char then
    cfg.buf = cfg.buf .. data
    while true do
      local at = find(cfg.buf, cfg.char, 1, true)
      if at == nil then
        break
      end
      local piece = sub(cfg.buf, 1, at)
      cfg.buf = sub(cfg.buf, at + 1)
      callback(cfg.fn, piece)
    end
    if #cfg.buf >= 255 then
      local piece = cfg.buf
      cfg.buf = ""
      callback(cfg.fn, piece)
    end
  elseif cfg.len and cfg.len > 0 then
    cfg.buf = cfg.buf .. data
    while #cfg.buf >= cfg.len do
      local piece = sub(cfg.buf, 1, cfg.len)
      cfg.buf = sub(cfg.buf, cfg.len + 1)
      callback(cfg.fn, piece)
    end
  else
    callback(cfg.fn, data)
  end
end

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
    uart_input(dec(data))
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
    sntp_event(dec(id), dec(what), a and dec(a), b and dec(b), c and dec(c))
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
