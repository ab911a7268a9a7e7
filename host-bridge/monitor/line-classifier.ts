/**
 * Which console lines of a NodeMCU board are errors, so the monitor can
 * make them stand out. The patterns are what NodeMCU and Lua print:
 *   Lua error: stdin:1: attempt to call global 'x' (a nil value)   (3.x REPL)
 *   stdin:1: '=' expected near 'x'                                  (older REPL)
 *   app.lua:120: attempt to index a nil value                       (a file's error)
 *   PANIC: unprotected error in call to Lua API (not enough memory)
 */
export type LineKind = "error" | "normal";

const ERROR_PATTERNS: readonly RegExp[] = [
  /\bLua error:/,
  /\bPANIC\b/,
  /(^|\s)stdin:\d+:/,
  // A Lua source position: init.lua:12:, app.lua:3:, [string "..."]:1:
  /\.lua:\d+:/,
  /\[string "[^"]*"\]:\d+:/,
  /\bnot enough memory\b/,
];

export function classifyLine(line: string): LineKind {
  return ERROR_PATTERNS.some((pattern) => pattern.test(line)) ? "error" : "normal";
}

const RED = "\x1b[31m";
const RESET = "\x1b[0m";

/**
 * The line as the monitor shows it: error lines get a "!! " prefix, red on a
 * terminal; other lines are unchanged. `line` carries no line end.
 */
export function markLine(line: string, colour: boolean): string {
  if (classifyLine(line) !== "error") {
    return line;
  }
  return colour ? `${RED}!! ${line}${RESET}` : `!! ${line}`;
}
