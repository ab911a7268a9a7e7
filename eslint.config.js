// Lint for the whole repo; stricter rules for code that is transpiled to Lua
// (firmware/, test/conformance/ platform and runner), per ../shared/design/TS-SUBSET.md.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const luaSubset = {
  files: ["firmware/**/*.ts", "test/conformance/scenario-platform.ts", "test/conformance/runner.ts"],
  ignores: ["firmware/lfs/**"], // build tooling for Node (LFS image writer), never transpiled to Lua
  languageOptions: {
    parserOptions: { project: ["./tsconfig.json", "./firmware/tsconfig.json"], tsconfigRootDir: import.meta.dirname },
  },
  rules: {
    // Lua truthiness differs: 0 and "" are true there.
    "@typescript-eslint/strict-boolean-expressions": ["error", { allowString: false, allowNumber: false, allowNullableObject: true }],
    "@typescript-eslint/unbound-method": "error",
    "no-restricted-globals": [
      "error",
      { name: "JSON", message: "Use platform.encodeJson/decodeJson: JSON does not exist in Lua." },
      { name: "Date", message: "Use platform.uptimeSec/unixTimeSec." },
      { name: "console", message: "Use platform.log." },
      { name: "setTimeout", message: "Use platform.createTimer." },
      { name: "setInterval", message: "Use platform.createTimer." },
      { name: "Map", message: "Map costs 7 KB of lualib; use a plain object." },
      { name: "Set", message: "Set costs 8.5 KB of lualib; use a plain object." },
      { name: "Error", message: "Error classes cost 4.9 KB of lualib; return an error value." },
      { name: "parseInt", message: "Costs lualib; numbers arrive parsed from JSON." },
      { name: "parseFloat", message: "Costs lualib." },
      { name: "Number", message: "Costs lualib." },
    ],
    "no-restricted-syntax": [
      "error",
      { selector: "UnaryExpression[operator='delete']", message: "delete costs 5.5 KB of lualib; assign undefined or rebuild." },
      { selector: "BinaryExpression[operator='instanceof']", message: "instanceof costs lualib." },
      { selector: "ClassDeclaration[superClass]", message: "extends costs lualib." },
      { selector: "FunctionDeclaration[async=true], ArrowFunctionExpression[async=true]", message: "async costs 9 KB of lualib." },
      { selector: "SpreadElement", message: "spread costs lualib." },
      // TSTL's 5.1 target turns `const [a, b] = t` into `unpack(t)`, which Lua 5.3 (and NodeMCU's 5.3 builds) lack.
      // (Destructuring a LuaMultiReturn call, e.g. `const [ok, err] = pcall(f)`, stays a plain multiple assignment.)
      { selector: "VariableDeclarator[init.type!='CallExpression'] > ArrayPattern.id, AssignmentExpression > ArrayPattern", message: "array destructuring compiles to unpack(), missing on Lua 5.3; index the tuple." },
      { selector: "CallExpression[callee.property.name=/^(splice|split|concat|filter|map|forEach|reduce|includes|sort|indexOf|toFixed|charCodeAt|substring)$/]", message: "this method pulls in lualib (TS-SUBSET.md)." },
    ],
  },
};

/**
 * Dependencies point one way (README "Architecture"): cli → tools
 * (simulator, ops, host-bridge, device) → broker, common → firmware/core.
 * What each top-level folder may import from outside itself; nothing else,
 * so nothing imports back up, product code never imports test/, and tools
 * use each other only where one job is built on another (the Firmata
 * bridge's nodes are simulator nodes; the simulator's `--engine lua` and
 * flash --virtual run the virtual device; flash builds the firmware first,
 * with scripts/build-firmware.ts). Lint checks static imports;
 * test/unit/layering.test.ts checks `import()` too, and that this table has
 * no circle.
 */
export const ALLOWED_IMPORTS = {
  bin: ["cli", "scripts"],
  cli: ["ops", "host-bridge", "simulator", "device", "broker", "common", "firmware"],
  ops: ["broker", "common", "firmware"],
  "host-bridge": ["simulator", "device", "broker", "common", "firmware", "scripts"],
  simulator: ["device", "broker", "common", "firmware"],
  device: ["common", "firmware"],
  broker: ["common", "firmware"],
  common: [],
  firmware: [],
};
const TOP_FOLDERS = [...Object.keys(ALLOWED_IMPORTS), "scripts", "test"];

/** A relative import that climbs to the repository's root and goes into one of `folders`. */
const into = (folders) => ({
  regex: `^(\\.\\./)+(${folders.join("|")})(/|$)`,
  message: `imports point one way: cli → simulator/ops/host-bridge/device → broker/common → firmware/core (README "Architecture"; ALLOWED_IMPORTS in eslint.config.js); this folder may not import ${folders.join(", ")}.`,
});
const layers = Object.entries(ALLOWED_IMPORTS)
  .filter(([folder]) => folder !== "bin")
  .map(([folder, allowed]) => ({
    files: [`${folder}/**/*.ts`],
    rules: { "no-restricted-imports": ["error", { patterns: [into(TOP_FOLDERS.filter((f) => f !== folder && !allowed.includes(f)))] }] },
  }));

export default tseslint.config(
  { ignores: ["node_modules/", "build/", "firmware/dist/", "scratch/", "reports/", ".stryker-tmp/", "**/*.lua"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    files: ["**/*.js", "**/*.mjs"],
    languageOptions: { globals: { process: "readonly", console: "readonly", Buffer: "readonly", URL: "readonly" } },
  },
  // The console's page (ops/console/page/): plain scripts for the browser.
  {
    files: ["ops/console/page/**/*.js"],
    languageOptions: {
      globals: Object.fromEntries(
        ["window", "document", "location", "fetch", "WebSocket", "setTimeout", "clearTimeout", "requestAnimationFrame", "ResizeObserver", "MutationObserver", "performance", "devicePixelRatio", "addEventListener", "confirm", "alert"].map((name) => [name, "readonly"]),
      ),
    },
  },
  luaSubset,
  ...layers,
  // Ambient declarations of Lua globals must be `var`.
  { files: ["firmware/types/*.d.ts"], rules: { "no-var": "off" } },
);
