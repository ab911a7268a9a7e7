-- luacheck: std max
--[[
Pure-Lua helpers of the NodeMCU emulation (ESP8266, firmware 3.x), shared by
the NodeMCU modules in device/lua/nodemcu/ and their two hosts: the virtual
device (device/lua/nodemcu_device.lua, real time, one wasm32 Lua 5.1 per
boot) and the busted mock (test/lua/nodemcu_mock.lua, virtual time):

  local C = dofile("device/lua/nodemcu_common.lua")
  C.pure_json(C.make_null())       -- the sjson codec (sjson.NULL is a userdata)
  C.argerror / C.checkinteger / C.checkstring / C.copy_table
  C.tohex / C.fromhex

One copy, so the specs and the virtual device cannot drift apart on what
sjson accepts or how arguments are checked. Lua 5.1 and 5.3, no io/os/C modules.
]]

local C = {}

local floor = math.floor
local math_type = rawget(math, "type")

-- ---------------------------------------------------------------------------
-- JSON (pure Lua, sjson/cjson compatible enough for the firmware)
-- ---------------------------------------------------------------------------

local function make_null()
  local np = rawget(_G, "newproxy")
  if np then
    return np(false) -- a userdata, like sjson.NULL / cjson.null
  end
  -- Lua 5.2+: no way to make a userdata from Lua; a coroutine is neither a
  -- table, a string nor a number, which is what matters to the firmware.
  return coroutine.create(function() end)
end

