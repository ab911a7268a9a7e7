-- luacheck: std lua51
--[[
wifi, station mode (app/modules/wifi.c, wifi_eventmon.c, docs/modules/wifi.md):
  * sta.config{ssid, pwd, auto, save}: ssid of 1-32 bytes, pwd empty or 8-64
    ("ssid: length: 1-32", "pwd: length: 0 or 8-64"); with auto (the
    default) the station leaves and joins again (wifi_station_disconnect();
    wifi_station_connect()), so the events come again; save keeps the config
    in flash (auto-joined at power-up);
  * sta.connect() joins with the stored config and does nothing while
    joined; sta.disconnect(), sta.autoconnect(), getip() (nil until
    STA_GOT_IP), status() (STA_IDLE, STA_CONNECTING, STA_GOTIP, STA_WRONGPWD
    after reason AUTH_FAIL, STA_APNOTFOUND after NO_AP_FOUND), getconfig,
    getmac, gethostname/sethostname ("NODE-" and the chip id), getrssi;
  * eventmon callbacks only see events that happen after they were
    registered; STA_DISCONNECTED carries the SDK's reason code.
Joining is the host's: ctx.wifi.link carries the requests out and the host
reports back through W (connected, got_ip, disconnected).

ctx: C, chipid(), callback(fn, ...). ctx.wifi:
  saved       station config saved in flash: { ssid, pwd, auto } or nil
  mac         the station's MAC address
  link = {
    join(ssid, again)   join (again: leave first when joined, from sta.config)
    leave()             sta.disconnect()
    save(ssid, pwd, auto)  (optional) sta.config{save=true}
    event(event, info)     (optional) told of every event before the callback
  }
Returns wifi, W = { connected(ssid, bssid, channel), got_ip(ip, netmask,
gateway), disconnected(reason, ssid, bssid), state = the station's state
{ mode, connected, ip, netmask, gateway, status, config, handlers, ... } }.
]]
return function(ctx)
  local C = ctx.C
  local argerror, checkinteger, checkstring = C.argerror, C.checkinteger, C.checkstring
  local callback = ctx.callback
  local hooks = ctx.wifi
  local link = hooks.link
  local type, tonumber, error, format = type, tonumber, error, string.format

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
  local reason = wifi.eventmon.reason

  -- One constructor with every field, so the table is sized once (a host
  -- that counts heap sees no growth when the station gets its address).
  local sta = { mode = wifi.STATION, connected = false, ip = nil, netmask = nil, gateway = nil,
    status = wifi.STA_IDLE, config = hooks.saved, handlers = {}, hostname = format("NODE-%06X",
      ctx.chipid() % 16777216), mac = hooks.mac }

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
    local auto = cfg.auto ~= false
    sta.config = { ssid = ssid, pwd = pwd, auto = auto }
    if cfg.save and link.save then
      link.save(ssid, pwd, auto)
    end
    if auto then
      sta.status = wifi.STA_CONNECTING
      link.join(ssid, true)
    end
    return true
  end
  function wifi.sta.connect()
    if sta.config ~= nil and not sta.connected then
      sta.status = wifi.STA_CONNECTING
      link.join(sta.config.ssid, false)
    end
  end
  function wifi.sta.disconnect()
    link.leave()
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

  -- (Tail calls here and in the reports below: the firmware's callback runs
  -- no deeper in the host's call stack, which a heap count includes, than
  -- where the host delivered the event.)
  local function event(ev, info)
    if link.event then
      link.event(ev, info)
    end
    local fn = sta.handlers[ev]
    if fn then
      callback(fn, info)
    end
  end

  local W = { state = sta }
  function W.connected(ssid, bssid, channel)
    return event(wifi.eventmon.STA_CONNECTED, { SSID = ssid, BSSID = bssid, channel = tonumber(channel) })
  end
  function W.got_ip(ip, netmask, gateway)
    sta.connected, sta.ip, sta.netmask, sta.gateway, sta.status = true, ip, netmask, gateway, wifi.STA_GOTIP
    return event(wifi.eventmon.STA_GOT_IP, { IP = ip, netmask = netmask, gateway = gateway })
  end
  function W.disconnected(code, ssid, bssid)
    sta.connected, sta.ip = false, nil
    local r = tonumber(code)
    if r == reason.AUTH_FAIL then
      sta.status = wifi.STA_WRONGPWD
    elseif r == reason.NO_AP_FOUND then
      sta.status = wifi.STA_APNOTFOUND
    else
      sta.status = sta.config and wifi.STA_CONNECTING or wifi.STA_IDLE
    end
    return event(wifi.eventmon.STA_DISCONNECTED, { SSID = ssid, BSSID = bssid, reason = r })
  end

  return wifi, W
end
