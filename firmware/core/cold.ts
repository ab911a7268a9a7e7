/**
 * The core's cold code as the node uses it: what `platform.loadModule("cfg")`
 * returns. On NodeMCU this is the entry of cfg.lua (in LFS, or cfg.lc), so
 * the module table that stays on the heap while a config change is handled
 * holds these five functions and nothing else; the rest of config.ts (the
 * schema, the checks) is reached through them, as locals. In Node it is the
 * same five, from config.ts.
 */
export { boot, configChange, copyConfig, defaultConfig, topicsFor } from "./config";
