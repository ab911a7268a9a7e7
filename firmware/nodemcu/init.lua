-- espfleet init.lua: load a new LFS image, wait a few seconds so a user can
-- stop the app, and count boots that did not survive to fall back to a safe
-- mode instead of looping.
--
--   * To stop the app during the boot window, type at the prompt:
--       file.remove("init.lua")      (or: espfleet_stop = true)
--   * After MAX_FAILED_BOOTS boots that crashed within HEALTHY_AFTER_MS the
--     device stays at the prompt (safe mode). Fix the app, then node.restart().
--
-- The failed-boot counter lives in a file, so it works without the rtcmem
-- module; it is cleared once the app has run for HEALTHY_AFTER_MS.
--
-- The app runs from LFS (NodeMCU's Lua Flash Store: code and constant
-- strings in flash, only data on the heap) when LFS holds it. Otherwise it
-- runs from app.lc (stripped bytecode, on the heap: more than a stock board
-- has free), else from app.lua (a .lc built for another Lua, e.g. a Lua 5.3
-- firmware, fails to load; the source still runs), and says why once.

local BOOT_DELAY_MS = 3000
local HEALTHY_AFTER_MS = 60000
local MAX_FAILED_BOOTS = 3
local COUNTER_FILE = "bootfail.txt"
local LFS_IMAGE, LFS_LOADED = "lfs.img", "lfs.img.loaded"
local lfs = node.LFS -- nil on firmwares without LFS support (NodeMCU before 3.0)

-- A new image is loaded before anything else: node.LFS.reload needs about
-- 24 KB of free heap, and on success writes the LFS partition and restarts
-- the chip (it never returns). The file is renamed first, so the restart
-- does not load it again.
if file.exists(LFS_IMAGE) then
  if lfs == nil then
    print("espfleet: " .. LFS_IMAGE .. " found, but this firmware has no LFS (node.LFS); running the .lc files")
  else
    file.remove(LFS_LOADED)
    file.rename(LFS_IMAGE, LFS_LOADED)
    print("espfleet: loading " .. LFS_IMAGE .. " into LFS; the board restarts")
    print("espfleet: " .. LFS_IMAGE .. " not loaded: " .. tostring(lfs.reload(LFS_LOADED)))
  end
end

--- The app's main function from LFS, or nil and why not.
local function lfs_app()
  if lfs == nil then
    return nil, "this firmware has no LFS (a NodeMCU 3.x image with an LFS partition runs the app from flash)"
  end
  local pt = node.getpartitiontable and node.getpartitiontable()
  if pt and pt.lfs_size == 0 then
    return nil, "this firmware image has no LFS partition (./flash.sh --yes adds one)"
  end
  local app = lfs.get("app")
  if app == nil then
    return nil, "LFS holds no app (./flash.sh uploads lfs.img)"
  end
  if file.exists(LFS_LOADED) then
    file.remove(LFS_LOADED) -- in LFS now: free the file system
  end
  return app
end

local APP = lfs and lfs.get("app") and "LFS" or file.exists("app.lc") and "app.lc" or "app.lua"

local function read_counter()
  local f = file.open(COUNTER_FILE, "r")
  if not f then return 0 end
  local n = tonumber(f:read(16) or "") or 0
  f:close()
  return n
end

local function write_counter(n)
  local f = file.open(COUNTER_FILE, "w")
  if f then
    f:write(tostring(n))
    f:close()
  end
end

-- Load (not run) a Lua file. Returns the chunk, or nil and why. Bytecode goes
-- through loadfile: Lua 5.1 builds a binary chunk without GC write barriers,
-- so `load` with a Lua reader function, which lets the GC run in between,
-- can free parts of it (heap corruption, reproduced on stock Lua 5.1.5).
-- Source is safe through a reader (the parser protects what it builds),
-- which works wherever the file module does.
local function load_file(name)
  local f = file.open(name, "r")
  if not f then return nil, "cannot open " .. name end
  if f:read(1) == "\27" then
    f:close()
    return loadfile(name)
  end
  f:close()
  f = file.open(name, "r")
  local chunk, err = load(function() return f:read(256) end, "@" .. name)
  f:close()
  return chunk, err
end

-- TLS (mqtt_secure): pin the broker's CA. ./flash.sh uploads it as ca.pem;
-- the first boot writes it into the tls module's certificate flash area and
-- renames the file ca.pin, so later boots only switch verification on (no
-- flash write per boot, no heap for the PEM). Re-pinned from ca.pin if the
-- flash area is empty. The app refuses a secure connection unless this
-- set espfleet_ca_pinned: TLS without a checked certificate is not secure.
local function pin_from(name)
  local f = file.open(name, "r")
  if not f then return false end
  local pem = f:read(4096)
  f:close()
  local ok, err = pcall(tls.cert.verify, pem)
  if not ok then
    print("espfleet: " .. name .. " rejected by tls.cert.verify (" .. tostring(err) .. "); secure connections will fail")
  end
  return ok
end

local function pin_ca()
  if type(tls) == "nil" then return end
  if file.exists("ca.pem") then
    if pin_from("ca.pem") then
      file.remove("ca.pin")
      file.rename("ca.pem", "ca.pin")
      print("espfleet: pinned the broker CA from ca.pem")
      espfleet_ca_pinned = true
    end
  elseif file.exists("ca.pin") then
    espfleet_ca_pinned = pcall(tls.cert.verify, true) or pin_from("ca.pin")
  end
end

local failed = read_counter()
if failed >= MAX_FAILED_BOOTS then
  write_counter(0)
  print("espfleet: safe mode: the app crashed on " .. failed .. " boots in a row; not starting it.")
  print("espfleet: free heap now " .. node.heap() .. " B; an app that does not run from LFS needs more than a stock board has")
  print("espfleet: see the errors above; re-flash with ./flash.sh (it loads the app into LFS), then node.restart()")
  return
end
write_counter(failed + 1)

print("espfleet: starting " .. APP .. " in " .. BOOT_DELAY_MS .. " ms; to stop: file.remove(\"init.lua\")")
local boot = tmr.create()
boot:register(BOOT_DELAY_MS, tmr.ALARM_SINGLE, function()
  boot = nil
  if espfleet_stop or not file.exists("init.lua") then
    write_counter(0)
    print("espfleet: stopped before start; the app did not run")
    return
  end
  local app, why = lfs_app()
  if not app then
    print("espfleet: not running from LFS: " .. why .. "; running the files on flash")
  end
  if not app and file.exists("app.lc") then
    app, why = load_file("app.lc")
    if not app then
      print("espfleet: cannot load app.lc (" .. tostring(why) .. "); trying app.lua")
    end
  end
  if not app and file.exists("app.lua") then
    app, why = load_file("app.lua")
    if not app then
      print("espfleet: cannot load app.lua (" .. tostring(why) .. ")")
    end
  end
  if not app then
    -- Nothing to run: stay at the prompt rather than crash and reboot.
    write_counter(0)
    if not file.exists("app.lua") then
      print("espfleet: no app that this firmware can run; upload the firmware (./flash.sh)")
    end
    return
  end
  local healthy = tmr.create()
  healthy:register(HEALTHY_AFTER_MS, tmr.ALARM_SINGLE, function()
    write_counter(0)
  end)
  healthy:start()
  pin_ca()
  app()
end)
boot:start()
