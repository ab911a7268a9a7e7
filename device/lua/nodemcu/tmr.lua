-- luacheck: std lua51
--[[
tmr (app/modules/tmr.c, docs/modules/tmr.md) on the host's clock:
  * register() checks 1 <= interval <= 6870947 ms and the mode, raises
    otherwise, and does not start the timer;
  * start() on a running timer returns false and does not restart it;
  * ALARM_SINGLE unregisters itself before its callback runs; ALARM_SEMI
    stays registered but stopped; ALARM_AUTO re-arms from its due time, and
    one that is already late again (a long callback, a busy host) skips to
    now + interval, as os_timer does;
  * interval() re-arms a running timer; stop() of a stopped one is false;
  * a running timer is anchored, as the C module keeps a registry reference
    while it runs; an idle one nobody references is collected;
  * tmr.now() is microseconds wrapping at 2^31, tmr.time() seconds,
    tmr.ccount() cycles at 80 MHz; tmr.delay(us) raises for us <= 0.
When timers run is the host's: it asks T.earliest(limit) for the next one due
(ties: registration order) and runs it with T.fire(t).

ctx: C, now() (ms), seq() (registration order), callback(fn, ...);
ctx.tmr.delay(us) (optional): what a busy wait does to the host's clock.
Returns tmr, T = { armed = set of running timers, earliest(limit), fire(t), MAX_MS }.
]]
return function(ctx)
  local argerror, checkinteger = ctx.C.argerror, ctx.C.checkinteger
  local now, seq, callback = ctx.now, ctx.seq, ctx.callback
  local delay = ctx.tmr and ctx.tmr.delay
  local floor, pairs, setmetatable, type, tostring, error = math.floor, pairs, setmetatable, type, tostring, error

  local MAX_MS = 6870947
  local tmr = { ALARM_SINGLE = 0, ALARM_AUTO = 1, ALARM_SEMI = 2 }
  local Timer = {}
  Timer.__index = Timer
  local armed = {}

  local function set_running(t, on)
    t.running = on
    armed[t] = on or nil
  end

  local function check_interval(ms, fname)
    ms = checkinteger(ms, 2, fname)
    if ms < 1 or ms > MAX_MS then
      argerror(2, fname, "invalid interval " .. tostring(ms) .. "; Range: 1-" .. MAX_MS)
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
    self.mode, self.ms, self.fn, self.regseq = mode, ms, fn, seq()
  end

  function Timer:start()
    if self.mode == nil or self.running then
      return false
    end
    set_running(self, true)
    self.due = now() + self.ms
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
        self.due = now() + ms
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

  function tmr.time()
    return floor(now() / 1000) % 2147483648
  end
  function tmr.now()
    return floor(now() * 1000) % 2147483648
  end
  function tmr.ccount()
    return floor(now() * 80000) % 4294967296
  end
  function tmr.delay(us)
    us = checkinteger(us, 1, "delay")
    if us <= 0 then
      error("wrong arg range", 0)
    end
    if delay then
      delay(us)
    end
  end
  function tmr.wdclr() end
  function tmr.softwd() end

  local T = { armed = armed, MAX_MS = MAX_MS }

  --- The running timer due first (ties: the one registered first), if it is
  -- due no later than `limit` (ms; nil: any).
  function T.earliest(limit)
    local best = nil
    for t in pairs(armed) do
      if (limit == nil or t.due <= limit)
        and (best == nil or t.due < best.due or (t.due == best.due and t.regseq < best.regseq)) then
        best = t
      end
    end
    return best
  end

  --- Run a due timer's callback, after re-arming or disarming it by its mode.
  function T.fire(t)
    local fn = t.fn
    if t.mode == tmr.ALARM_SINGLE then
      t.mode, t.fn = nil, nil
      set_running(t, false)
    elseif t.mode == tmr.ALARM_SEMI then
      set_running(t, false)
    else
      t.due = t.due + t.ms
      local at = now()
      if t.due <= at then
        t.due = at + t.ms -- late: skip, as os_timer does
      end
    end
    callback(fn, t)
  end

  return tmr, T
end
