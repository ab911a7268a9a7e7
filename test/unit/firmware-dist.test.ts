/**
 * The firmware as the device should run it: init.lua starting app.lc, which
 * drops its bundled config code and loads cfg.lc from flash for each config
 * change, on a 32-bit Lua 5.1 (wasm) with the NodeMCU mock. The busted specs
 * (test/lua) run app.lua alone, which keeps the bundled copy; this covers the
 * .lc files the build writes and the fallbacks when they do not load.
 *
 * Bytecode must be loaded with loadfile, never with `load` and a Lua reader
 * function: Lua 5.1 builds a binary chunk without GC write barriers, and a
 * reader lets the incremental GC run meanwhile, which corrupts the heap
 * (seen here as wasm "memory access out of bounds", natively as "bad code in
 * precompiled chunk" or a malloc abort). The mock below refuses it.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildFirmware } from "../../scripts/build-firmware";
import { allProtos, parseChunk, stripChunk } from "../../firmware/lfs/lua51-chunk";
import { luaString, WasmLua } from "../../common/wasm-lua";
import { nodemcuModuleSources } from "../../device/lua-vm";

const root = join(import.meta.dirname, "..", "..");
let dist = "";
const file = (name: string): Buffer => readFileSync(join(dist, name));

beforeAll(() => {
  dist = mkdtempSync(join(tmpdir(), "firmware-dist-"));
  buildFirmware(dist);
}, 60_000);
afterAll(() => rmSync(dist, { recursive: true, force: true }));

/**
 * A wasm Lua 5.1 with the mock installed and `files` on its flash. The .lc
 * files go in the stock layout this Lua reads (the same code as shipped).
 */
function device(files: Record<string, string | Uint8Array>): WasmLua {
  const lua = new WasmLua({ version: "5.1" });
  lua.addSource("nodemcu_mock.lua", readFileSync(join(root, "test", "lua", "nodemcu_mock.lua"), "utf8"));
  lua.addSource("nodemcu_common.lua", readFileSync(join(root, "device", "lua", "nodemcu_common.lua"), "utf8"));
  for (const [name, text] of nodemcuModuleSources()) {
    lua.addSource(name, text);
  }
  const names: string[] = [];
  for (const [name, contents] of Object.entries(files)) {
    lua.addSource(`flash/${name}`, contents);
    names.push(name);
  }
  lua.run(`
    local M = assert(loadfile("nodemcu_mock.lua"))()
    sim = M.install({ json = "pure", capture_print = true, dofile = true })
    for _, name in ipairs({ ${names.map(luaString).join(", ")} }) do sim.files[name] = __wasm.sources["flash/" .. name] end
    -- NodeMCU's loadfile reads the flash (the mock installs only dofile); cfg_loads counts the config code's loads.
    cfg_loads = 0
    loadfile = function(name) if name == "cfg.lc" or name == "cfg.lua" then cfg_loads = cfg_loads + 1 end return sim.loadfile(name) end
    local stock_load = load
    load = function(reader, name)
      if type(reader) == "function" then
        local first = reader()
        if type(first) == "string" and first:sub(1, 1) == "\\27" then error("bytecode loaded through a Lua reader: " .. tostring(name)) end
        local pending = first
        return stock_load(function() if pending ~= nil then local p = pending; pending = nil; return p end return reader() end, name)
      end
      return stock_load(reader, name)
    end
    sim.files["config.json"] = '{"node_id":"n1","interval_ms":1000}'
    function console_has(text) for _, l in ipairs(sim.console) do if l:find(text, 1, true) then return true end end return false end
    function acks() local n, last = 0, nil
      for _, m in ipairs(sim.broker.published) do if m.topic == "config_ack/n1" then n = n + 1; last = sim.json.decode(m.payload) end end
      return n, last and last.result, last and last.config and last.config.interval_ms end
  `);
  return lua;
}

const stock = (name: string): Uint8Array => stripChunk(new Uint8Array(file(name)), "nodemcu");

/** Power on through init.lua, wait out its boot window, go online, send one config change. */
function bootAndChange(lua: WasmLua): { acks: string[]; console: string } {
  lua.run(`sim.dofile("init.lua"); sim.advance(3000); sim.wifi_up(); sim.advance(100)
           sim.broker.deliver("config_change", '{"interval_ms":2000,"req":"r1"}'); sim.advance(0)`);
  return { acks: lua.run("return acks()"), console: lua.run('return table.concat(sim.console, "\\n")')[0] ?? "" };
}

