-- luacheck: std lua51
--[[
file (app/modules/file.c on SPIFFS, docs/modules/file.md):
  * flat names of at most 31 bytes; open() raises "filename invalid" otherwise;
  * open() returns nil when a file to read is missing; "w" truncates, "a"
    appends (and creates), "r+"/"w+"/"a+" as their base mode;
  * read(n) returns nil at EOF, read("\n") and readline() stop after the
    character; write() returns nil when the file system is full;
  * rename() fails (false) when the target exists; remove() of a missing file
    is silent; file.read()/write()/... act on the last opened file;
  * getcontents/putcontents (3.x), list(pattern), exists, fsinfo, stat, format.

ctx.C: the argument checks. ctx.file:
  store      { files = name -> contents, fs_full, fs_total } (read at each
             call, so a host can fill the file system up at any time)
  changed(name, offset)  contents changed from byte offset (0-based) on
  removed(name), renamed(from, to), formatted()   (all optional)
Returns file.
]]
return function(ctx)
  local argerror, checkstring = ctx.C.argerror, ctx.C.checkstring
  local hooks = ctx.file
  local store = hooks.store
  local changed, removed, renamed, formatted = hooks.changed, hooks.removed, hooks.renamed, hooks.formatted
  local pairs, ipairs, select, setmetatable, error = pairs, ipairs, select, setmetatable, error
  local file = {}
  local File = {}
  File.__index = File
  local current = nil -- file.read() etc. act on the last opened file

  local function fs_used()
    local used = 0
    for _, v in pairs(store.files) do
      used = used + #v
    end
    return used
  end

  local function check_name(name)
    name = checkstring(name, 1, "open")
    if #name == 0 or #name > 31 then
      argerror(1, "open", "filename invalid")
    end
    return name
  end

  function file.open(name, mode)
    name = check_name(name)
    mode = mode or "r"
    local base = mode:sub(1, 1)
    if base ~= "r" and base ~= "w" and base ~= "a" then
      argerror(2, "open", "invalid mode")
    end
    if base == "r" and store.files[name] == nil then
      return nil
    end
    if base == "w" or (base == "a" and store.files[name] == nil) then
      store.files[name] = ""
      if changed then
        changed(name, 0)
      end
    end
    local f = setmetatable({ name = name, mode = mode, pos = 0, open = true }, File)
    if base == "a" then
      f.pos = #store.files[name]
    end
    current = f
    return f
  end

  local function check_open(f)
    if not f.open then
      error("file closed", 0)
    end
    if store.files[f.name] == nil then
      return nil -- removed under us
    end
    return store.files[f.name]
  end

  function File:read(n)
    local data = check_open(self)
    if data == nil or self.pos >= #data then
      return nil
    end
    local chunk
    if type(n) == "string" then
      local stop = data:find(n:sub(1, 1), self.pos + 1, true) or #data
      chunk = data:sub(self.pos + 1, stop)
    else
      n = n or 1024
      chunk = data:sub(self.pos + 1, self.pos + n)
    end
    self.pos = self.pos + #chunk
    return chunk
  end

  function File:readline()
    return self:read("\n")
  end

  function File:write(...)
    local data = check_open(self)
    if data == nil or self.mode == "r" then
      return nil
    end
    local s = ""
    for i = 1, select("#", ...) do
      s = s .. checkstring((select(i, ...)), i, "write")
    end
    if store.fs_full or fs_used() + #s > store.fs_total then
      return nil
    end
    if self.mode:sub(1, 1) == "a" then
      self.pos = #data
    end
    local at = self.pos
    store.files[self.name] = data:sub(1, at) .. s .. data:sub(at + #s + 1)
    self.pos = at + #s
    if changed then
      changed(self.name, math.min(at, #data))
    end
    return true
  end

  function File:writeline(s)
    return self:write(s, "\n")
  end

  function File:seek(whence, offset)
    local data = check_open(self) or ""
    whence = whence or "cur"
    offset = offset or 0
    local base = whence == "set" and 0 or (whence == "end" and #data or self.pos)
    local p = base + offset
    if p < 0 then
      return nil
    end
    self.pos = p
    return p
  end

  function File:flush()
    check_open(self)
    return true
  end

  function File:close()
    self.open = false
    if current == self then
      current = nil
    end
  end

  for _, method in ipairs({ "read", "readline", "write", "writeline", "seek", "flush", "close" }) do
    file[method] = function(...)
      if not current then
        if method == "close" then
          return nil
        end
        error("open a file first", 0)
      end
      return current[method](current, ...)
    end
  end

  function file.exists(name)
    return store.files[checkstring(name, 1, "exists")] ~= nil
  end
  function file.remove(name)
    name = checkstring(name, 1, "remove")
    local existed = store.files[name] ~= nil
    store.files[name] = nil
    if existed and removed then
      removed(name)
    end
  end
  function file.rename(from, to)
    from = checkstring(from, 1, "rename")
    to = checkstring(to, 2, "rename")
    if store.files[from] == nil or store.files[to] ~= nil or #to > 31 then
      return false
    end
    store.files[to] = store.files[from]
    store.files[from] = nil
    if renamed then
      renamed(from, to)
    end
    return true
  end
  function file.list(pattern)
    local list = {}
    for name, data in pairs(store.files) do
      if pattern == nil or name:match(pattern) then
        list[name] = #data
      end
    end
    return list
  end
  function file.fsinfo()
    local used = fs_used()
    local remaining = store.fs_full and 0 or math.max(0, store.fs_total - used)
    return remaining, used, store.fs_total
  end
  function file.stat(name)
    local data = store.files[name]
    if data == nil then
      return nil
    end
    return { name = name, size = #data, is_dir = false, is_rdonly = false, is_hidden = false,
      is_sys = false, is_arch = false, time = { year = 1970, mon = 1, day = 1, hour = 0, min = 0, sec = 0 } }
  end
  function file.format()
    for k in pairs(store.files) do
      store.files[k] = nil
    end
    if formatted then
      formatted()
    end
  end

  --- The whole file, or nil when it does not exist.
  function file.getcontents(name)
    return store.files[checkstring(name, 1, "getcontents")]
  end
  --- Replace the whole file; true on success, nil when the file system is full.
  function file.putcontents(name, data)
    name = check_name(name)
    data = checkstring(data, 2, "putcontents")
    local old = store.files[name]
    if store.fs_full or fs_used() - (old and #old or 0) + #data > store.fs_total then
      return nil
    end
    store.files[name] = data
    if changed then
      changed(name, 0)
    end
    return true
  end

  return file
end
