/**
 * The boot banner, shaped like NodeMCU 3.x's (lua.c print_version plus the
 * build summary the 3.x firmware prints), so tools that look for it work.
 */
export function bootBanner(modules: readonly string[], luaVersion: string): string {
  const lua = luaVersion === "5.3" ? "Lua 5.3.5" : "Lua 5.1.4";
  return [
    "",
    "NodeMCU 3.0.0.0 (espfleet virtual ESP8266)",
    "\tbranch: release",
    "\tcommit: 0000000000000000000000000000000000000000",
    "\trelease: 3.0-espfleet-virtual",
    "\trelease DTS: 202001010000",
    `\tSSL: ${modules.includes("tls") ? "true" : "false"}`,
    "\tbuild type: float",
    "\tLFS: 0x0 bytes total capacity",
    `\tmodules: ${[...modules].sort().join(",")}`,
    ` build 2020-01-01 00:00 powered by ${lua} on SDK 3.0.1-dev(fce080e)`,
    "",
  ].join("\n");
}
