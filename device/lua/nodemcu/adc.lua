-- luacheck: std lua51
--[[
adc (app/modules/adc.c, docs/modules/adc.md): one channel (0; others raise
"adc N does not exist"). The mode is chosen at boot from flash:
adc.read(0) gives 65535 in VDD33 mode, adc.readvdd33() gives 65535 unless in
VDD33 mode; force_init_mode(mode) changes the mode of the next boot and
returns whether it changed.

ctx: C. ctx.adc:
  mode         adc.INIT_ADC (0) or adc.INIT_VDD33 (255) of this boot; nil: the
               host does not model the mode (both readings always answer)
  next         (optional) the mode stored for the next boot; default `mode`
  read()       the raw reading, 0..1024
  vdd33()      the supply voltage, mV
  set_mode(m)  force_init_mode changed the mode of the next boot
Returns adc.
]]
return function(ctx)
  local checkinteger = ctx.C.checkinteger
  local h = ctx.adc
  local error = error
  local adc = { INIT_ADC = 0, INIT_VDD33 = 0xFF }
  local mode = h.mode
  local next_mode = h.next
  if next_mode == nil then
    next_mode = mode
  end
  function adc.read(channel)
    channel = checkinteger(channel, 1, "read")
    if channel ~= 0 then
      error("adc " .. channel .. " does not exist", 0)
    end
    if mode == adc.INIT_VDD33 then
      return 65535
    end
    return h.read()
  end
  function adc.readvdd33()
    -- Only in VDD33 mode (adc.force_init_mode(adc.INIT_VDD33) and a restart).
    if mode ~= nil and mode ~= adc.INIT_VDD33 then
      return 65535
    end
    return h.vdd33()
  end
  function adc.force_init_mode(m)
    m = checkinteger(m, 1, "force_init_mode")
    local changed = m ~= next_mode
    next_mode = m
    if changed then
      h.set_mode(m)
    end
    return changed
  end
  return adc
end
