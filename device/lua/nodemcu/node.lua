-- luacheck: std lua51
--[[
node (app/modules/node.c, app/lua/lflash.c, docs/modules/node.md):
  * heap(), chipid(), flashid(), flashsize(), info() and its groups ("hw",
    "sw_version", "build_config", "lfs"), uptime() (us, low and high word),
    random(), setcpufreq/getcpufreq, stripdebug, egc.setmode/meminfo;
  * task.post(prio, fn): run at the next wake-up, highest priority first
    (ties: posting order), before the timers;
  * restart(), dsleep(us), bootreason(), setonerror(), input(str),
    compile(name): what they do to the boot is the host's (hooks below);
  * the partition table (get, and set: sector-aligned, in order after the
    firmware, inside the 4 MB flash; then the chip restarts) and LFS:
    node.LFS.get/list/reload/time and node.LFS.<module>, the deprecated
    node.flashindex/flashreload; reload() answers as luaL_lfsreload does
    ("No LFS partition allocated", "LFS image file not found", the image's
    own error) and never returns once the image is good (the chip restarts).
A function whose host hook is missing is left out, as in a build without it.

ctx: C, now() (ms), chipid(), seq(). ctx.node:
  heap()                 free heap, bytes
  heap_used()            bytes the firmware holds (egc.meminfo; optional)
  restart()              node.restart()
  flashid, version = { git_commit_id, git_release, git_commit_dts }
  build()                -> ssl (boolean), modules (comma-separated string)
  wake()                 a task was posted (optional)
  dsleep(us), bootreason() -> raw, reason, setonerror(fn), repl(line)
  (node.input), compile(name)                       (optional)
  lfs (optional) = {
    partitions()         -> { lfs_addr, lfs_size, spiffs_addr, spiffs_size }
    irom0_end            where the firmware's code ends
    set_partitions(pt)   store the table and restart (optional)
    modules, names       name -> function of the image in the partition; the
                         sorted names (nil: none)
    time, used           node.LFS.time (the image's timestamp; nil: no image);
                         bytes of the image in the partition
    read(name)           contents of an image file, nil when missing
    check(name, data)    what reload says of an image, nil when it is good
    reload(name)         load it: restart (does not return)
    reloading(name)      (optional) told of every reload call
  }
Returns node, N = { take_tasks() -> list of { prio, fn } or nil, has_tasks() }.
]]
return function(ctx)
  local h, now, seq = ctx.node, ctx.now, ctx.seq
  local lfs = h.lfs
  local argerror, checkinteger, checkstring = ctx.C.argerror, ctx.C.checkinteger, ctx.C.checkstring
  local floor, pairs, ipairs, type, error, setmetatable = math.floor, pairs, ipairs, type, error, setmetatable
  local tsort = table.sort

  local node = {
    CPU80MHZ = 80, CPU160MHZ = 160,
    egc = { NOT_ACTIVE = 0, ON_ALLOC_FAILURE = 1, ON_MEM_LIMIT = 2, ALWAYS = 3 },
    task = { LOW_PRIORITY = 0, MEDIUM_PRIORITY = 1, HIGH_PRIORITY = 2 },
  }
  local cpufreq = 80
  local stripdebug_level = 1
  local FLASH_SIZE = 4194304

  node.heap = h.heap
  node.restart = h.restart
  function node.chipid()
    return ctx.chipid()
  end
  function node.flashid()
    return h.flashid
  end
  function node.flashsize()
    return FLASH_SIZE
  end
  function node.uptime()
    local us = floor(now() * 1000)
    return us % 4294967296, floor(us / 4294967296)
  end
  function node.random(a, b)
    if a == nil then
      return math.random()
    end
    if b == nil then
      return math.random(a)
    end
    return math.random(a, b)
  end
  function node.setcpufreq(f)
    cpufreq = checkinteger(f, 1, "setcpufreq")
    return cpufreq
  end
  function node.getcpufreq()
    return cpufreq
  end
  function node.stripdebug(level)
    if level == nil then
      return stripdebug_level
    end
    stripdebug_level = checkinteger(level, 1, "stripdebug")
  end
  function node.egc.setmode() end
  if h.heap_used then
    function node.egc.meminfo()
      local u = floor(h.heap_used())
      return u, u
    end
  end

  -- node.task.post: run at the next wake-up, highest priority first.
  local tasks = {}
  local wake = h.wake
  local function post(prio, fn)
    tasks[#tasks + 1] = { prio = prio, fn = fn, seq = seq() }
    if wake then
      wake()
    end
  end
  function node.task.post(prio, fn)
    if type(prio) == "function" then
      prio, fn = node.task.MEDIUM_PRIORITY, prio
    end
    if type(fn) ~= "function" then
      argerror(2, "post", "function expected")
    end
    post(checkinteger(prio, 1, "post"), fn)
  end

  if h.dsleep then
    --- Deep sleep ends the boot; the device wakes up (boots) after `us`.
    function node.dsleep(us)
      h.dsleep(us and checkinteger(us, 1, "dsleep") or 0)
    end
  end
  node.bootreason = h.bootreason
  if h.setonerror then
    function node.setonerror(fn)
      h.setonerror(type(fn) == "function" and fn or nil)
    end
  end
  if h.repl then
    --- Submit a chunk to the interpreter as if typed (one line per newline).
    function node.input(str)
      str = checkstring(str, 1, "input")
      for line in (str .. "\n"):gmatch("([^\n]*)\n") do
        post(1, function()
          h.repl(line)
        end)
      end
    end
  end
  if h.compile then
    --- Compile name.lua to name.lc in the file system.
    function node.compile(name)
      return h.compile(checkstring(name, 1, "compile"))
    end
  end

  function node.info(group)
    if group == nil then
      return 3, 0, 0, ctx.chipid(), h.flashid, 4096, 0, 40000000
    elseif group == "hw" then
      return { chip_id = ctx.chipid(), flash_id = h.flashid, flash_size = 4096, flash_mode = 0,
        flash_speed = 40000000 }
    elseif group == "sw_version" then
      local v = h.version
      return { node_version_major = 3, node_version_minor = 0, node_version_revision = 0, git_branch = "release",
        git_commit_id = v.git_commit_id, git_release = v.git_release, git_commit_dts = v.git_commit_dts }
    elseif group == "build_config" then
      local ssl, modules = h.build()
      return { ssl = ssl, lfs_size = lfs and lfs.partitions().lfs_size or 0, modules = modules, number_type = "float" }
    elseif group == "lfs" and lfs then
      local pt = lfs.partitions()
      return { lfs_base = pt.lfs_addr, lfs_mapped = 0x40200000 + pt.lfs_addr, lfs_size = pt.lfs_size,
        lfs_used = lfs.used or 0 }
    end
    error("bad argument #1 to 'info' (invalid group)", 0)
  end

  local N = {}
  function N.has_tasks()
    return #tasks > 0
  end
  --- The posted tasks in the order they run, or nil; the queue starts empty again.
  function N.take_tasks()
    if #tasks == 0 then
      return nil
    end
    local list = tasks
    tasks = {}
    tsort(list, function(a, b)
      return a.prio > b.prio or (a.prio == b.prio and a.seq < b.seq)
    end)
    return list
  end

  if not lfs then
    return node, N
  end

  -- -------------------------------------------------------------------------
  -- partition table and LFS
  -- -------------------------------------------------------------------------

  local PT_KEYS = { lfs_addr = true, lfs_size = true, spiffs_addr = true, spiffs_size = true }
  local SECTOR = 4096
  local SYSTEM_PARAMETER_SIZE = 0x3000

  function node.getpartitiontable()
    local pt = lfs.partitions()
    return { lfs_addr = pt.lfs_addr, lfs_size = pt.lfs_size, spiffs_addr = pt.spiffs_addr, spiffs_size = pt.spiffs_size }
  end

  if lfs.set_partitions then
    --- Checks as node_setpartitiontable does, then the host stores the table and restarts.
    function node.setpartitiontable(t)
      if type(t) ~= "table" then
        argerror(1, "setpartitiontable", "must be table")
      end
      local current = lfs.partitions()
      local pt = node.getpartitiontable()
      for k, v in pairs(t) do
        if type(k) ~= "string" or type(v) ~= "number" or not PT_KEYS[k] then
          argerror(1, "setpartitiontable", "invalid partition setting")
        end
        pt[k] = floor(v)
      end
      if t.lfs_size ~= nil and t.lfs_addr == nil and current.lfs_size == 0 then
        pt.lfs_addr = lfs.irom0_end -- a new LFS partition follows the firmware
      end
      if t.spiffs_size ~= nil and t.spiffs_addr == nil then
        pt.spiffs_addr = pt.spiffs_size <= FLASH_SIZE - SYSTEM_PARAMETER_SIZE - 0x100000 and 0x100000
          or pt.lfs_addr + pt.lfs_size
      end
      local last = lfs.irom0_end
      for _, part in ipairs({ { pt.lfs_addr, pt.lfs_size }, { pt.spiffs_addr, pt.spiffs_size } }) do
        local addr, size = part[1], part[2]
        if size > 0 then
          if addr % SECTOR ~= 0 or size % SECTOR ~= 0 or addr < last or addr + size > FLASH_SIZE then
            error("Partition value out of range", 0)
          end
          last = addr + size
        end
      end
      lfs.set_partitions(pt)
    end
  end

  local functions, names = lfs.modules or {}, lfs.names
  local LFS = { time = lfs.time }
  function LFS.get(name)
    if type(name) ~= "string" then
      return nil
    end
    return functions[name]
  end
  function LFS.list()
    if names == nil then
      return nil
    end
    local copy = {}
    for i = 1, #names do
      copy[i] = names[i]
    end
    return copy
  end
  --- luaL_lfsreload: the first pass checks the image and returns its error;
  -- past it the chip writes the partition and restarts (never returns).
  function LFS.reload(name)
    if lfs.reloading then
      lfs.reloading(name)
    end
    if lfs.partitions().lfs_size == 0 then
      return "No LFS partition allocated"
    end
    name = checkstring(name, 1, "reload")
    local data = lfs.read(name)
    if data == nil then
      return "LFS image file not found"
    end
    local err = lfs.check(name, data)
    if err ~= nil then
      return err
    end
    lfs.reload(name)
  end
  setmetatable(LFS, { __index = function(_, name)
    return functions[name]
  end })
  node.LFS = LFS
  node.flashindex = LFS.get -- deprecated synonyms (docs/modules/node.md)
  node.flashreload = LFS.reload

  return node, N
end
