-- luacheck: std max+busted
-- The mock itself: the NodeMCU behaviours the firmware specs rely on.
local H = dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "helpers.lua")

describe("nodemcu_mock", function()
  local sim
  after_each(H.cleanup)

  for _, backend in ipairs({ "cjson", "pure" }) do
    describe("sjson (" .. backend .. ")", function()
      before_each(function()
        sim = H.new_sim({ json = backend == "pure" and "pure" or nil })
      end)

      it("decodes null to sjson.NULL, which is not a table, string or number", function()
        local t = sjson.decode('{"a":null,"b":[1,null]}')
        assert.are.equal(sjson.NULL, t.a)
        assert.are.equal(sjson.NULL, t.b[2])
        assert.is_not.equal("table", type(t.a))
        assert.is_not.equal("string", type(t.a))
        assert.is_not.equal("number", type(t.a))
        assert.are.equal("null", sjson.encode(sjson.NULL))
      end)

      it("raises on malformed input", function()
        for _, bad in ipairs({ "{", "{interval_ms:1}", "[1,]", "tru", "", '{"a":1}x' }) do
          assert.has_error(function()
            sjson.decode(bad)
          end)
        end
      end)

      it("round-trips what the firmware stores", function()
        local value = { interval_ms = 2000, sensors = { "temperature", "adc" }, name = 'a"b\\c\n', f = 21.25, ok = true }
        local back = sjson.decode(sjson.encode(value))
        assert.are.same(value, back)
        assert.are.equal("{}", sjson.encode({}))
        assert.are.equal("[1,2]", sjson.encode({ 1, 2 }))
      end)

      it("decodes unicode escapes to UTF-8", function()
        assert.are.equal("é€😀", sjson.decode('"\\u00e9\\u20ac\\ud83d\\ude00"'))
      end)
    end)
  end

  describe("tmr", function()
    before_each(function()
      sim = H.new_sim()
    end)

    it("fires timers in time order, ties in registration order", function()
      local order = {}
      local a, b, c = tmr.create(), tmr.create(), tmr.create()
      c:register(20, tmr.ALARM_SINGLE, function() order[#order + 1] = "c" end)
      a:register(10, tmr.ALARM_SINGLE, function() order[#order + 1] = "a" end)
      b:register(10, tmr.ALARM_SINGLE, function() order[#order + 1] = "b" end)
      b:start()
      c:start()
      a:start()
      sim.advance(9)
      assert.are.same({}, order)
      sim.advance(11)
      assert.are.same({ "a", "b", "c" }, order)
    end)

    it("raises for intervals the device cannot count, and register does not start", function()
      local t = tmr.create()
      assert.has_error(function()
        t:register(6870948, tmr.ALARM_AUTO, function() end)
      end)
      assert.has_error(function()
        t:register(0, tmr.ALARM_AUTO, function() end)
      end)
      local ok, err = pcall(t.register, t, 6870948, tmr.ALARM_AUTO, function() end)
      assert.is_false(ok)
      assert.truthy(err:find("invalid interval", 1, true))
      local n = 0
      t:register(6870947, tmr.ALARM_AUTO, function() n = n + 1 end)
      assert.are.same({ false, tmr.ALARM_AUTO }, { t:state() })
      sim.advance(6870947 * 2)
      assert.are.equal(0, n)
    end)

    it("ALARM_SINGLE unregisters itself before the callback; SEMI stays registered", function()
      local single, semi = tmr.create(), tmr.create()
      local seen
      single:alarm(5, tmr.ALARM_SINGLE, function(t) seen = { t:state() } end)
      semi:alarm(5, tmr.ALARM_SEMI, function() end)
      sim.advance(5)
      assert.are.same({}, seen)
      assert.is_nil(single:state())
      assert.is_false(single:start())
      assert.are.same({ false, tmr.ALARM_SEMI }, { semi:state() })
      assert.is_true(semi:start())
    end)

    it("start on a running timer returns false and does not restart it; interval re-arms", function()
      local fired = {}
      local t = tmr.create()
      t:register(100, tmr.ALARM_AUTO, function() fired[#fired + 1] = sim.now end)
      assert.is_true(t:start())
      sim.advance(50)
      assert.is_false(t:start())
      sim.advance(50)
      assert.are.same({ 100 }, fired)
      t:interval(30)
      sim.advance(60)
      assert.are.same({ 100, 130, 160 }, fired)
      assert.is_true(t:stop())
      assert.is_false(t:stop())
    end)

    it("tmr.time counts seconds and tmr.now microseconds wrapping at 2^31", function()
      sim.advance(2999)
      assert.are.equal(2, tmr.time())
      assert.are.equal(2999000, tmr.now())
      sim.advance(2147484 - 2999)
      assert.are.equal((2147484 * 1000) % 2147483648, tmr.now())
    end)
  end)

  describe("mqtt", function()
    local m
    before_each(function()
      sim = H.new_sim()
      sim.wifi_up()
      m = mqtt.Client("c1", 60, nil, nil, 1, 1024)
    end)

    local function connect()
      local up
      m:connect("broker", 1883, false, function() up = true end, function(_, reason) up = reason end)
      assert.is_nil(up) -- never from inside the call
      sim.advance(0)
      return up
    end

    it("publish raises 'not connected' before connect and after the broker drops", function()
      local ok, err = pcall(m.publish, m, "t", "p", 0, 0)
      assert.is_false(ok)
      assert.are.equal("not connected", err)
      assert.is_true(connect())
      assert.is_true(m:publish("t", "p", 0, 0))
      sim.broker.drop()
      ok, err = pcall(m.publish, m, "t", "p", 0, 0)
      assert.is_false(ok)
      assert.are.equal("not connected", err)
    end)

    it("reports a refused connection with a NodeMCU reason code", function()
      sim.broker.up = false
      assert.are.equal(mqtt.CONN_FAIL_SERVER_NOT_FOUND, connect())
      sim.broker.up = true
      sim.broker.connack = mqtt.CONNACK_REFUSED_BAD_USER_OR_PASS
      local offline = 0
      m:on("offline", function() offline = offline + 1 end)
      assert.are.equal(4, connect())
      assert.are.equal(1, offline) -- the TCP socket was up: "offline" follows
    end)

    it("has one publish-callback slot: the last callback fires for every PUBACK", function()
      assert.is_true(connect())
      local calls = {}
      m:publish("a", "1", 1, 0, function() calls[#calls + 1] = "first" end)
      m:publish("b", "2", 1, 0, function() calls[#calls + 1] = "second" end)
      sim.advance(0)
      assert.are.same({ "second", "second" }, calls)
    end)

    it("sends in order, one QoS 1 message at a time; a lost PUBACK holds the queue", function()
      assert.is_true(connect())
      sim.broker.acks = function(msg) return msg.payload ~= "2" end
      m:publish("t", "1", 1, 0)
      m:publish("t", "2", 1, 0)
      m:publish("t", "3", 0, 0)
      sim.advance(1000)
      assert.are.same({ "1", "2" }, { sim.broker.published[1].payload, sim.broker.published[2].payload })
      assert.are.equal(2, #sim.broker.published)
    end)

    it("delivers to exact subscriptions; oversize messages go to 'overflow'", function()
      assert.is_true(connect())
      local got = {}
      m:on("message", function(_, topic, data) got[#got + 1] = { "message", topic, data } end)
      m:on("overflow", function(_, topic, data) got[#got + 1] = { "overflow", topic, #data } end)
      m:subscribe("cfg", 1)
      assert.is_nil(sim.broker.deliver("cfg", "x")) -- SUBACK not yet processed
      sim.advance(0)
      assert.are.equal("message", sim.broker.deliver("cfg", "x"))
      assert.is_nil(sim.broker.deliver("other", "x"))
      assert.are.equal("overflow", sim.broker.deliver("cfg", string.rep("y", 1100), { qos = 1 }))
      assert.are.equal("overflow", sim.broker.deliver("cfg", string.rep("y", 3000), { qos = 1 }))
      assert.are.same({ "message", "cfg", "x" }, got[1])
      assert.are.same({ "overflow", "cfg", 1100 }, got[2])
      assert.is_true(got[3][3] < 1460)
    end)

    it("close sends DISCONNECT and then fires offline; connect raises while connected", function()
      assert.is_true(connect())
      assert.has_error(function()
        m:connect("broker", 1883, false)
      end, "already connected")
      local offline = 0
      m:on("offline", function() offline = offline + 1 end)
      m:close()
      assert.are.equal(0, offline)
      sim.advance(0)
      assert.are.equal(1, offline)
      assert.are.equal(0, #sim.broker.published) -- a clean close sends no will
    end)

    it("drop publishes the last will and can withhold the offline event", function()
      m:lwt("status/c1", "offline", 1, 1)
      assert.is_true(connect())
      local offline = 0
      m:on("offline", function() offline = offline + 1 end)
      sim.broker.drop({ offline = false })
      assert.are.equal(0, offline)
      assert.is_true(sim.broker.published[1].will)
      assert.are.equal("offline", sim.broker.retained["status/c1"])
    end)
  end)

  describe("file", function()
    before_each(function()
      sim = H.new_sim()
    end)

    it("reads in chunks with nil at EOF, and rename refuses an existing target", function()
      local f = file.open("a.txt", "w")
      assert.is_true(f:write("hello\nworld"))
      f:close()
      f = file.open("a.txt", "r")
      assert.are.equal("hello\n", f:readline())
      assert.are.equal("wor", f:read(3))
      assert.are.equal("ld", f:read(10))
      assert.is_nil(f:read(10))
      f:close()
      assert.is_nil(file.open("missing.txt", "r"))
      sim.files["b.txt"] = "b"
      assert.is_false(file.rename("a.txt", "b.txt"))
      file.remove("b.txt")
      assert.is_true(file.rename("a.txt", "b.txt"))
      assert.is_false(file.exists("a.txt"))
    end)

    it("write returns nil when the file system is full", function()
      sim.fs_full = true
      local f = file.open("x", "w")
      assert.is_nil(f:write("data"))
      f:close()
      assert.are.equal("", sim.files["x"])
    end)
  end)

  describe("wifi", function()
    it("eventmon sees only later events; sta.config{auto} rejoins and reports again", function()
      sim = H.new_sim()
      sim.wifi_up()
      local got = {}
      wifi.eventmon.register(wifi.eventmon.STA_GOT_IP, function(info) got[#got + 1] = info.IP end)
      wifi.eventmon.register(wifi.eventmon.STA_DISCONNECTED, function(info) got[#got + 1] = info.reason end)
      wifi.sta.connect()
      sim.advance(1000)
      assert.are.same({}, got)
      wifi.sta.config({ ssid = "x", pwd = "password", auto = true, save = false })
      assert.are.same({}, got)
      sim.advance(0)
      assert.are.same({ 8, "192.168.1.50" }, got)
      assert.are.equal("x", sim.wifi.config.ssid)
      sim.wifi_down(201)
      assert.are.equal(201, got[3])
      assert.is_nil(wifi.sta.getip())
    end)
  end)

  describe("node", function()
    it("runs node.task.post tasks from the event loop, highest priority first", function()
      sim = H.new_sim()
      local order = {}
      node.task.post(node.task.LOW_PRIORITY, function() order[#order + 1] = "low" end)
      node.task.post(function() order[#order + 1] = "medium" end)
      node.task.post(node.task.HIGH_PRIORITY, function() order[#order + 1] = "high" end)
      assert.are.same({}, order)
      sim.advance(0)
      assert.are.same({ "high", "medium", "low" }, order)
    end)
  end)

  describe("the modules are the virtual device's (device/lua/nodemcu)", function()
    it("checks wifi.sta.config's ssid and pwd and rtctime.epoch2cal as the device does", function()
      sim = H.new_sim({ rtctime = true })
      assert.has_error(function()
        wifi.sta.config({ ssid = string.rep("s", 33), pwd = "password" })
      end, "ssid: length: 1-32")
      -- pwd: empty (an open network) or 8-64 bytes; 1-7 bytes is refused
      for _, pwd in ipairs({ "secret", "1234567", string.rep("p", 65) }) do
        assert.has_error(function()
          wifi.sta.config({ ssid = "farm", pwd = pwd, auto = false })
        end, "pwd: length: 0 or 8-64")
      end
      assert.is_true(wifi.sta.config({ ssid = "farm", pwd = "", auto = false }))
      assert.is_true(wifi.sta.config({ ssid = "farm", pwd = "12345678", auto = false }))
      local cal = rtctime.epoch2cal(1700000000)
      assert.are.same({ 2023, 11, 14, 22, 13, 20 }, { cal.year, cal.mon, cal.day, cal.hour, cal.min, cal.sec })
    end)
  end)

  describe("history_limit", function()
    it("keeps only the newest entries of the history lists", function()
      sim = H.new_sim({ history_limit = 3 })
      for i = 1, 5 do
        print("line " .. i)
      end
      assert.are.same({ "line 3", "line 4", "line 5" }, sim.console)
    end)
  end)

  describe("dht and optional modules", function()
    it("dht.read rejects pin 0 and reports failures with -999", function()
      sim = H.new_sim()
      assert.has_error(function()
        dht.read(0)
      end, "dht 0 does not exist")
      sim.sensors.dht.status = dht.ERROR_TIMEOUT
      local status, t = dht.read(4)
      assert.are.equal(dht.ERROR_TIMEOUT, status)
      assert.are.equal(-999, t)
      assert.are.equal(1, sim.dht_reads)
    end)

    it("rtctime and sntp exist only when asked for", function()
      sim = H.new_sim()
      assert.is_nil(rawget(_G, "rtctime"))
      assert.is_nil(rawget(_G, "sntp"))
      sim = H.new_sim({ rtctime = true, sntp = true, unix_time = 1700000000 })
      assert.are.equal(1700000000, (rtctime.get()))
      sim.uninstall()
      assert.is_nil(rawget(_G, "rtctime"))
      assert.is_nil(rawget(_G, "tmr"))
    end)
  end)
end)
