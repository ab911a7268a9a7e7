-- luacheck: std lua51
--[[
Lua 5.1 binary chunks (.lc) in NodeMCU's layout. NodeMCU's Lua 5.1
(app/lua/ldump.c, lundump.c) pads the file with zero bytes to a multiple of 4
before each function's code and before its line info (Align4), so code can
run in place; a stock Lua 5.1 does not. The virtual device only loads its own
layout, so .lc files are read as NodeMCU writes them and converted to the
stock layout this Lua loads, and node.compile writes NodeMCU's layout.
(string.dump stays stock, as it is in NodeMCU.) scripts/lib/lua-bytecode.ts
is the host-side twin (nodemcuChunk, parseChunk(bytes, "nodemcu")).

  local B = dofile("nodemcu_bytecode.lua")
  B.relayout(chunk, false)   -- NodeMCU layout -> stock (raises "bad binary format ...")
  B.relayout(chunk, true)    -- stock -> NodeMCU layout
]]

local byte, sub, rep, concat = string.byte, string.sub, string.rep, table.concat
local error, pcall = error, pcall

local function relayout(s, to_nodemcu)
  if byte(s, 5) ~= 0x51 or #s < 12 then
    return s -- not a 5.1 chunk: leave it to the loader's own checks
  end
  local le = byte(s, 7) == 1
  local size_int, size_t, size_instr, size_num = byte(s, 8), byte(s, 9), byte(s, 10), byte(s, 11)
  local out, nout_parts, outlen = { sub(s, 1, 12) }, 1, 12
  local pos = 13
  local function bad(what)
    error("bad binary format (" .. what .. " at byte " .. (pos - 1) .. ")", 0)
  end
  local function uint(n)
    if pos + n - 1 > #s then
      bad("truncated")
    end
    local v = 0
    for i = 0, n - 1 do
      v = v * 256 + byte(s, le and (pos + n - 1 - i) or (pos + i))
    end
    return v
  end
  local function copy(n)
    if n > 0 then
      if pos + n - 1 > #s then
        bad("truncated")
      end
      nout_parts = nout_parts + 1
      out[nout_parts] = sub(s, pos, pos + n - 1)
      pos, outlen = pos + n, outlen + n
    end
  end
  local function count(unit)
    local n = uint(size_int)
    copy(size_int)
    if n < 0 or n * unit > #s - pos + 1 then
      bad("count")
    end
    return n
  end
  local function align()
    if to_nodemcu then
      local pad = (4 - outlen % 4) % 4
      if pad > 0 then
        nout_parts = nout_parts + 1
        out[nout_parts] = rep("\0", pad)
        outlen = outlen + pad
      end
    else
      while (pos - 1) % 4 ~= 0 do
        if byte(s, pos) ~= 0 then
          bad("not NodeMCU's layout: no Align4 padding")
        end
        pos = pos + 1
      end
    end
  end
  local function str()
    copy(size_t + uint(size_t))
  end
  local function proto()
    str() -- source
    copy(2 * size_int + 4) -- linedefined, lastlinedefined, nups, numparams, is_vararg, maxstacksize
    local ncode = count(size_instr)
    align()
    copy(ncode * size_instr)
    for _ = 1, count(1) do
      local t = byte(s, pos)
      copy(1)
      if t == 1 then
        copy(1)
      elseif t == 3 then
        copy(size_num)
      elseif t == 4 then
        str()
      elseif t ~= 0 then
        bad("constant type " .. tostring(t))
      end
    end
    for _ = 1, count(1) do
      proto()
    end
    local nline = count(size_int)
    align()
    copy(nline * size_int)
    for _ = 1, count(1) do
      str()
      copy(2 * size_int)
    end
    for _ = 1, count(1) do
      str()
    end
  end
  local ok, err = pcall(proto)
  local result = ok and concat(out) or nil
  if not ok then
    error(err, 0)
  end
  if pos <= #s then
    error("bad binary format (" .. (#s - pos + 1) .. " trailing bytes)", 0)
  end
  return result
end


return { relayout = relayout }
