#!/usr/bin/env node
/**
 * npm start — the embedded broker on mqtt://127.0.0.1:1883, a fleet of 10
 * simulated nodes and the live summary, until Ctrl-C.
 * Plain JavaScript on purpose: on a fresh clone it runs before any npm
 * package is installed, installs them (npm ci), then starts the fleet.
 * Extra arguments go to `espfleet run`: npm start -- --nodes 50 --interval 2s
 * Beside the fleet, `espfleet collect` stores every reading in the embedded
 * database (.espfleet/db); its lines go to .espfleet/collect.log. The
 * broker makes the collector's session before any node starts
 * (--collector-session), so the readings published while the collector
 * still opens its database (6-14 s the first time) are queued for it, not
 * lost; the broker keeps it in .espfleet/broker across runs.
 */
import { spawn } from "node:child_process";
import { mkdirSync, openSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { installPackages, packagesInstalled } from "./lib/install-packages.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

if (!packagesInstalled(root)) {
  if (!(await installPackages({ root, who: "start" }))) {
    process.stderr.write("start: check the network and run `npm ci` yourself, then `npm start` again\n");
    process.exit(1);
  }
}

const passed = process.argv.slice(2);
const valueOf = (name) => {
  const at = passed.findIndex((a) => a === name || a.startsWith(name + "="));
  return at < 0 ? undefined : passed[at].includes("=") ? passed[at].slice(name.length + 1) : passed[at + 1];
};
const COLLECTOR_ID = "espfleet-collect";
// With --broker no broker is started here: the collector's session there exists once the collector first connects.
const collectorSession = valueOf("--broker") === undefined ? ["--collector-session", COLLECTOR_ID] : [];

// `--` first: Node must not take any of the passed-through arguments (--env-file, say) for its own.
const args = ["--", join(root, "bin", "espfleet.js"), "run", "--nodes", "10", "--port", "1883", ...collectorSession, ...passed];
const fleet = spawn(process.execPath, args, { cwd: process.cwd(), stdio: "inherit" });
// Ctrl-C reaches the fleet directly (same process group); it shuts down cleanly and exits.
process.on("SIGINT", () => undefined);
process.on("SIGTERM", () => {
  fleet.kill("SIGTERM");
  collector.kill("SIGTERM");
  webConsole.kill("SIGTERM");
});

// The collector: the same broker (--port/--broker/--prefix/--topic-data as given to run), the embedded database.
const broker = valueOf("--broker") ?? `mqtt://127.0.0.1:${valueOf("--port") ?? "1883"}`;
const forwarded = ["--prefix", "--topic-data"].flatMap((name) => (valueOf(name) !== undefined ? [name, valueOf(name)] : []));
mkdirSync(".espfleet", { recursive: true });
const logFile = join(".espfleet", "collect.log");
const log = openSync(logFile, "a");
const collector = spawn(process.execPath, ["--", join(root, "bin", "espfleet.js"), "collect", "--broker", broker, "--client-id", COLLECTOR_ID, ...forwarded, "--wait", "60s", "--report", "1m"], {
  cwd: process.cwd(),
  stdio: ["ignore", log, log],
});
process.stdout.write(
  `start: readings are stored in .espfleet/db by \`espfleet collect\` (its log: ${logFile});\n` +
    "start: see them with `npx espfleet query --summary` or `npx espfleet query --node node-0001 --since 10m` (another terminal, while this runs)\n",
);
// The console: the same broker and prefix; history through the collector's socket (it holds .espfleet/db).
const consoleLogFile = join(".espfleet", "console.log");
const consoleLog = openSync(consoleLogFile, "a");
const consolePort = process.env.ESPFLEET_CONSOLE_PORT ?? "8080";
const webConsole = spawn(process.execPath, ["--", join(root, "bin", "espfleet.js"), "console", "--broker", broker, ...forwarded, "--http-port", consolePort, "--wait", "60s"], {
  cwd: process.cwd(),
  stdio: ["ignore", consoleLog, consoleLog],
});
process.stdout.write(`start: the fleet console: http://127.0.0.1:${consolePort}/ (its log: ${consoleLogFile}; another port: ESPFLEET_CONSOLE_PORT)\n`);
webConsole.on("exit", (code) => {
  if (!fleetDone && code !== 0 && code !== 130) {
    process.stdout.write(`\nstart: the console stopped (exit ${code}): ${readFileSync(consoleLogFile, "utf8").trimEnd().split("\n").pop()}\n`);
  }
});
let collectorDone = false;
const collectorExited = new Promise((resolve) => collector.on("exit", (code) => resolve(code)));
collectorExited.then((code) => {
  collectorDone = true;
  if (!fleetDone && code !== 0 && code !== 130) {
    process.stdout.write(`\nstart: the collector stopped (exit ${code}); the fleet runs on. Its last lines (${logFile}):\n${lastLines(3)}\n`);
  }
});
const lastLines = (n) => readFileSync(logFile, "utf8").trimEnd().split("\n").slice(-n).join("\n");
let fleetDone = false;
fleet.on("exit", async (code, signal) => {
  fleetDone = true;
  if (!collectorDone) {
    // After Ctrl-C the collector got the same SIGINT and is committing what it holds: a second one would kill it.
    if (!(signal === "SIGINT" || code === 130)) {
      collector.kill("SIGTERM");
      webConsole.kill("SIGTERM");
    }
    await collectorExited;
  }
  process.stdout.write(`collector: ${lastLines(1)}\n`);
  process.exit(code ?? (signal === "SIGINT" ? 130 : 1));
});
