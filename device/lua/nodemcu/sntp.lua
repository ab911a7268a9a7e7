-- luacheck: std lua51
--[[
sntp (app/modules/sntp.c, docs/modules/sntp.md): sync(server, ok, fail,
autorepeat): server a name, a list (the first is asked) or nil
("pool.ntp.org"); ok(sec, usec, server, info) and, with rtctime in the
build, the RTC set; fail(code, text) when no answer comes (no wifi: the
host's code). The exchange is the host's.

ctx: callback(fn, ...). ctx.sntp:
  sync(id, server, autorepeat)  ask; answer later with S.done or S.failed
  rtc                            (optional) rtctime's R, when in the build
Returns sntp, S = { done(id, sec, usec, server), failed(id, code, text) }.
]]
return function(ctx)
  local callback = ctx.callback
  local h = ctx.sntp
  local type, tonumber = type, tonumber
  local sntp = {}
  local calls = {}
  local last = 0
  function sntp.sync(server, ok_fn, fail_fn, autorepeat)
    last = last + 1
    local srv = type(server) == "string" and server or (type(server) == "table" and server[1]) or "pool.ntp.org"
    calls[last] = { ok = ok_fn, fail = fail_fn, server = srv }
    h.sync(last, srv, autorepeat)
  end

  local S = {}
  function S.done(id, sec, usec, server)
    local call = calls[tonumber(id)]
    if call == nil then
      return
    end
    sec, usec = tonumber(sec), tonumber(usec)
    if h.rtc then
      h.rtc.set_unix(sec + usec / 1000000)
    end
    return callback(call.ok, sec, usec, server or call.server, {})
  end
  function S.failed(id, code, text)
    local call = calls[tonumber(id)]
    if call == nil then
      return
    end
    return callback(call.fail, tonumber(code), text)
  end
  return sntp, S
end
