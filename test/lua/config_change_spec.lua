-- luacheck: std max+busted
-- config_change over MQTT: acknowledgements, persistence, and everything that must be refused.
local H = dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "helpers.lua")

local BASE = { interval_ms = 10000, topic_data = "sensor_data" }

describe("config_change", function()
  local sim
  before_each(function()
    sim = H.start({ config = BASE, online = true })
    sim.advance(3000)
  end)
  after_each(H.cleanup)

  it("applies a valid change: ack 'applied', config.json rewritten, new interval at once", function()
    H.send_config(sim, { interval_ms = 2000, flush_gap_ms = 20, req = "r-1" })
    local acks = H.acks(sim)
    assert.are.equal(1, #acks)
    local ack = acks[1]
    assert.are.equal("applied", ack.result)
    assert.are.equal(H.NODE_ID, ack.id)
    assert.are.equal("r-1", ack.req)
    assert.are.equal(2000, ack.config.interval_ms)
    assert.are.equal(20, ack.config.flush_gap_ms)
    assert.is_nil(ack.config.wifi_password, "the ack must not leak settings that are not runtime-settable")

    local stored = H.stored_config(sim)
    assert.are.equal(2000, stored.interval_ms)
    assert.are.equal(20, stored.flush_gap_ms)
    assert.are.equal("sensor_data", stored.topic_data)
    assert.is_nil(sim.files["config.json.new"], "temporary file left behind")

    sim.advance(6000)
    assert.are.same({ 5000, 7000, 9000 }, H.reading_times(sim), "new interval not effective at once")
  end)

  it("keeps the applied config across a reboot and counts the boot", function()
    H.send_config(sim, { interval_ms = 2000 })
    sim = H.boot_app(H.reboot(sim))
    H.go_online(sim)
    sim.advance(4000)
    local r = H.readings(sim)
    assert.are.same({ 2000, 4000 }, H.reading_times(sim))
    assert.are.equal(2, r[1].boot)
    assert.are.equal(2, sim.json.decode(sim.broker.published[1].payload).boot)
  end)

  it("publishes only changes of at least `sensitivity`, plus a heartbeat", function()
    H.send_config(sim, { interval_ms = 1000, sensitivity = 0.5, heartbeat_ms = 5000 })
    sim.advance(1000) -- first reading after the change: published (heartbeat window starts)
    local n = #H.readings(sim)
    sim.sensors.dht.temp = 21.7 -- below sensitivity
    sim.advance(2000)
    assert.are.equal(n, #H.readings(sim), "published a change smaller than sensitivity")
    sim.sensors.dht.temp = 22.1 -- 0.6 above the last published value
    sim.advance(1000)
    assert.are.equal(n + 1, #H.readings(sim))
    assert.are.equal(22.1, H.last_reading(sim).temperature)
    sim.advance(5000) -- nothing changes: one heartbeat reading
    assert.are.equal(n + 2, #H.readings(sim))
    assert.is_true(H.consecutive(H.seqs(sim), 1))
  end)

  it("answers an empty change with the current runtime config", function()
    H.send_config(sim, "{}")
    local ack = H.acks(sim)[1]
    assert.are.equal("applied", ack.result)
    assert.are.equal(10000, ack.config.interval_ms)
  end)

  it("applies a change addressed to this node by id or in a list", function()
    H.send_config(sim, { target = H.NODE_ID, interval_ms = 4000 })
    assert.are.equal("applied", H.acks(sim)[1].result)
    H.send_config(sim, { target = { "other", H.NODE_ID }, interval_ms = 5000 })
    assert.are.equal("applied", H.acks(sim)[2].result)
    assert.are.equal(5000, H.stored_config(sim).interval_ms)
  end)

  it("ignores a change targeted at another node: no ack, no change", function()
    local before = sim.files["config.json"]
    H.send_config(sim, { target = "esp8266-999", interval_ms = 2000 })
    H.send_config(sim, { target = { "a", "b" }, interval_ms = 2000 })
    assert.are.equal(0, #H.acks(sim))
    assert.are.equal(before, sim.files["config.json"])
    sim.advance(7000)
    assert.are.same({ 10000 }, H.reading_times(sim))
  end)

  -- Each case: payload, expected error key, a plain substring of the reason.
  local cases = {
    { "bad JSON", '{"interval_ms": 2000', "", "not valid JSON" },
    { "JSON null value", '{"interval_ms": null}', "interval_ms", "from 100 to 86400000" },
    { "wrong type", '{"interval_ms": "2000"}', "interval_ms", "from 100 to 86400000" },
    { "out of range", '{"interval_ms": 50}', "interval_ms", "from 100 to 86400000" },
    { "not a whole number", '{"interval_ms": 1500.5}', "interval_ms", "whole number" },
    { "unknown key", '{"interval": 2000}', "interval", "unknown key" },
    { "key not settable at run time", '{"mqtt_host": "evil.example"}', "mqtt_host", "cannot be changed over MQTT" },
    { "not an object", "[1, 2]", "", "JSON object" },
    { "null body", "null", "", "JSON object" },
    { "repeated sensor", '{"sensors": ["temperature", "temperature"]}', "sensors", "twice" },
    { "unknown sensor", '{"sensors": ["co2"]}', "sensors", "temperature, humidity" },
    { "bad flag type for qos", '{"qos": true}', "qos", "from 0 to 1" },
    { "malformed target", '{"target": 5, "interval_ms": 2000}', "target", "node id" },
    { "null target", '{"target": null, "interval_ms": 2000}', "target", "node id" },
    { "all or nothing", '{"interval_ms": 2000, "qos": 5}', "qos", "from 0 to 1" },
    { "oversize (> 512 B)", '{"interval_ms": 2000, "req": "r", "note": "' .. string.rep("x", 520) .. '"}', "",
      "512" },
    -- issue 15: limits in UTF-8 bytes (what JS counts as 200 characters is 600 bytes), and wire names that are
    -- no more than names: `length` is a key like any other, a list-like object is no list
    { "oversize in bytes, not characters", '{"req": "r", "note": "' .. string.rep("\226\130\172", 180) .. '"}', "", "512" },
    { "req of 33 bytes (11 x 3-byte euro sign)", '{"interval_ms": 2000, "req": "' .. string.rep("\226\130\172", 11) .. '"}', "req",
      "32 bytes" },
    { "a `length` key", '{"length": 1}', "length", "unknown key" },
    { "a list-like object as sensors", '{"sensors": {"length": 1, "1": "adc"}}', "sensors", "temperature, humidity" },
    { "prototype names as keys", '{"__proto__": {"interval_ms": 2000}, "constructor": 1}', "__proto__", "unknown key" },
    { "more than 16 [ and {", '{"x": ' .. string.rep("[", 16) .. string.rep("]", 16) .. '}', "", "more than 16" },
    { "fleet_key over MQTT (no accept_first_key)", '{"fleet_key": "k1"}', "fleet_key", "cannot be changed over MQTT" },
  }

  for _, case in ipairs(cases) do
    local name, payload, key, reason = case[1], case[2], case[3], case[4]
    it("rejects " .. name .. " with key and reason, config unchanged", function()
      local before = sim.files["config.json"]
      H.send_config(sim, payload)
      local acks = H.acks(sim)
      assert.are.equal(1, #acks, "expected exactly one ack")
      local ack = acks[1]
      assert.are.equal("rejected", ack.result)
      assert.are.equal(H.NODE_ID, ack.id)
      assert.is_table(ack.errors)
      local found = false
      for _, e in ipairs(ack.errors) do
        if e.key == key and type(e.reason) == "string" and e.reason:find(reason, 1, true) then
          found = true
        end
      end
      assert.is_true(found, "no error {key=" .. key .. ", reason~" .. reason .. "} in " .. sim.json.encode(ack.errors))
      assert.are.equal(before, sim.files["config.json"], "config.json changed")
      sim.advance(7000)
      assert.are.same({ 10000 }, H.reading_times(sim), "sampling interval changed")
    end)
  end

  it("rejects a message over NodeMCU's 1024 B limit that arrives through 'overflow'", function()
    local before = sim.files["config.json"]
    local payload = '{"interval_ms": 2000, "note": "' .. string.rep("x", 1500) .. '"}'
    assert.are.equal("overflow", H.send_config(sim, payload))
    local ack = H.acks(sim)[1]
    assert.is_table(ack, "no ack for an overflowed message")
    assert.are.equal("rejected", ack.result)
    assert.are.equal("", ack.errors[1].key)
    assert.truthy(ack.errors[1].reason:find("512", 1, true))
    assert.are.equal(before, sim.files["config.json"])
  end)

  it("echoes req in a rejection", function()
    H.send_config(sim, { interval_ms = 1, req = "abc" })
    assert.are.equal("abc", H.acks(sim)[1].req)
  end)

  it("refuses a change it cannot store (file system full) and keeps the old config", function()
    local before = sim.files["config.json"]
    sim.fs_full = true
    H.send_config(sim, { interval_ms = 2000 })
    local ack = H.acks(sim)[1]
    assert.are.equal("rejected", ack.result)
    assert.truthy(ack.errors[1].reason:find("could not store", 1, true))
    assert.are.equal(before, sim.files["config.json"])
    assert.is_nil(sim.files["config.json.new"])
    sim.advance(7000)
    assert.are.same({ 10000 }, H.reading_times(sim))
    -- and after a reboot the old config is still the one in use
    sim.fs_full = false
    sim = H.boot_app(H.reboot(sim))
    assert.are.equal(10000, H.stored_config(sim).interval_ms)
  end)

  -- Regression (found by this spec): NodeMCU keeps one publish callback per client (the last one given is called for every PUBACK); the ack's
  -- no-op callback replaces the reading's, the reading's `done` never runs and inFlight blocks the queue forever
  it("keeps publishing readings after a config change that arrives while a reading awaits its PUBACK", function()
      sim = H.start({ config = { interval_ms = 1000 }, online = true })
      sim.broker.latency_ms = 20
      sim.advance(1005) -- reading 1 is on the wire, its PUBACK due at 1020
      H.send_config(sim, { flush_gap_ms = 10 })
      sim.advance(10000)
      assert.are.equal("applied", H.acks(sim)[1] and H.acks(sim)[1].result)
      assert.is_true(#H.readings(sim) >= 10, "readings stopped after reading " .. #H.readings(sim))
    end)
end)
