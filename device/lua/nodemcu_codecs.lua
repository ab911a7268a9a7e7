-- luacheck: std lua51
--[[
The pure-Lua codecs of the virtual device's build: `encoder` (base64, hex),
`bit` (NodeMCU's 32-bit operations on doubles) and `crypto.hash/fhash/hmac`
(SHA-1, SHA-256: what upload tools verify with; HMAC: signed config changes). No device state: the
device passes in how to read a file and how to account for the lookup
tables built on first use (they are the emulator's heap, not the firmware's).

  local X = dofile("nodemcu_codecs.lua")(C, read_file, charge)
  X.encoder, X.bit, X.crypto
]]

local C, read_file, charge = ...

local find, sub, byte, char, gsub, rep = string.find, string.sub, string.byte, string.char, string.gsub, string.rep
local concat = table.concat
local floor = math.floor
local select, error = select, error
local checkstring = C.checkstring

local tohex, fromhex = C.tohex, C.fromhex

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local encoder = {}
function encoder.toHex(s)
  return tohex(checkstring(s, 1, "toHex"))
end
function encoder.fromHex(h)
  h = checkstring(h, 1, "fromHex")
  if #h % 2 ~= 0 or find(h, "[^%x]") then
    error("Invalid hex string", 0)
  end
  return fromhex(h)
end
function encoder.toBase64(s)
  s = checkstring(s, 1, "toBase64")
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = byte(s, i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local c1, c2 = floor(n / 262144) % 64, floor(n / 4096) % 64
    local c3, c4 = floor(n / 64) % 64, n % 64
    out[#out + 1] = sub(B64, c1 + 1, c1 + 1) .. sub(B64, c2 + 1, c2 + 1)
      .. (b and sub(B64, c3 + 1, c3 + 1) or "=") .. (c and sub(B64, c4 + 1, c4 + 1) or "=")
  end
  return concat(out)
end
local B64_INDEX = {}
for i = 1, 64 do
  B64_INDEX[byte(B64, i)] = i - 1
end
function encoder.fromBase64(s)
  s = checkstring(s, 1, "fromBase64")
  s = gsub(s, "[\r\n ]", "")
  if #s % 4 ~= 0 or find(s, "[^%w%+/=]") or find(s, "=[^=]") then
    error("Invalid base64 string", 0)
  end
  local out = {}
  for i = 1, #s, 4 do
    local a, b, c, d = byte(s, i, i + 3)
    local va, vb = B64_INDEX[a] or 0, B64_INDEX[b] or 0
    local vc, vd = B64_INDEX[c] or 0, B64_INDEX[d] or 0
    local n = va * 262144 + vb * 4096 + vc * 64 + vd
    local x, y, z = floor(n / 65536), floor(n / 256) % 256, n % 256
    if c == 61 then
      out[#out + 1] = char(x)
    elseif d == 61 then
      out[#out + 1] = char(x, y)
    else
      out[#out + 1] = char(x, y, z)
    end
  end
  return concat(out)
end

-- bit: 32-bit operations on doubles, as NodeMCU's bit module (no native ops in Lua 5.1)
local bit = {}
local function u32(x)
  return floor(x) % 4294967296
end
local function bitop(a, b, f)
  a, b = u32(a), u32(b)
  local r, p = 0, 1
  for _ = 1, 32 do
    local x, y = a % 2, b % 2
    r = r + f(x, y) * p
    a, b, p = (a - x) / 2, (b - y) / 2, p * 2
  end
  return r
end
local function f_and(x, y)
  return x * y
end
local function f_or(x, y)
  return (x + y > 0) and 1 or 0
end
local function f_xor(x, y)
  return (x + y) % 2
end
local function signed(x)
  return x >= 2147483648 and x - 4294967296 or x
end
function bit.band(a, b, ...)
  local r = bitop(a, b, f_and)
  for i = 1, select("#", ...) do
    r = bitop(r, (select(i, ...)), f_and)
  end
  return signed(r)
end
function bit.bor(a, b, ...)
  local r = bitop(a, b, f_or)
  for i = 1, select("#", ...) do
    r = bitop(r, (select(i, ...)), f_or)
  end
  return signed(r)
end
function bit.bxor(a, b, ...)
  local r = bitop(a, b, f_xor)
  for i = 1, select("#", ...) do
    r = bitop(r, (select(i, ...)), f_xor)
  end
  return signed(r)
end
function bit.bnot(a)
  return signed(4294967295 - u32(a))
end
function bit.lshift(a, n)
  return signed(u32(u32(a) * 2 ^ n))
end
function bit.rshift(a, n)
  return signed(floor(u32(a) / 2 ^ n))
end
function bit.arshift(a, n)
  local x = u32(a)
  local r = floor(x / 2 ^ n)
  if x >= 2147483648 then
    r = r + u32(4294967296 - 2 ^ (32 - n))
  end
  return signed(u32(r))
end
function bit.bit(n)
  return signed(u32(2 ^ n))
end
function bit.set(v, ...)
  for i = 1, select("#", ...) do
    v = bit.bor(v, bit.bit((select(i, ...))))
  end
  return v
end
function bit.clear(v, ...)
  for i = 1, select("#", ...) do
    v = bit.band(v, bit.bnot(bit.bit((select(i, ...)))))
  end
  return v
end
function bit.isset(v, n)
  return floor(u32(v) / 2 ^ n) % 2 == 1
end
function bit.isclear(v, n)
  return not bit.isset(v, n)
end

-- crypto: SHA-1 and SHA-256 in pure Lua (byte-wise tables keep them usable
-- on a 40 KB upload), for upload verification.
local crypto = {}
local XOR8, AND8 = nil, nil
local function tables8()
  if XOR8 == nil then
    -- 4-bit tables: 256 entries each, built on first use
    charge(function()
      XOR8, AND8 = {}, {}
      for a = 0, 15 do
        for b = 0, 15 do
          XOR8[a * 16 + b] = bitop(a, b, f_xor)
          AND8[a * 16 + b] = bitop(a, b, f_and)
        end
      end
    end)
  end
end
local function op32(t, a, b)
  local r, p = 0, 1
  for _ = 1, 8 do
    local x, y = a % 16, b % 16
    r = r + t[x * 16 + y] * p
    a, b, p = (a - x) / 16, (b - y) / 16, p * 16
  end
  return r
end
local function xor32(a, b)
  return op32(XOR8, a, b)
end
local function and32(a, b)
  return op32(AND8, a, b)
end
local function not32(a)
  return 4294967295 - a
end
local function rol(a, n)
  local hi = floor(a / 2 ^ (32 - n))
  return (a * 2 ^ n) % 4294967296 + hi
end
local function ror(a, n)
  return rol(a, 32 - n)
end
local function be32(s, i)
  local a, b, c, d = byte(s, i, i + 3)
  return ((a * 256 + b) * 256 + c) * 256 + d
end
local function tobe32(x)
  return char(floor(x / 16777216) % 256, floor(x / 65536) % 256, floor(x / 256) % 256, x % 256)
end
local function pad64(s)
  local len = #s
  local bits = len * 8
  local padding = "\128" .. rep("\0", (55 - len) % 64)
  return s .. padding .. tobe32(floor(bits / 4294967296)) .. tobe32(bits % 4294967296)
end

local function sha1(s)
  tables8()
  s = pad64(s)
  local h0, h1, h2, h3, h4 = 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0
  local w = {}
  for block = 1, #s, 64 do
    for i = 0, 15 do
      w[i] = be32(s, block + i * 4)
    end
    for i = 16, 79 do
      w[i] = rol(xor32(xor32(w[i - 3], w[i - 8]), xor32(w[i - 14], w[i - 16])), 1)
    end
    local a, b, c, d, e = h0, h1, h2, h3, h4
    for i = 0, 79 do
      local f, k
      if i < 20 then
        f, k = xor32(d, and32(b, xor32(c, d))), 0x5A827999
      elseif i < 40 then
        f, k = xor32(xor32(b, c), d), 0x6ED9EBA1
      elseif i < 60 then
        f, k = xor32(and32(b, c), and32(d, xor32(b, c))), 0x8F1BBCDC
      else
        f, k = xor32(xor32(b, c), d), 0xCA62C1D6
      end
      local temp = (rol(a, 5) + f + e + k + w[i]) % 4294967296
      e, d, c, b, a = d, c, rol(b, 30), a, temp
    end
    h0, h1 = (h0 + a) % 4294967296, (h1 + b) % 4294967296
    h2, h3, h4 = (h2 + c) % 4294967296, (h3 + d) % 4294967296, (h4 + e) % 4294967296
  end
  return tobe32(h0) .. tobe32(h1) .. tobe32(h2) .. tobe32(h3) .. tobe32(h4)
end

local K256 = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}
local function sha256(s)
  tables8()
  s = pad64(s)
  local h = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 }
  local w = {}
  for block = 1, #s, 64 do
    for i = 0, 15 do
      w[i] = be32(s, block + i * 4)
    end
    for i = 16, 63 do
      local x, y = w[i - 15], w[i - 2]
      local s0 = xor32(xor32(ror(x, 7), ror(x, 18)), floor(x / 8))
      local s1 = xor32(xor32(ror(y, 17), ror(y, 19)), floor(y / 1024))
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) % 4294967296
    end
    local a, b, c, d, e, f, g, hh = h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8]
    for i = 0, 63 do
      local S1 = xor32(xor32(ror(e, 6), ror(e, 11)), ror(e, 25))
      local ch = xor32(and32(e, f), and32(not32(e), g))
      local t1 = (hh + S1 + ch + K256[i + 1] + w[i]) % 4294967296
      local S0 = xor32(xor32(ror(a, 2), ror(a, 13)), ror(a, 22))
      local maj = xor32(xor32(and32(a, b), and32(a, c)), and32(b, c))
      local t2 = (S0 + maj) % 4294967296
      hh, g, f, e, d, c, b, a = g, f, e, (d + t1) % 4294967296, c, b, a, (t1 + t2) % 4294967296
    end
    h[1], h[2], h[3], h[4] = (h[1] + a) % 4294967296, (h[2] + b) % 4294967296, (h[3] + c) % 4294967296,
      (h[4] + d) % 4294967296
    h[5], h[6], h[7], h[8] = (h[5] + e) % 4294967296, (h[6] + f) % 4294967296, (h[7] + g) % 4294967296,
      (h[8] + hh) % 4294967296
  end
  local out = {}
  for i = 1, 8 do
    out[i] = tobe32(h[i])
  end
  return concat(out)
end

local HASHES = { sha1 = sha1, SHA1 = sha1, sha256 = sha256, SHA256 = sha256 }
local function hash_fn(algo)
  local f = HASHES[checkstring(algo, 1, "hash")]
  if f == nil then
    error("Unknown hash algorithm (this virtual device has sha1, sha256)", 0)
  end
  return f
end
function crypto.hash(algo, data)
  return hash_fn(algo)(checkstring(data, 2, "hash"))
end
function crypto.fhash(algo, name)
  local f = hash_fn(algo)
  local data = read_file(checkstring(name, 2, "fhash"))
  if data == nil then
    error("file not found", 0)
  end
  return f(data)
end
--- crypto.hmac(algo, data, key): RFC 2104 over the hashes above, raw digest (as NodeMCU).
function crypto.hmac(algo, data, key)
  local f = hash_fn(algo)
  data = checkstring(data, 2, "hmac")
  key = checkstring(key, 3, "hmac")
  tables8()
  if #key > 64 then
    key = f(key)
  end
  key = key .. rep("\0", 64 - #key)
  local inner, outer = {}, {}
  for i = 1, 64 do
    local b = byte(key, i)
    inner[i] = char(xor32(b, 0x36))
    outer[i] = char(xor32(b, 0x5c))
  end
  return f(concat(outer) .. f(concat(inner) .. data))
end
function crypto.toHex(s)
  return tohex(checkstring(s, 1, "toHex"))
end
function crypto.toBase64(s)
  return encoder.toBase64(s)
end

return { encoder = encoder, bit = bit, crypto = crypto }
