-- luacheck: std lua51
--[=[
mqtt client (app/modules/mqtt.c, docs/modules/mqtt.md, NodeMCU 3.x):
  * mqtt.Client(clientid, keepalive, user, pass, cleansession,
    max_message_length): defaults "NodeMCU_<chip id in hex>", 60 s, clean
    session, 1024 bytes;
  * connect(host[, port[, secure]][, ok[, fail]]) as mqtt_socket_connect
    parses it (an integer `secure` prints the deprecation warning; secure
    without TLS in the build raises "ssl not available"), raises "already
    connected" while connected; failures come as connfail with CONN_FAIL_*
    or, when the broker refused the CONNACK, its code followed by "offline"
    (the TCP socket was up); no auto-reconnect;
  * publish/subscribe/unsubscribe raise "not connected" while the socket is
    down; outgoing messages are a strict FIFO with one in flight: the next
    waits until the previous one was written (QoS 0) or acknowledged (QoS 1
    PUBACK, SUBACK, UNSUBACK);
  * one callback slot per event: the callback given to publish replaces the
    "puback" slot ("the last callback function defined will be called for ALL
    publish commands"), the same for subscribe/suback and unsubscribe/unsuback;
  * close() sends DISCONNECT through the queue; "offline" fires once the
    socket has closed; a message with an empty payload reaches "message"
    (and "overflow") without a data argument;
  * a client with a socket open is anchored by the transport, an idle one
    nobody references is collected.
The wire is the host's: ctx.mqtt carries the requests out and the host
reports back through Q, for the current socket of a client only.

ctx: C, chipid(), callback(fn, ...), console(line). ctx.mqtt:
  ssl                    the build has TLS (secure connections)
  created(client)        a new client object (optional)
  connect(client, socket, { host, port, secure })   open a socket: reports
                         connack / refused / connfail for it later
  send(client, socket, msg)   write the head of the queue: msg.kind is
                         "publish" {topic, payload, qos, retain}, "subscribe"
                         {topics = topic -> qos}, "unsubscribe" {topics =
                         topic -> true} or "disconnect"; reports sent once
                         it is written / acknowledged, closed for disconnect
  released(client)       the socket is gone (optional)
  will(client)           lwt() was called (optional)
  publishing(client)     publish() was called, before any check (optional)
Client fields a transport reads: id, keepalive, user, password, clean,
max_message_length, will = { topic, payload, qos, retain }, connected,
socket (the current one), slots.
Returns mqtt, Q = { connack, refused(code), connfail(reason), closed(fire_offline),
offline, sent, message(topic, payload), overflow(topic, payload) }, each
taking the client first.
]=]
return function(ctx)
  local transport, callback = ctx.mqtt, ctx.callback
  local argerror, checkinteger, checkstring = ctx.C.argerror, ctx.C.checkinteger, ctx.C.checkstring
  local send, released = transport.send, transport.released
  local select, type, tostring, tonumber, error, setmetatable, pairs, format, tremove =
    select, type, tostring, tonumber, error, setmetatable, pairs, string.format, table.remove

  local mqtt = {
    CONN_FAIL_SERVER_NOT_FOUND = -5, CONN_FAIL_NOT_A_CONNACK_MSG = -4, CONN_FAIL_DNS = -3,
    CONN_FAIL_TIMEOUT_RECEIVING = -2, CONN_FAIL_TIMEOUT_SENDING = -1, CONNACK_ACCEPTED = 0,
    CONNACK_REFUSED_PROTOCOL_VER = 1, CONNACK_REFUSED_ID_REJECTED = 2, CONNACK_REFUSED_SERVER_UNAVAILABLE = 3,
    CONNACK_REFUSED_BAD_USER_OR_PASS = 4, CONNACK_REFUSED_NOT_AUTHORIZED = 5,
  }
  local Client = {}
  Client.__index = Client

  -- (Tail calls: the firmware's callback runs no deeper in the host's call
  -- stack, which a heap count includes, than the report that caused it.)
  local function call_slot(client, slot, ...)
    local fn = client.slots[slot]
    if fn then
      return callback(fn, client, ...)
    end
  end

  local function socket_closed(client, fire_offline)
    local was_connected = client.connected
    client.connected = false
    client.connecting = nil
    client.queue = {}
    client.socket = client.socket + 1 -- reports of the old socket are ignored
    if released then
      released(client)
    end
    if was_connected and fire_offline then
      call_slot(client, "offline")
    end
  end

  -- Write the head of the outgoing queue; the next waits for its report.
  local function pump(client)
    local msg = client.queue[1]
    if not client.connected or not msg or msg.inflight then
      return
    end
    msg.inflight = true
    return send(client, client.socket, msg)
  end

  local function enqueue(client, msg)
    client.queue[#client.queue + 1] = msg
    pump(client)
  end

  function mqtt.Client(clientid, keepalive, user, pass, cleansession, max_message_length)
    if type(clientid) ~= "string" then
      clientid = format("NodeMCU_%x", ctx.chipid())
    end
    local client = setmetatable({
      id = clientid,
      keepalive = (type(keepalive) == "number" and keepalive ~= 0) and keepalive or 60,
      user = type(user) == "string" and user or nil,
      password = type(pass) == "string" and pass or nil,
      clean = cleansession == nil or (type(cleansession) == "number" and cleansession ~= 0),
      max_message_length = (type(max_message_length) == "number" and max_message_length ~= 0)
        and max_message_length or 1024,
      slots = {},
      queue = {},
      connected = false,
      socket = 0,
    }, Client)
    if transport.created then
      transport.created(client)
    end
    return client
  end

  function Client:lwt(topic, message, qos, retain)
    if type(topic) ~= "string" and type(topic) ~= "number" then
      argerror(2, "lwt", "need lwt topic")
    end
    if type(message) ~= "string" and type(message) ~= "number" then
      argerror(3, "lwt", "need lwt message")
    end
    self.will = {
      topic = tostring(topic), payload = tostring(message),
      qos = type(qos) == "number" and qos % 4 or 0,
      retain = type(retain) == "number" and retain ~= 0 or false,
    }
    if transport.will then
      transport.will(self)
    end
  end

  local EVENTS = { connect = true, connfail = true, offline = true, message = true, overflow = true,
    puback = true, suback = true, unsuback = true }

  function Client:on(event, fn)
    if not EVENTS[event] then
      argerror(2, "on", "invalid option '" .. tostring(event) .. "'")
    end
    if type(fn) ~= "function" then
      argerror(3, "on", "function expected, got " .. type(fn))
    end
    self.slots[event] = fn
  end

  function Client:connect(host, ...)
    if self.connected then
      error("already connected", 0)
    end
    -- argument parsing as in mqtt_socket_connect: host[, port[, secure]][, ok[, fail]]
    local args = { n = select("#", ...), ... }
    local i = 1
    local port, secure = 1883, false
    if i <= args.n and type(args[i]) == "number" then
      port = args[i]
      i = i + 1
    end
    if i <= args.n and (type(args[i]) == "number" or type(args[i]) == "boolean") then
      if type(args[i]) == "number" then
        secure = args[i] ~= 0
        ctx.console("Warning, deprecated API! mqtt.connect secure parameter as integer. It will be removed in the future.")
      else
        secure = args[i]
      end
      i = i + 1
    end
    if type(args[i]) == "function" then
      self.slots.connect = args[i]
    end
    i = i + 1
    if type(args[i]) == "function" then
      self.slots.connfail = args[i]
    end
    if secure and not transport.ssl then
      error("ssl not available", 0)
    end
    if type(host) ~= "string" then
      error("invalid domain", 0)
    end
    self.socket = self.socket + 1
    self.connecting = true
    transport.connect(self, self.socket, { host = host, port = port, secure = secure })
    return true
  end

  function Client:close()
    if self.connected then
      enqueue(self, { kind = "disconnect" })
      return true
    end
    return false
  end

  function Client:publish(topic, payload, qos, retain, fn)
    if transport.publishing then
      transport.publishing(self)
    end
    if not self.connected then
      error("not connected", 0)
    end
    topic = checkstring(topic, 2, "publish")
    payload = checkstring(payload, 3, "publish")
    qos = checkinteger(qos, 4, "publish")
    retain = checkinteger(retain, 5, "publish")
    if type(fn) == "function" then
      self.slots.puback = fn
    end
    enqueue(self, { kind = "publish", topic = topic, payload = payload, qos = qos, retain = retain ~= 0 })
    return true
  end

  function Client:subscribe(topic, qos, fn)
    if not self.connected then
      error("not connected", 0)
    end
    local topics = {}
    if type(topic) == "table" then
      for k, v in pairs(topic) do
        topics[checkstring(k, 2, "subscribe")] = checkinteger(v, 2, "subscribe")
      end
      fn = qos
    else
      topics[checkstring(topic, 2, "subscribe")] = checkinteger(qos, 3, "subscribe")
    end
    if type(fn) == "function" then
      self.slots.suback = fn
    end
    enqueue(self, { kind = "subscribe", topics = topics })
    return true
  end

  function Client:unsubscribe(topic, fn)
    if not self.connected then
      error("not connected", 0)
    end
    local topics = {}
    if type(topic) == "table" then
      for k in pairs(topic) do
        topics[checkstring(k, 2, "unsubscribe")] = true
      end
    else
      topics[checkstring(topic, 2, "unsubscribe")] = true
    end
    if type(fn) == "function" then
      self.slots.unsuback = fn
    end
    enqueue(self, { kind = "unsubscribe", topics = topics })
    return true
  end

  -- What the transport reports, for the client's current socket.
  local SLOT_OF = { publish = "puback", subscribe = "suback", unsubscribe = "unsuback" }
  local Q = {}
  function Q.connack(client)
    client.connecting = nil
    client.connected = true
    call_slot(client, "connect")
  end
  --- The broker refused the CONNACK: the TCP socket was up, so closed (and "offline") follows.
  function Q.refused(client, code)
    client.connecting = nil
    client.connected = true
    call_slot(client, "connfail", tonumber(code))
  end
  function Q.connfail(client, reason)
    client.connecting = nil
    if released then
      released(client)
    end
    call_slot(client, "connfail", tonumber(reason))
  end
  --- The socket closed: the queue is dropped; "offline" fires if it was connected (and fire_offline).
  Q.closed = socket_closed
  --- The "offline" callback alone (a host that reports it apart from the close).
  function Q.offline(client)
    call_slot(client, "offline")
  end
  --- The head of the queue was written (QoS 0) or acknowledged: its callback, then the next.
  function Q.sent(client)
    local msg = tremove(client.queue, 1)
    if msg then
      local slot = SLOT_OF[msg.kind]
      if slot then
        call_slot(client, slot)
      end
    end
    pump(client)
  end
  function Q.message(client, topic, payload)
    if payload ~= nil and payload ~= "" then
      return call_slot(client, "message", topic, payload)
    end
    return call_slot(client, "message", topic) -- NodeMCU passes no data for an empty payload
  end
  function Q.overflow(client, topic, payload)
    if payload ~= nil and payload ~= "" then
      return call_slot(client, "overflow", topic, payload)
    end
    return call_slot(client, "overflow", topic)
  end

  return mqtt, Q
end
