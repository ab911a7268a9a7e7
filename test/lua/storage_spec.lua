-- luacheck: std max+busted
-- config.json on SPIFFS: interrupted writes, bad content, a full file system.
local H = dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "helpers.lua")
local T = H.TOPIC

local function interval_of(sim)
  sim.advance(0)
  local first = H.messages(sim, T.data)
  local before = #first
  local start = sim.now
  sim.advance(60000)
  local list = H.messages(sim, T.data)
  assert.is_true(#list > before, "no reading within 60 s")
  return list[before + 1].at - start
end

describe("config file durability", function()
  after_each(H.cleanup)

  it("uses a leftover config.json.new when config.json is missing (cut between remove and rename)", function()
    local sim = H.new_sim()
    sim.files["config.json.new"] = sim.json.encode({ interval_ms = 3000 })
    H.boot_app(sim)
    H.go_online(sim)
    assert.are.equal(3000, interval_of(sim))
  end)

  it("prefers config.json when both exist (the interrupted change was never acknowledged)", function()
    local sim = H.new_sim({ config = { interval_ms = 4000 } })
    sim.files["config.json.new"] = '{"interval_ms": 3000, "trunc'
    H.boot_app(sim)
    H.go_online(sim)
    assert.are.equal(4000, interval_of(sim))
  end)

  it("stores a change atomically: config.json replaced, no temporary file left", function()
    local sim = H.start({ config = { interval_ms = 4000 }, online = true })
    H.send_config(sim, { interval_ms = 5000 })
    assert.is_nil(sim.files["config.json.new"])
    assert.are.equal(5000, H.stored_config(sim).interval_ms)
    -- the stored file is a complete config that boots to the same settings
    sim = H.boot_app(H.reboot(sim))
    H.go_online(sim)
    assert.are.equal(5000, interval_of(sim))
  end)

  it("boots on defaults when config.json is not valid JSON, and says so", function()
    local sim = H.new_sim({ files = { ["config.json"] = "{ not json" } })
    assert.has_no.errors(function()
      H.boot_app(sim)
    end)
    assert.truthy(H.console_find(sim, "not valid JSON"))
    H.go_online(sim)
    assert.are.equal(10000, interval_of(sim))
  end)

  it("keeps the good keys of a config.json with a bad one", function()
    local sim = H.new_sim({ config = { interval_ms = 3000, qos = 7 } })
    H.boot_app(sim)
    assert.truthy(H.console_find(sim, "qos"))
    H.go_online(sim)
    assert.are.equal(3000, interval_of(sim))
    assert.are.equal(1, H.messages(sim, T.data)[1].qos)
  end)

  it("keeps running when boot.txt cannot be written (file system full)", function()
    local sim = H.new_sim({ config = { interval_ms = 1000 } })
    sim.fs_full = true
    assert.has_no.errors(function()
      H.boot_app(sim)
      H.go_online(sim)
      sim.advance(3000)
    end)
    assert.are.same({ 1, 2, 3 }, H.seqs(sim))
  end)
end)
