-- luacheck: std lua51
--[[
uart (app/modules/uart.c, docs/modules/uart.md): setup(id, baud, databits,
parity, stopbits, echo) for uart 0 and 1 ("uart N does not exist"
otherwise; echo only on 0), getconfig, alt, write(id, ...) (numbers are
bytes), on("data", n | char, fn, run_input): fn gets n bytes, or a line up
to and including `char` (at most 255 bytes), or whatever came (n = 0); no
fn turns it off.

ctx: C, callback(fn, ...). ctx.uart:
  echo(on)                 uart.setup on uart 0: the console echoes input (or not)
  write(data)              bytes to the serial port
  on(enabled, run_input)   uart.on("data") set (or cleared): the host sends
                           console input to U.input, and to the interpreter too
                           when run_input
Returns uart, U = { input(data) }.
]]
return function(ctx)
  local C = ctx.C
  local checkinteger, checkstring = C.checkinteger, C.checkstring
  local callback = ctx.callback
  local h = ctx.uart
  local type, select, error, char, sub, find, concat = type, select, error, string.char, string.sub, string.find,
    table.concat
  local uart = { STOPBITS_1 = 1, STOPBITS_1_5 = 2, STOPBITS_2 = 3, PARITY_NONE = 0, PARITY_EVEN = 1, PARITY_ODD = 2 }
  local cfg = { baud = 115200, databits = 8, parity = 0, stopbits = 1 }
  local data_cb = nil -- { fn =, len =, char =, buf = }
  function uart.setup(id, baud, databits, parity, stopbits, echo)
    id = checkinteger(id, 1, "setup")
    if id ~= 0 and id ~= 1 then
      error("uart " .. id .. " does not exist", 0)
    end
    cfg = { baud = checkinteger(baud, 2, "setup"), databits = databits or 8, parity = parity or 0,
      stopbits = stopbits or 1 }
    if id == 0 then
      h.echo(echo == nil or echo ~= 0)
    end
    return cfg.baud
  end
  function uart.getconfig()
    return cfg.baud, cfg.databits, cfg.parity, cfg.stopbits
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
    h.write(concat(parts))
  end
  function uart.on(event, a, fn, run_input)
    if event ~= "data" then
      return
    end
    if type(a) == "function" then
      a, fn, run_input = 0, a, fn
    end
    if type(fn) ~= "function" then
      data_cb = nil
      h.on(false, true)
      return
    end
    local d = { fn = fn, buf = "" }
    if type(a) == "string" then
      d.char = sub(a, 1, 1)
    else
      d.len = checkinteger(a, 2, "on")
    end
    data_cb = d
    h.on(true, run_input == nil or run_input ~= 0)
  end

  local U = {}
  --- Console input while uart.on("data") is set.
  function U.input(data)
    local d = data_cb
    if d == nil then
      return
    end
    if d.char then
      d.buf = d.buf .. data
      while true do
        local at = find(d.buf, d.char, 1, true)
        if at == nil then
          break
        end
        local piece = sub(d.buf, 1, at)
        d.buf = sub(d.buf, at + 1)
        callback(d.fn, piece)
      end
      if #d.buf >= 255 then
        local piece = d.buf
        d.buf = ""
        callback(d.fn, piece)
      end
    elseif d.len and d.len > 0 then
      d.buf = d.buf .. data
      while #d.buf >= d.len do
        local piece = sub(d.buf, 1, d.len)
        d.buf = sub(d.buf, d.len + 1)
        callback(d.fn, piece)
      end
    else
      callback(d.fn, data)
    end
  end
  return uart, U
end
