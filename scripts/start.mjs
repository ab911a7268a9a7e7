#!/usr/bin/env node
/**
 * npm start — the embedded broker on mqtt://127.0.0.1:1883, a fleet of 10
 * simulated nodes and the live summary, until Ctrl-C.
 * Plain JavaScript on purpose: on a fresh clone it runs before any npm
 * package is installed, installs them (npm ci), then starts the fleet.
 * Extra arguments go to `espfleet run`: npm start -- --nodes 50 --interval 2s
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

if (!existsSync(join(root, "node_modules", ".package-lock.json"))) {
  process.stdout.write("start: npm packages are not installed yet; installing them (npm ci)…\n");
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const install = spawnSync(npm, ["ci", "--no-audit", "--no-fund"], { cwd: root, stdio: "inherit" });
  if (install.status !== 0) {
    process.stderr.write("start: npm ci failed; check the network and run `npm ci` yourself, then `npm start` again\n");
    process.exit(1);
  }
}

const args = [join(root, "bin", "espfleet.js"), "run", "--nodes", "10", "--port", "1883", ...process.argv.slice(2)];
const fleet = spawn(process.execPath, args, { cwd: process.cwd(), stdio: "inherit" });
// Ctrl-C reaches the fleet directly (same process group); it shuts down cleanly and exits.
process.on("SIGINT", () => undefined);
process.on("SIGTERM", () => fleet.kill("SIGTERM"));
fleet.on("exit", (code, signal) => process.exit(code ?? (signal === "SIGINT" ? 130 : 1)));
