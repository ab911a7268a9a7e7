-- luacheck: std max+busted
-- NodeMCU platform quirks: tmr's 6,870,947 ms ceiling, zero-length timers, one MQTT client.
local H = dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "helpers.lua")

describe("NodeMCU platform", function()
  after_each(H.cleanup)

  it("samples at an interval above tmr's 6870947 ms limit by slicing the timer", function()
    local sim
    assert.has_no.errors(function()
      sim = H.start({ config = { interval_ms = 7000000 }, online = true })
    end)
    for _, t in ipairs(sim.timers()) do
      assert.is_true(t.interval <= 6870947)
    end
    sim.advance(6999999)
    assert.are.same({}, H.reading_times(sim))
    sim.advance(1)
    assert.are.same({ 7000000 }, H.reading_times(sim))
    sim.advance(7000000)
    assert.are.same({ 7000000, 14000000 }, H.reading_times(sim))
  end)

  it("accepts a 24 h interval over MQTT and keeps sampling on it", function()
    local sim = H.start({ config = { interval_ms = 1000 }, online = true })
    sim.advance(1000)
    assert.has_no.errors(function()
      H.send_config(sim, { interval_ms = 86400000 })
    end)
    assert.are.equal("applied", H.acks(sim)[1].result)
    sim.advance(86400000 * 2)
    local t = H.reading_times(sim)
    assert.are.equal(3, #t)
    -- the slices may round; the day must not drift by more than a second
    assert.is_true(math.abs(t[2] - (1000 + 86400000)) < 1000, "first 24 h reading at " .. t[2])
    assert.is_true(math.abs(t[3] - (1000 + 2 * 86400000)) < 2000, "second 24 h reading at " .. t[3])
  end)

  it("flushes with a flush gap of 0 ms", function()
    local sim = H.start({ config = { interval_ms = 1000, flush_gap_ms = 0 } })
    sim.advance(5000)
    assert.has_no.errors(function()
      H.go_online(sim)
      sim.advance(100)
    end)
    assert.are.same({ 1, 2, 3, 4, 5 }, H.seqs(sim))
  end)

  it("keeps one mqtt.Client for the whole boot", function()
    H.fix_random(0)
    local sim = H.start({ config = { interval_ms = 1000 }, online = true })
    for _ = 1, 3 do
      sim.broker.drop()
      sim.advance(5000)
    end
    assert.are.equal(4, #sim.broker.connects)
    assert.are.equal(1, sim.broker.clients_created)
  end)

  it("logs through print with an 'espfleet' prefix", function()
    local sim = H.start({ config = { interval_ms = 1000 } })
    assert.truthy(H.console_find(sim, "espfleet info: node " .. H.NODE_ID .. " boot 1"))
  end)
end)
