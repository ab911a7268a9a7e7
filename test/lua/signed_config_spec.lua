-- luacheck: std max+busted
-- Signed config changes on the built firmware: with fleet_key set, only a change
-- signed with it (crypto.hmac) and carrying a counter above the last one applied
-- is applied; everything else is acked "rejected" with the reason, nothing changes.
local H = dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "helpers.lua")

local KEY = "0123456789abcdef0123456789abcdef"
local BASE = { interval_ms = 10000, fleet_key = KEY, config_counter = 100 }

--- The wire form: {"sig":"<hex hmac of the rest>", + the rest (see simulator/config-signing.ts).
local function signed(sim, text, key)
  local digest = sim.env_crypto.hmac("sha256", text, key or KEY)
  local hex = digest:gsub(".", function(c)
    return string.format("%02x", c:byte())
  end)
  return '{"sig":"' .. hex .. '",' .. text:sub(2)
end

--- a XOR b for bytes, in arithmetic (Lua 5.1 has no bitwise operators).
local function xor(a, b)
  local r, m = 0, 128
  while m >= 1 do
    if (a >= m) ~= (b >= m) then
      r = r + m
    end
    a, b, m = a % m, b % m, m / 2
  end
  return r
end

--- fleet_key_enc for `new_key` in a change signed with `key` carrying `ctr`: hex of the key's bytes XOR
-- the keystream HMAC-SHA256(key, "fleet_key_enc:<ctr>:<block>") (simulator/config-signing.ts encryptFleetKey).
local function encrypt_key(sim, new_key, ctr, key)
  local out, stream = {}, ""
  for i = 1, #new_key do
    if (i - 1) % 32 == 0 then
      stream = sim.env_crypto.hmac("sha256", "fleet_key_enc:" .. ctr .. ":" .. math.floor((i - 1) / 32), key or KEY)
    end
    out[#out + 1] = string.format("%02x", xor(new_key:byte(i), stream:byte((i - 1) % 32 + 1)))
  end
  return table.concat(out)
end

local function last_ack(sim)
  local acks = H.acks(sim)
  return acks[#acks]
end

describe("signed config_change", function()
  local sim
  before_each(function()
    sim = H.start({ config = BASE, online = true, crypto = true })
    sim.env_crypto = crypto -- luacheck: ignore (installed by the mock)
    sim.advance(3000)
  end)
  after_each(H.cleanup)

  it("applies a change signed with the fleet key and a higher counter, and stores the counter", function()
    H.send_config(sim, signed(sim, '{"req":"s-1","interval_ms":2000,"ctr":101}'))
    local ack = last_ack(sim)
    assert.are.equal("applied", ack.result)
    assert.are.equal("s-1", ack.req)
    assert.are.equal(2000, ack.config.interval_ms)
    assert.is_nil(ack.config.fleet_key, "the ack must never carry the fleet key")
    local stored = H.stored_config(sim)
    assert.are.equal(101, stored.config_counter)
    assert.are.equal(2000, stored.interval_ms)
  end)

  it("rejects an unsigned change and changes nothing", function()
    H.send_config(sim, { req = "u-1", interval_ms = 2000 })
    local ack = last_ack(sim)
    assert.are.equal("rejected", ack.result)
    assert.are.equal("sig", ack.errors[1].key)
    assert.truthy(ack.errors[1].reason:find("signed with the fleet key", 1, true))
    assert.are.equal(10000, H.stored_config(sim).interval_ms)
  end)

  it("rejects a change signed with another key, and one altered after signing", function()
    H.send_config(sim, signed(sim, '{"req":"k-1","interval_ms":2000,"ctr":101}', "not-the-fleet-key"))
    assert.truthy(last_ack(sim).errors[1].reason:find("does not match", 1, true))
    local altered = signed(sim, '{"req":"k-2","interval_ms":2000,"ctr":102}'):gsub('"interval_ms":2000', '"interval_ms":100')
    H.send_config(sim, altered)
    assert.are.equal("rejected", last_ack(sim).result)
    assert.truthy(last_ack(sim).errors[1].reason:find("does not match", 1, true))
    assert.are.equal(10000, H.stored_config(sim).interval_ms)
  end)

  it("rejects a replayed change, also after a reboot", function()
    local msg = signed(sim, '{"req":"r-1","interval_ms":2000,"ctr":101}')
    H.send_config(sim, msg)
    assert.are.equal("applied", last_ack(sim).result)
    H.send_config(sim, signed(sim, '{"req":"r-2","interval_ms":5000,"ctr":101}'))
    assert.are.equal("ctr", last_ack(sim).errors[1].key)
    sim = H.boot_app(H.reboot(sim, { crypto = true }))
    H.go_online(sim)
    sim.advance(3000)
    H.send_config(sim, msg)
    local ack = last_ack(sim)
    assert.are.equal("rejected", ack.result)
    assert.truthy(ack.errors[1].reason:find("above 101", 1, true))
    assert.are.equal(2000, H.stored_config(sim).interval_ms)
  end)

  it("rotates the key with a change signed by the current one, the new key encrypted (fleet_key_enc)", function()
    local enc = encrypt_key(sim, "new-key-2", 101)
    assert.falsy(enc:find("new-key-2", 1, true))
    H.send_config(sim, signed(sim, '{"req":"rot","fleet_key_enc":"' .. enc .. '","ctr":101}'))
    assert.are.equal("applied", last_ack(sim).result)
    assert.are.equal("new-key-2", H.stored_config(sim).fleet_key)
    H.send_config(sim, signed(sim, '{"req":"old","interval_ms":2000,"ctr":102}'))
    assert.are.equal("rejected", last_ack(sim).result)
    H.send_config(sim, signed(sim, '{"req":"new","interval_ms":2000,"ctr":102}', "new-key-2"))
    assert.are.equal("applied", last_ack(sim).result)
    for _, line in ipairs(sim.console) do
      assert.falsy(line:find("new-key-2", 1, true), "the key was printed: " .. line)
      assert.falsy(line:find(KEY, 1, true), "the key was printed: " .. line)
    end
  end)
end)

describe("fleet key over MQTT (issue 15)", function()
  after_each(H.cleanup)

  it("a keyed node refuses a new key in clear, even signed, and one that does not decrypt", function()
    local sim = H.start({ config = BASE, online = true, crypto = true })
    sim.env_crypto = crypto -- luacheck: ignore (installed by the mock)
    sim.advance(3000)
    H.send_config(sim, signed(sim, '{"req":"clear","fleet_key":"new-key-2","ctr":101}'))
    assert.are.equal("fleet_key", last_ack(sim).errors[1].key)
    assert.truthy(last_ack(sim).errors[1].reason:find("must not be sent in clear", 1, true))
    -- encrypted for another counter: decrypts to bytes that are no key
    local wrong = encrypt_key(sim, "new-key-2", 999)
    H.send_config(sim, signed(sim, '{"req":"wrong","fleet_key_enc":"' .. wrong .. '","ctr":102}'))
    assert.are.equal("fleet_key_enc", last_ack(sim).errors[1].key)
    assert.are.equal(KEY, H.stored_config(sim).fleet_key)
    assert.are.equal(100, H.stored_config(sim).config_counter)
  end)

  it("a keyless node takes a first key only with accept_first_key, then applies only signed changes", function()
    local sim = H.start({ config = { interval_ms = 10000 }, online = true, crypto = true })
    sim.env_crypto = crypto -- luacheck: ignore (installed by the mock)
    sim.advance(3000)
    H.send_config(sim, '{"req":"first","fleet_key":"first-key"}')
    assert.are.equal("fleet_key", last_ack(sim).errors[1].key)
    assert.is_nil(H.stored_config(sim).fleet_key, "config.json rewritten")

    sim = H.start({ config = { interval_ms = 10000, accept_first_key = true }, online = true, crypto = true })
    sim.env_crypto = crypto -- luacheck: ignore (installed by the mock)
    sim.advance(3000)
    H.send_config(sim, '{"req":"first","fleet_key":"first-key"}')
    local ack = last_ack(sim)
    assert.are.equal("applied", ack.result)
    assert.is_nil(ack.config.fleet_key)
    assert.are.equal("first-key", H.stored_config(sim).fleet_key)
    H.send_config(sim, '{"req":"again","fleet_key":"second-key"}')
    assert.are.equal("sig", last_ack(sim).errors[1].key)
    H.send_config(sim, signed(sim, '{"req":"signed","interval_ms":2000,"ctr":1}', "first-key"))
    assert.are.equal("applied", last_ack(sim).result)
    assert.are.equal(2000, H.stored_config(sim).interval_ms)
  end)
end)

describe("signed config_change on a build without crypto", function()
  after_each(H.cleanup)

  it("rejects every change with a reason that names the missing module", function()
    local sim = H.start({ config = BASE, online = true })
    sim.advance(3000)
    H.send_config(sim, '{"sig":"' .. string.rep("0", 64) .. '","req":"n-1","interval_ms":2000,"ctr":101}')
    local ack = H.acks(sim)[1]
    assert.are.equal("rejected", ack.result)
    assert.truthy(ack.errors[1].reason:find("no crypto module", 1, true))
    assert.are.equal(10000, H.stored_config(sim).interval_ms)
  end)
end)