describe("the shipped firmware on a 32-bit Lua 5.1", () => {
  it("writes app.lc and cfg.lc in NodeMCU's layout, holding the compiled app.lua and cfg.lua", () => {
    const lua = new WasmLua({ version: "5.1" });
    try {
      for (const name of ["app", "cfg"]) {
        const lc = new Uint8Array(file(`${name}.lc`));
        expect(allProtos(parseChunk(lc, "nodemcu").main).length).toBeGreaterThan(10);
        const compiled = stripChunk(lua.compile(file(`${name}.lua`).toString("utf8"), `@${name}.lua`));
        expect(Buffer.from(stripChunk(lc, "nodemcu")).equals(Buffer.from(compiled))).toBe(true);
      }
    } finally {
      lua.close();
    }
  });

  it("starts app.lc, drops the bundled config code and loads cfg.lc for each config change", () => {
    const lua = device({ "init.lua": file("init.lua").toString("utf8"), "app.lc": stock("app.lc"), "cfg.lc": stock("cfg.lc") });
    try {
      const run = bootAndChange(lua);
      expect(run.console).toContain("starting app.lc");
      expect(lua.run("return espfleet_node.platform.builtin == nil, cfg_loads")).toEqual(["true", "1"]);
      expect(run.acks).toEqual(["1", "applied", "2000"]);
      expect(lua.run('return sim.json.decode(sim.files["config.json"]).interval_ms')).toEqual(["2000"]);
      lua.run(`sim.broker.deliver("config_change", '{"interval_ms":50}'); sim.advance(0)`);
      expect(lua.run("return acks()")).toEqual(["2", "rejected", "nil"]);
      expect(lua.run("return cfg_loads")).toEqual(["2"]);
    } finally {
      lua.close();
    }
  });

  it("uses cfg.lua when cfg.lc does not load (e.g. a Lua 5.3 firmware)", () => {
    const lua = device({
      "init.lua": file("init.lua").toString("utf8"),
      "app.lc": stock("app.lc"),
      "cfg.lc": "\x1bLua\x53 not for this Lua",
      "cfg.lua": file("cfg.lua").toString("utf8"),
    });
    try {
      expect(bootAndChange(lua).acks).toEqual(["1", "applied", "2000"]);
      expect(lua.run("return cfg_loads")).toEqual(["2"]);
    } finally {
      lua.close();
    }
  });

  it("keeps the bundled config code when neither cfg.lc nor cfg.lua is on flash, and says so", () => {
    const lua = device({ "init.lua": file("init.lua").toString("utf8"), "app.lua": file("app.lua").toString("utf8") });
    try {
      const run = bootAndChange(lua);
      expect(run.console).toContain("starting app.lua");
      expect(run.console).toContain("keeping the config code of app.lua in memory");
      expect(run.acks).toEqual(["1", "applied", "2000"]);
      expect(lua.run("return espfleet_node.platform.builtin ~= nil, cfg_loads")).toEqual(["true", "0"]);
    } finally {
      lua.close();
    }
  });

  it("keeps the bundled config code when cfg.lc is for another Lua and there is no cfg.lua", () => {
    const lua = device({ "init.lua": file("init.lua").toString("utf8"), "app.lua": file("app.lua").toString("utf8"), "cfg.lc": "\x1bLua\x53 for Lua 5.3" });
    try {
      const run = bootAndChange(lua);
      expect(run.console).toContain("keeping the config code of app.lua in memory");
      expect(run.acks).toEqual(["1", "applied", "2000"]);
      expect(lua.run("return cfg_loads")).toEqual(["0"]);
    } finally {
      lua.close();
    }
  });

  it("takes the config code's size off the steady heap when cfg.lc is on flash", () => {
    const heap = (files: Record<string, string | Uint8Array>): number => {
      const lua = device(files);
      try {
        bootAndChange(lua);
        return lua.heapBytes();
      } finally {
        lua.close();
      }
    };
    const init = file("init.lua").toString("utf8");
    const kept = heap({ "init.lua": init, "app.lc": stock("app.lc") });
    const dropped = heap({ "init.lua": init, "app.lc": stock("app.lc"), "cfg.lc": stock("cfg.lc") });
    // The heaps hold the files too: cfg.lc's bytes are on the second one's "flash", not on a device's heap.
    expect(kept - (dropped - stock("cfg.lc").length)).toBeGreaterThan(8 * 1024);
  });

  it("init.lua falls back to app.lua when app.lc does not load, and says why", () => {
    const lua = device({ "init.lua": file("init.lua").toString("utf8"), "app.lc": "\x1bLua\x51 truncated", "app.lua": file("app.lua").toString("utf8") });
    try {
      const run = bootAndChange(lua);
      expect(run.console).toMatch(/cannot load app\.lc \(.+\); trying app\.lua/);
      expect(run.console).toContain("espfleet info: node n1 boot 1");
      expect(run.acks[1]).toBe("applied");
    } finally {
      lua.close();
    }
  });

  it("init.lua stays at the prompt, without a crash, when no app loads", () => {
    const lua = device({ "init.lua": file("init.lua").toString("utf8"), "app.lc": "garbage" });
    try {
      lua.run("sim.dofile('init.lua'); sim.advance(5000)");
      const console = lua.run('return table.concat(sim.console, "\\n")')[0] ?? "";
      expect(console).toMatch(/cannot load app\.lc/);
      expect(console).toContain("no app that this firmware can run; upload the firmware (./flash.sh)");
      expect(lua.run("return espfleet_node == nil, sim.files['bootfail.txt']")).toEqual(["true", "0"]);
    } finally {
      lua.close();
    }
  });
});
