#!/usr/bin/env node
/**
 * npm test — the whole suite, from a fresh clone:
 *   system packages (installed when run as root, else the apt-get line is printed),
 *   npm packages (npm ci when node_modules is missing),
 *   type checks, lint, the CLI bundle (npm run build), firmware build (lualib allowlist + byte budget), luacheck,
 *   vitest (unit, conformance, end-to-end), busted on Lua 5.1 and 5.3.
 * Ends with one line `N passed, N failed` summing every suite; exits non-zero on any failure.
 * Plain JavaScript on purpose: it must run before npm packages are installed.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { installPackages, packagesInstalled } from "./lib/install-packages.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
process.chdir(root);
// Piped (CI, a log file): no colour codes from the tools run here (https://no-color.org).
if (process.stdout.isTTY !== true && process.env.FORCE_COLOR === undefined) {
  process.env.NO_COLOR ??= "1";
}

/** Debian packages the suite needs, with a command that proves each is usable. */
const SYSTEM_PACKAGES = [
  { pkg: "lua5.1", check: ["lua5.1", "-v"] },
  { pkg: "lua5.3", check: ["lua5.3", "-v"] },
  { pkg: "lua-cjson", check: ["lua5.3", "-e", "require('cjson')"] },
  { pkg: "lua-busted", check: ["busted", "--version"] },
  { pkg: "lua-check", check: ["luacheck", "--version"] },
  { pkg: "mosquitto", check: ["mosquitto", "-h"], okStatus: [0, 3] },
  { pkg: "socat", check: ["socat", "-V"] },
  // The collector's store suite and outage tests start their own PostgreSQL server
  // (initdb + pg_ctl in a temp folder, as the postgres user when root), never the system's service.
  { pkg: "postgresql", check: ["sh", "-c", "ls /usr/lib/postgresql/*/bin/initdb /usr/lib/postgresql/*/bin/pg_ctl && id postgres"] },
  { pkg: "chromium", check: ["/usr/bin/chromium", "--version"] },
];

const results = []; // { name, passed, failed }

function log(line) {
  process.stdout.write(line + "\n");
}

function run(cmd, args, options = {}) {
  return spawnSync(cmd, args, { stdio: "inherit", ...options });
}

function works({ check, okStatus = [0] }) {
  const r = spawnSync(check[0], check.slice(1), { stdio: "ignore" });
  return r.error === undefined && okStatus.includes(r.status);
}

function ensureSystemPackages() {
  const missing = SYSTEM_PACKAGES.filter((p) => !works(p)).map((p) => p.pkg);
  if (missing.length === 0) {
    return true;
  }
  const line = `apt-get update && apt-get install -y ${missing.join(" ")}`;
  if (process.getuid?.() !== 0) {
    log(`test: missing system packages: ${missing.join(", ")}`);
    log(`test: install them with:\n  sudo ${line.replace("&& apt-get", "&& sudo apt-get")}`);
    return false;
  }
  log(`test: installing ${missing.join(", ")} (apt-get)`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  run("apt-get", ["update", "-qq"], { env });
  const r = run("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing], { env });
  return r.status === 0 && SYSTEM_PACKAGES.every(works);
}

async function ensureNodeModules() {
  return packagesInstalled(root) || (await installPackages({ root, who: "test" }));
}

/** A step that is one check: passes when the command exits 0. */
function check(name, cmd, args) {
  log(`\n== ${name}`);
  const r = run(cmd, args);
  const ok = r.status === 0;
  results.push({ name, passed: ok ? 1 : 0, failed: ok ? 0 : 1 });
  log(`== ${name}: ${ok ? "ok" : "FAILED"}`);
  return ok;
}

function vitest() {
  log("\n== vitest");
  mkdirSync(join(root, "build"), { recursive: true });
  const report = join(root, "build", "vitest-report.json");
  const r = run("npx", ["vitest", "run", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`]);
  let passed = 0;
  let failed = 0;
  if (existsSync(report)) {
    const json = JSON.parse(readFileSync(report, "utf8"));
    passed = json.numPassedTests;
    failed = json.numFailedTests + (json.numRuntimeErrorTestSuites ?? 0);
    // A suite that failed to load has no test results; count it as a failure.
    failed += json.testResults.filter((s) => s.status === "failed" && s.assertionResults.length === 0).length;
  }
  if (r.status !== 0 && failed === 0) {
    failed = 1;
  }
  results.push({ name: "vitest", passed, failed });
}

function busted(lua) {
  const name = `busted (${lua})`;
  log(`\n== ${name}`);
  const r = spawnSync("busted", [`--lua=${lua}`, "-o", "json", "test/lua"], { encoding: "utf8", maxBuffer: 64 << 20 });
  let passed = 0;
  let failed;
  try {
    const json = JSON.parse(r.stdout.slice(r.stdout.indexOf("{")));
    passed = json.successes.length;
    failed = json.failures.length + json.errors.length;
    for (const f of [...json.failures, ...json.errors]) {
      log(`  FAIL ${f.name ?? f.element?.name ?? "?"}\n    ${String(f.message ?? f.trace?.message ?? "").split("\n").join("\n    ")}`);
    }
    log(`  ${passed} passed, ${failed} failed, ${json.pendings.length} pending`);
  } catch {
    process.stdout.write(r.stdout ?? "");
    process.stdout.write(r.stderr ?? "");
    failed = 1;
  }
  results.push({ name, passed, failed });
}

async function main() {
  if (!ensureSystemPackages()) {
    log("0 passed, 1 failed");
    process.exit(1);
  }
  if (!(await ensureNodeModules())) {
    log("0 passed, 1 failed");
    process.exit(1);
  }
  check("typecheck", "npx", ["tsc", "-p", "tsconfig.json", "--noEmit"]);
  check("lint (eslint)", "npx", ["eslint", "."]);
  check("build (the CLI bundle: npm run build)", "node", ["scripts/build-cli.mjs"]);
  const built = check("build:firmware (lualib allowlist, byte budget)", "npx", ["tsx", "scripts/build-firmware.ts"]);
  if (built) {
    check("luacheck (firmware/dist, test/lua)", "luacheck", ["firmware/dist", "test/lua"]);
  }
  vitest();
  if (built && existsSync(join(root, "test", "lua"))) {
    busted("lua5.1");
    busted("lua5.3");
  }
  log("\n== summary");
  for (const r of results) {
    log(`  ${r.failed === 0 ? "ok  " : "FAIL"} ${r.name}: ${r.passed} passed, ${r.failed} failed`);
  }
  const passed = results.reduce((n, r) => n + r.passed, 0);
  const failed = results.reduce((n, r) => n + r.failed, 0);
  log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

await main();
