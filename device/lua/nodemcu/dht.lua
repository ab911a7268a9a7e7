-- luacheck: std lua51
--[[
dht (app/modules/dht.c, docs/modules/dht.md): read/read11/readxx(pin) for
pins 1..12 ("dht N does not exist" otherwise) return status, temp, humi,
temp_dec, humi_dec as floats; on a failed read (ERROR_CHECKSUM,
ERROR_TIMEOUT) the values are -999.

ctx: C. ctx.dht.read(pin) -> status, temperature (C), humidity (%): the sensor.
Returns dht.
]]
return function(ctx)
  local checkinteger = ctx.C.checkinteger
  local sense = ctx.dht.read
  local floor, error = math.floor, error
  local dht = { OK = 0, ERROR_CHECKSUM = -1, ERROR_TIMEOUT = -2 }
  local function dec_part(v)
    local int = v >= 0 and floor(v) or -floor(-v)
    local x = (v - int) * 1000
    return (x >= 0 and floor(x) or -floor(-x)) + 0.0
  end
  local function read(pin)
    pin = checkinteger(pin, 1, "read")
    if pin < 1 or pin > 12 then
      error("dht " .. pin .. " does not exist", 0)
    end
    local status, temp, humi = sense(pin)
    status = status or dht.OK
    if status ~= dht.OK then
      return status, -999.0, -999.0, 0.0, 0.0
    end
    local t, h = temp + 0.0, humi + 0.0
    return status, t, h, dec_part(t), dec_part(h)
  end
  dht.read, dht.read11, dht.readxx = read, read, read
  return dht
end
