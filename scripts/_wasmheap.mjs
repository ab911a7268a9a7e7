import { readFileSync } from "node:fs";
import { lauxlib, lua, lualib } from "lua-wasm-bindings/dist/lua.51.js";
const src = readFileSync(process.argv[2], "utf8");
const L = lauxlib.luaL_newstate();
lualib.luaL_openlibs(L);
const code = `collectgarbage("collect"); local b = collectgarbage("count"); local f = assert(loadstring([=====[${src}]=====])); collectgarbage("collect"); return string.format("%.1f KB", collectgarbage("count") - b)`;
const st = lauxlib.luaL_dostring(L, code);
console.log(st, lua.lua_tostring(L, -1));
