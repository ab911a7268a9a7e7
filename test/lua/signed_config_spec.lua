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

  it("rotates the key with a change signed by the current one", function()
    H.send_config(sim, signed(sim, '{"req":"rot","fleet_key":"new-key-2","ctr":101}'))
    assert.are.equal("applied", last_ack(sim).result)
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
