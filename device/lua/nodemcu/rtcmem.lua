-- luacheck: std lua51
--[[
rtcmem (app/modules/rtcmem.c, docs/modules/rtcmem.md): 128 slots of 32 bits
in the RTC's memory, kept across reboots and deep sleep, lost at power-off.
read32(idx[, n]) returns the slots (0 when never written; out-of-range ones
are left out), write32(idx, ...) stores values modulo 2^32.

ctx: C. ctx.rtcmem:
  slots            index (0-based) -> value at boot
  write(slot, v)   a slot was written (the host keeps it for the next boot)
Returns rtcmem.
]]
return function(ctx)
  local checkinteger = ctx.C.checkinteger
  local h = ctx.rtcmem
  local slots = h.slots or {}
  local select = select
  local unpack = rawget(_G, "unpack") or rawget(table, "unpack")
  local rtcmem = {}
  function rtcmem.read32(idx, num)
    idx = checkinteger(idx, 1, "read32")
    num = num and checkinteger(num, 2, "read32") or 1
    local r = {}
    for i = 0, num - 1 do
      if idx + i >= 0 and idx + i < 128 then
        r[#r + 1] = slots[idx + i] or 0
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
        slots[slot] = v
        h.write(slot, v)
      end
    end
  end
  return rtcmem
end
