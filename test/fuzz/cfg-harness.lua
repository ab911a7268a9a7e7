-- luacheck: std lua51
-- Drives the BUILT cold code (firmware/dist/cfg.lua) the way the node does, for
-- test/fuzz/config-change.test.ts, inside a WasmLua state (32-bit Lua 5.1 or 5.3):
--   __wasm.cfg_change(payload, current_json, node_id, fs_full) -> JSON text of
--   { apply = <config or absent>, ack = <ack text or absent>, writes = { {name, text}, ... } }
-- The platform is NodeMCU's as the virtual device has it: the sjson codec of
-- device/lua/nodemcu_common.lua (20 levels at most, null a sentinel) decodes,
-- the pure-Lua crypto of nodemcu_codecs.lua signs. Encoding is exact (%.17g,
-- -0 kept, keys sorted) so a difference in a value cannot hide in the printing.
local C = dofile("nodemcu_common.lua")
local codecs = assert(loadfile("nodemcu_codecs.lua"))(C, function() return nil end, function(fn) fn() end)
local sjson = C.pure_json(C.make_null())
local cfg = dofile("cfg.lua")

local format, byte, concat, sort = string.format, string.byte, table.concat, table.sort

local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    if c == '"' or c == "\\" then
      return "\\" .. c
    end
    return format("\\u%04x", byte(c))
  end) .. '"'
end

local encode
encode = function(v)
  local t = type(v)
  if t == "table" then
    local n, count = #v, 0
    for _ in pairs(v) do
      count = count + 1
    end
    local parts = {}
    if count > 0 and count == n then
      for i = 1, n do
        parts[i] = encode(v[i])
      end
      return "[" .. concat(parts, ",") .. "]"
    end
    local keys = {}
    for k in pairs(v) do
      keys[#keys + 1] = tostring(k)
    end
    sort(keys)
    for i, k in ipairs(keys) do
      local value = v[k]
      if value == nil then
        value = v[tonumber(k)]
      end
      parts[i] = quote(k) .. ":" .. encode(value)
    end
    return "{" .. concat(parts, ",") .. "}"
  elseif t == "string" then
    return quote(v)
  elseif t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then
      return quote(tostring(v))
    end
    return format("%.17g", v)
  elseif t == "boolean" then
    return tostring(v)
  end
  return "null"
end

local writes, fs_full
local platform = {}
function platform.decodeJson(_, text)
  local ok, value = pcall(sjson.decode, text)
  if ok then
    return value
  end
  return nil
end
function platform.encodeJson(_, value)
  return encode(value)
end
function platform.hmacSha256Hex(_, key, message)
  return codecs.crypto.toHex(codecs.crypto.hmac("sha256", message, key))
end
function platform.writeFile(_, name, contents)
  if fs_full then
    return false
  end
  writes[#writes + 1] = { name, contents }
  return true
end
function platform.readFile()
  return nil
end
function platform.log() end

function __wasm.cfg_change(payload, current_json, node_id, full)
  writes, fs_full = {}, full == "1"
  -- as boot leaves it: loaded through the schema (whole numbers are integers on Lua 5.3)
  local current = cfg.copyConfig(sjson.decode(current_json))
  local out = cfg.configChange(platform, current, node_id, payload)
  return encode({ apply = out.apply, ack = out.ack, writes = writes })
end
