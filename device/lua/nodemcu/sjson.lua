-- luacheck: std lua51
--[[
sjson (app/modules/sjson.c, docs/modules/sjson.md): encode/decode with
sjson.NULL (a userdata, not a table, string or number) for null, nesting
limited to 20 levels, decoder():write()/result() and encoder():read(n).
The codec is the host's: the pure-Lua one of nodemcu_common.lua (the virtual
device) or cjson when the busted mock finds it.

ctx.json: { null, encode(v), decode(s) }.
Returns sjson.
]]
return function(ctx)
  local json = ctx.json
  local pcall, error, concat, sub = pcall, error, table.concat, string.sub
  local sjson = { NULL = json.null }
  function sjson.encode(v)
    return json.encode(v)
  end
  function sjson.decode(s)
    return json.decode(s)
  end
  function sjson.decoder()
    local parts, result, done = {}, nil, false
    local d = {}
    function d.write(_, s)
      parts[#parts + 1] = s
      local ok, value = pcall(json.decode, concat(parts))
      if ok then
        result, done = value, true
        return value
      end
      return nil
    end
    function d.result()
      if not done then
        error("decode not complete", 0)
      end
      return result
    end
    return d
  end
  function sjson.encoder(t)
    local text = json.encode(t)
    local pos = 1
    local e = {}
    function e.read(_, size)
      size = size or 1024
      if pos > #text then
        return nil
      end
      local chunk = sub(text, pos, pos + size - 1)
      pos = pos + size
      return chunk
    end
    return e
  end
  return sjson
end
