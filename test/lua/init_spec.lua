-- luacheck: std max+busted
-- firmware/dist/init.lua: the boot window, the stop switch and the failed-boot counter.
-- dofile inside init.lua resolves against sim.files (the mock's dofile), where
-- app.lua is the built firmware/dist/app.lua.
local H = dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "helpers.lua")

local APP_STARTED = "espfleet info: node "

local function power_on(sim)
  sim.dofile("init.lua")
  return sim
end

--- A boot that crashes (or is reset) after `ms`: the next boot keeps the files.
local function crash_after(sim, ms)
  sim.advance(ms)
  return H.reboot(sim)
end

describe("init.lua", function()
  after_each(H.cleanup)

  it("prints how to stop it and does not start the app before 3 s", function()
    local sim = power_on(H.new_sim({ config = { interval_ms = 1000 } }))
    assert.truthy(H.console_find(sim, 'file.remove("init.lua")'))
    assert.truthy(H.console_find(sim, "app.lua"))
    sim.advance(2999)
    assert.is_nil(H.console_find(sim, APP_STARTED))
    assert.is_nil(rawget(_G, "espfleet_node"))
    sim.advance(1)
    assert.truthy(H.console_find(sim, APP_STARTED))
    assert.is_not_nil(rawget(_G, "espfleet_node"))
    H.go_online(sim)
    sim.advance(1000)
    assert.are.equal(1, #H.readings(sim))
  end)

  it("never starts the app when init.lua is removed during the window", function()
    local sim = power_on(H.new_sim({ config = { interval_ms = 1000 } }))
    sim.advance(1500)
    file.remove("init.lua")
    sim.advance(10000)
    assert.is_nil(H.console_find(sim, APP_STARTED))
    assert.truthy(H.console_find(sim, "did not run"))
    sim.wifi_up()
    sim.advance(5000)
    assert.are.equal(0, #sim.broker.connects)
  end)

  it("never starts the app when espfleet_stop is set during the window", function()
    local sim = power_on(H.new_sim({ config = { interval_ms = 1000 } }))
    sim.advance(1000)
    _G.espfleet_stop = true
    sim.advance(5000)
    assert.is_nil(H.console_find(sim, APP_STARTED))
    assert.truthy(sim.files["init.lua"], "the stop switch must not delete init.lua")
  end)

  it("says clearly that there is no app", function()
    local sim = power_on(H.new_sim({ no_app = true }))
    assert.has_no.errors(function()
      sim.advance(5000)
    end)
    local line = H.console_find(sim, "no app that this firmware can run; upload the firmware (./flash.sh)")
    assert.truthy(line, "no message about the missing app")
  end)

  it("runs app.lc instead of app.lua when it exists", function()
    local sim = H.new_sim({ no_app = true, config = { interval_ms = 1000 } })
    sim.files["app.lc"] = H.dist("app.lua")
    power_on(sim)
    assert.truthy(H.console_find(sim, "app.lc"))
    sim.advance(3000)
    assert.truthy(H.console_find(sim, APP_STARTED))
  end)

  it("goes to safe mode on the 4th boot after 3 boots that did not reach 60 s", function()
    local sim = H.new_sim({ config = { interval_ms = 1000 } })
    for boot = 1, 3 do
      power_on(sim)
      sim.advance(3000)
      assert.truthy(H.console_find(sim, APP_STARTED), "app not started on boot " .. boot)
      sim = crash_after(sim, 10000)
    end
    power_on(sim)
    assert.truthy(H.console_find(sim, "safe mode"), "no safe-mode message")
    sim.advance(10000)
    assert.is_nil(H.console_find(sim, APP_STARTED), "the app started in safe mode")
    -- after safe mode, the next boot tries the app again
    sim = H.reboot(sim)
    power_on(sim)
    sim.advance(3000)
    assert.truthy(H.console_find(sim, APP_STARTED))
  end)

  it("clears the failed-boot counter once the app has run for 60 s", function()
    local sim = H.new_sim({ config = { interval_ms = 1000 } })
    for _ = 1, 2 do
      power_on(sim)
      sim = crash_after(sim, 10000)
    end
    power_on(sim)
    sim.advance(3000 + 60000)
    assert.are.equal("0", sim.files["bootfail.txt"])
    sim = crash_after(sim, 1000) -- a later crash of that healthy boot does not count
    for _ = 1, 2 do
      power_on(sim)
      sim = crash_after(sim, 10000)
    end
    power_on(sim)
    sim.advance(3000)
    assert.is_nil(H.console_find(sim, "safe mode"))
    assert.truthy(H.console_find(sim, APP_STARTED), "healthy run did not reset the counter")
  end)

  describe("with LFS", function()
    local function lfs_modules()
      return { app = H.dist("app.lua"), cfg = H.dist("cfg.lua") }
    end
    local IMAGE = "\31\139 an image of app and cfg"

    --- Power on; a reload that succeeds restarts the chip: returns whether it did.
    local function boot(sim)
      local ok, err = pcall(sim.dofile, "init.lua")
      if not ok and err ~= H.mock.RESTARTED then
        error(err, 0)
      end
      return not ok
    end

    it("loads a new lfs.img first, then runs the app from LFS and frees the file", function()
      local sim = H.new_sim({ no_app = true, config = { interval_ms = 1000 },
        files = { ["lfs.img"] = IMAGE, ["app.lc"] = "not to be run" },
        lfs = { images = { [IMAGE] = lfs_modules() } } })
      assert.is_true(boot(sim), "no restart after a good reload")
      assert.are.same({ "lfs.img.loaded" }, sim.lfs_reloads)
      assert.is_nil(sim.files["lfs.img"], "lfs.img must be renamed so the restart does not load it again")
      assert.is_nil(H.console_find(sim, APP_STARTED))

      sim = H.reboot(sim, { lfs = { modules = sim.lfs_modules } })
      assert.is_false(boot(sim))
      assert.are.same({}, sim.lfs_reloads)
      assert.truthy(H.console_find(sim, "starting LFS in"))
      sim.advance(3000)
      assert.truthy(H.console_find(sim, APP_STARTED))
      assert.is_nil(H.console_find(sim, "not running from LFS"))
      assert.is_nil(sim.files["lfs.img.loaded"], "the loaded image stays on the file system")
      -- The config code comes from LFS too: a change is applied and acknowledged.
      H.go_online(sim)
      sim.broker.deliver("config_change", '{"interval_ms":2000,"req":"r1"}')
      sim.advance(100)
      local acks = H.messages(sim, H.TOPIC.ack)
      assert.are.equal(1, #acks)
      assert.truthy(acks[1].payload:find('"applied"', 1, true))
    end)

    it("says why a reload failed, once, and runs the .lc files", function()
      local sim = H.new_sim({ no_app = true, config = { interval_ms = 1000 },
        files = { ["lfs.img"] = IMAGE, ["app.lc"] = H.dist("app.lua") },
        lfs = { images = { [IMAGE] = "LFS Image too big for configured LFS region" } } })
      assert.is_false(boot(sim))
      assert.truthy(H.console_find(sim, "lfs.img not loaded: LFS Image too big for configured LFS region"))
      sim.advance(3000)
      assert.truthy(H.console_find(sim, "not running from LFS: LFS holds no app"))
      assert.truthy(H.console_find(sim, APP_STARTED))
    end)

    it("without an LFS partition, says so and runs the .lc files", function()
      local sim = H.new_sim({ no_app = true, config = { interval_ms = 1000 },
        files = { ["app.lc"] = H.dist("app.lua") }, lfs = { size = 0 } })
      boot(sim)
      sim.advance(3000)
      assert.truthy(H.console_find(sim, "this firmware image has no LFS partition (./flash.sh --yes adds one)"))
      assert.truthy(H.console_find(sim, APP_STARTED))
    end)

    it("on a firmware without LFS support, an lfs.img is left alone and the .lc files run", function()
      local sim = H.new_sim({ no_app = true, config = { interval_ms = 1000 },
        files = { ["lfs.img"] = IMAGE, ["app.lc"] = H.dist("app.lua") } })
      boot(sim)
      assert.truthy(H.console_find(sim, "lfs.img found, but this firmware has no LFS"))
      assert.are.equal(IMAGE, sim.files["lfs.img"])
      sim.advance(3000)
      assert.truthy(H.console_find(sim, APP_STARTED))
    end)
  end)
end)
