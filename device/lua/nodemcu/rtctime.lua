-- luacheck: std lua51
--[[
rtctime (app/modules/rtctime.c, docs/modules/rtctime.md): get() is 0, 0, 0
until the clock is set (set(), or sntp.sync with rtctime in the build), then
seconds, microseconds and the rate; set() with no argument clears it;
epoch2cal(t) as the C module (UTC, wday 1 = Sunday).

ctx: C, now() (ms). ctx.rtctime.unix (optional): the time at boot, s.
Returns rtctime, R = { set_unix(t) } (t: seconds, fractional; nil clears).
]]
return function(ctx)
  local checkinteger = ctx.C.checkinteger
  local now = ctx.now
  local floor = math.floor
  local rtc = nil -- { unix = seconds at the boot-relative ms `at` }

  local R = {}
  function R.set_unix(t)
    rtc = t ~= nil and { unix = t, at = now() } or nil
  end
  R.set_unix(ctx.rtctime and ctx.rtctime.unix)

  local rtctime = {}
  function rtctime.get()
    if rtc == nil then
      return 0, 0, 0
    end
    local t = rtc.unix + (now() - rtc.at) / 1000
    local sec = floor(t)
    return sec, floor((t - sec) * 1000000), 0
  end
  function rtctime.set(sec, usec)
    if sec == nil then
      rtc = nil
      return
    end
    R.set_unix(checkinteger(sec, 1, "set") + (usec or 0) / 1000000)
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
  return rtctime, R
end
