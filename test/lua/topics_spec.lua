-- luacheck: std max+busted
-- The readings topic (topic_data): the shared `sensor_data` by default, `{id}`
-- replaced by the node id, and templates the schema refuses (issue 11).
local H = dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "helpers.lua")

--- Topics of the readings the node published.
local function reading_topics(sim)
  local list = {}
  for _, m in ipairs(sim.broker.published) do
    local ok, body = pcall(sim.json.decode, m.payload)
    if ok and type(body) == "table" and body.seq ~= nil and not m.will then
      list[#list + 1] = m.topic
    end
  end
  return list
end

--- Boot with `config`, go online, take 2 readings; the topics they went to.
local function topics_with(config)
  config.interval_ms = 1000
  local sim = H.start({ config = config, online = true })
  sim.advance(2000)
  return reading_topics(sim), sim
end

describe("topic_data", function()
  after_each(H.cleanup)

  it("is the shared topic sensor_data by default, the id in the payload", function()
    local topics, sim = topics_with({})
    assert.are.same({ "sensor_data", "sensor_data" }, topics)
    assert.are.equal(H.NODE_ID, H.readings(sim)[1].id)
    -- everything else stays per node
    assert.are.equal(1, #H.messages(sim, "status/" .. H.NODE_ID))
  end)

  it("puts the node id where {id} is: the per-node layout, with or without a prefix", function()
    assert.are.same({ "sensor_data/" .. H.NODE_ID, "sensor_data/" .. H.NODE_ID }, (topics_with({ topic_data = "sensor_data/{id}" })))
    assert.are.same({ "farm/" .. H.NODE_ID .. "/r", "farm/" .. H.NODE_ID .. "/r" }, (topics_with({ topic_prefix = "farm", topic_data = "{id}/r" })))
    assert.are.same({ "a/gh-1/b", "a/gh-1/b" }, (topics_with({ node_id = "gh-1", topic_data = "a/{id}/b" })))
  end)

  it("counts bytes as Lua does: a multi-byte level before {id} is kept whole", function()
    local ete = "\195\169t\195\169" -- "été" in UTF-8: 5 bytes, 3 characters in JS
    assert.are.same({ ete .. "/" .. H.NODE_ID, ete .. "/" .. H.NODE_ID }, (topics_with({ topic_data = ete .. "/{id}" })))
    assert.are.same({ "sensor_data", "sensor_data" }, (topics_with({ topic_data = ete .. "{id}" })))
  end)

  it("refuses a template with a wildcard, two {id} or {id} inside a level, saying why, and uses the default", function()
    for _, bad in ipairs({ "sensor_data/+", "sensor_data/#", "s/{id}/{id}", "sensor_{id}", "{id}x/s" }) do
      local topics, sim = topics_with({ topic_data = bad })
      assert.are.same({ "sensor_data", "sensor_data" }, topics, bad)
      assert.is_truthy(H.console_find(sim, "topic_data must have no + or #, and {id} once at most, as a whole level"), bad)
    end
  end)

  it("cannot be changed over MQTT", function()
    local sim = H.start({ config = { interval_ms = 1000 }, online = true })
    H.send_config(sim, { topic_data = "sensor_data/{id}", req = "t" })
    local ack = H.acks(sim)[1]
    assert.are.equal("rejected", ack.result)
    assert.are.equal("topic_data", ack.errors[1].key)
  end)
end)