local function pure_json(null, max_depth)
  local J = { null = null }
  max_depth = max_depth or 20

  local escapes = {
    ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
    ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
  }
  local function escape_string(s)
    return '"' .. s:gsub('[%c"\\]', function(c)
      return escapes[c] or string.format("\\u%04x", c:byte())
    end) .. '"'
  end

  local function is_integral(n)
    return n == floor(n) and n >= -2 ^ 53 and n <= 2 ^ 53
  end

  local encode_value
  local function encode_table(t, depth, out)
    if depth > max_depth then
      error("Cannot serialise, excessive nesting (" .. depth .. ")", 0)
    end
    local count, max_index, only_positive_integers = 0, 0, true
    for k in pairs(t) do
      count = count + 1
      if type(k) == "number" and k > 0 and is_integral(k) then
        if k > max_index then
          max_index = k
        end
      else
        only_positive_integers = false
      end
    end
    if count > 0 and only_positive_integers and max_index == count then
      out[#out + 1] = "["
      for i = 1, max_index do
        if i > 1 then
          out[#out + 1] = ","
        end
        encode_value(t[i], depth + 1, out)
      end
      out[#out + 1] = "]"
      return
    end
    local keys = {}
    for k in pairs(t) do
      local kt = type(k)
      if kt ~= "string" and kt ~= "number" then
        error("Cannot serialise table: key of type " .. kt, 0)
      end
      keys[#keys + 1] = k
    end
    table.sort(keys, function(a, b)
      return tostring(a) < tostring(b)
    end)
    out[#out + 1] = "{"
    for i, k in ipairs(keys) do
      if i > 1 then
        out[#out + 1] = ","
      end
      local name = k
      if type(k) == "number" then
        name = (is_integral(k) and k > -2147483648 and k < 2147483648) and string.format("%d", k) or tostring(k)
      end
      out[#out + 1] = escape_string(name)
      out[#out + 1] = ":"
      encode_value(t[k], depth + 1, out)
    end
    out[#out + 1] = "}"
  end

  encode_value = function(v, depth, out)
    local t = type(v)
    if v == nil or v == null then
      out[#out + 1] = "null"
    elseif t == "boolean" then
      out[#out + 1] = v and "true" or "false"
    elseif t == "number" then
      if v ~= v or v == math.huge or v == -math.huge then
        error("Cannot serialise number: must not be NaN or Inf", 0)
      end
      if is_integral(v) then
        -- "%d" is a C long: 32 bits on wasm32, so larger integers go through %.0f
        out[#out + 1] = (v > -2147483648 and v < 2147483648) and string.format("%d", v) or string.format("%.0f", v)
      else
        out[#out + 1] = string.format("%.14g", v)
      end
    elseif t == "string" then
      out[#out + 1] = escape_string(v)
    elseif t == "table" then
      encode_table(v, depth, out)
    elseif t == "function" then
      -- sjson: a function is called and its result encoded in its place
      encode_value(v(), depth, out)
    elseif t == "userdata" or t == "thread" then
      out[#out + 1] = "null" -- sjson: any userdata encodes as null
    else
      error("Cannot serialise " .. t, 0)
    end
  end

  function J.encode(v)
    local out = {}
    encode_value(v, 1, out)
    return table.concat(out)
  end

  local function decode_error(s, pos, what)
    error(string.format("Expected %s but found %s at character %d", what,
      pos > #s and "T_END" or ("'" .. s:sub(pos, pos) .. "'"), pos), 0)
  end

  local function skip(s, pos)
    return (s:find("[^ \t\r\n]", pos)) or (#s + 1)
  end

  local function utf8_char(cp)
    if cp < 0x80 then
      return string.char(cp)
    elseif cp < 0x800 then
      return string.char(0xC0 + floor(cp / 0x40), 0x80 + cp % 0x40)
    elseif cp < 0x10000 then
      return string.char(0xE0 + floor(cp / 0x1000), 0x80 + floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
    end
    return string.char(0xF0 + floor(cp / 0x40000), 0x80 + floor(cp / 0x1000) % 0x40,
      0x80 + floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
  end

  local decode_value
  local function decode_string(s, pos)
    -- s:sub(pos, pos) == '"'
    local parts = {}
    local i = pos + 1
    while true do
      local c = s:sub(i, i)
      if c == "" then
        decode_error(s, i, "'\"'")
      elseif c == '"' then
        return table.concat(parts), i + 1
      elseif c == "\\" then
        local e = s:sub(i + 1, i + 1)
        local simple = ({ ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" })[e]
        if simple then
          parts[#parts + 1] = simple
          i = i + 2
        elseif e == "u" then
          local hex = s:sub(i + 2, i + 5)
          if not hex:match("^%x%x%x%x$") then
            decode_error(s, i, "unicode escape")
          end
          local cp = tonumber(hex, 16)
          i = i + 6
          if cp >= 0xD800 and cp <= 0xDBFF and s:sub(i, i + 1) == "\\u" then
            local low = tonumber(s:sub(i + 2, i + 5), 16)
            if low and low >= 0xDC00 and low <= 0xDFFF then
              cp = 0x10000 + (cp - 0xD800) * 0x400 + (low - 0xDC00)
              i = i + 6
            end
          end
          parts[#parts + 1] = utf8_char(cp)
        else
          decode_error(s, i, "escape")
        end
      else
        -- raw control characters are accepted, as cjson does
        local j = s:find('["\\]', i) or (#s + 1)
        parts[#parts + 1] = s:sub(i, j - 1)
        i = j
      end
    end
  end

  local function decode_number(s, pos)
    local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
    local strict = num and (num:match("^-?0$") or num:match("^-?[1-9]%d*$")
      or num:match("^-?0%.%d+$") or num:match("^-?[1-9]%d*%.%d+$")
      or num:match("^-?0[eE][-+]?%d+$") or num:match("^-?[1-9]%d*[eE][-+]?%d+$")
      or num:match("^-?0%.%d+[eE][-+]?%d+$") or num:match("^-?[1-9]%d*%.%d+[eE][-+]?%d+$"))
    if not strict then
      decode_error(s, pos, "value")
    end
    local n = tonumber(num)
    -- cjson on Lua 5.3 decodes every number as a float ("2000.0" when printed)
    return n + 0.0, pos + #num
  end

  decode_value = function(s, pos, depth)
    pos = skip(s, pos)
    local c = s:sub(pos, pos)
    if c == "{" or c == "[" then
      if depth > max_depth then
        error("Found too many nested data structures (" .. depth .. ") at character " .. pos, 0)
      end
      local result = {}
      local close = c == "{" and "}" or "]"
      pos = skip(s, pos + 1)
      if s:sub(pos, pos) == close then
        return result, pos + 1
      end
      local index = 1
      while true do
        if c == "{" then
          if s:sub(pos, pos) ~= '"' then
            decode_error(s, pos, "object key string")
          end
          local key
          key, pos = decode_string(s, pos)
          pos = skip(s, pos)
          if s:sub(pos, pos) ~= ":" then
            decode_error(s, pos, "colon")
          end
          local value
          value, pos = decode_value(s, pos + 1, depth + 1)
          result[key] = value
        else
          local value
          value, pos = decode_value(s, pos, depth + 1)
          result[index] = value
          index = index + 1
        end
        pos = skip(s, pos)
        local d = s:sub(pos, pos)
        if d == close then
          return result, pos + 1
        elseif d ~= "," then
          decode_error(s, pos, "comma or " .. close)
        end
        pos = skip(s, pos + 1)
      end
    elseif c == '"' then
      return decode_string(s, pos)
    elseif c == "-" or c:match("%d") then
      return decode_number(s, pos)
    elseif s:sub(pos, pos + 3) == "true" then
      return true, pos + 4
    elseif s:sub(pos, pos + 4) == "false" then
      return false, pos + 5
    elseif s:sub(pos, pos + 3) == "null" then
      return null, pos + 4
    end
    decode_error(s, pos, "value")
  end

  function J.decode(s)
    if type(s) ~= "string" then
      error("bad argument #1 to 'decode' (string expected, got " .. type(s) .. ")", 0)
    end
    local value, pos = decode_value(s, 1, 1)
    pos = skip(s, pos)
    if pos <= #s then
      decode_error(s, pos, "the end")
    end
    return value
  end

  return J
end

C.make_null = make_null
C.pure_json = pure_json

-- ---------------------------------------------------------------------------
-- argument checks, as the C modules do them
-- ---------------------------------------------------------------------------

local function argerror(n, fname, msg)
  error("bad argument #" .. n .. " to '" .. fname .. "' (" .. msg .. ")", 0)
end

-- luaL_checkinteger as the firmware's Lua would do it.
local function checkinteger(v, n, fname)
  if type(v) == "string" and tonumber(v) then
    v = tonumber(v)
  end
  if type(v) ~= "number" then
    argerror(n, fname, "number expected, got " .. (v == nil and "no value" or type(v)))
  end
  if math_type then
    if math_type(v) == "float" then
      if v ~= floor(v) or v ~= v then
        argerror(n, fname, "number has no integer representation")
      end
      v = floor(v)
    end
    return v
  end
  -- Lua 5.1: luaL_checkinteger truncates towards zero
  return v >= 0 and floor(v) or -floor(-v)
end

local function checkstring(v, n, fname)
  if type(v) == "number" then
    return tostring(v)
  end
  if type(v) ~= "string" then
    argerror(n, fname, "string expected, got " .. (v == nil and "no value" or type(v)))
  end
  return v
end

local function copy_table(t)
  local c = {}
  for k, v in pairs(t) do
    c[k] = v
  end
  return c
end

-- Hex of a byte string and back: the mailbox's binary-safe field encoding
-- and the encoder module's toHex/fromHex share these.
function C.tohex(s)
  return (string.gsub(s, ".", function(c)
    return string.format("%02x", string.byte(c))
  end))
end
function C.fromhex(h)
  return (string.gsub(h, "%x%x", function(c)
    return string.char(tonumber(c, 16))
  end))
end

C.argerror = argerror
C.checkinteger = checkinteger
C.checkstring = checkstring
C.copy_table = copy_table

return C
