/**
 * `npm run bench:cli`: how long the CLI takes to start and to finish, as a
 * person runs it; hyperfine-like: each command is run --runs times (after
 * one warm-up run), and the median, min and max wall times are printed.
 * Not a test: it prints times, it asserts nothing.
 *
 *   espfleet --help                 node bin/espfleet.js --help (the compiled bundle)
 *   espfleet --help (tsx)           the same through tsx, the way it ran before the bundle (ESPFLEET_TSX=1)
 *   npx espfleet --help             npx's own start-up on top
 *   config --target (1 node)        config --interval 1s --target node-0001 against a running fleet:
 *                                   connect, publish, wait for the one ack, exit
 *   config --all --expect 3         every node of a 3-node fleet, back as soon as the 3rd ack arrived
 *
 * The fleet is `espfleet run --nodes 3` on a free port of an embedded broker.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command, Option } from "commander";

const ROOT = join(import.meta.dirname, "..");
const BIN = join(ROOT, "bin", "espfleet.js");

interface Row {
  name: string;
  runs: number[];
}

function timeRuns(name: string, command: string, args: string[], runs: number, env: NodeJS.ProcessEnv = process.env): Row {
  const once = (): number => {
    const started = performance.now();
    const result = spawnSync(command, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" });
    const ms = performance.now() - started;
    if (result.status !== 0) {
      throw new Error(`${name}: exit ${result.status}\n${result.stdout}${result.stderr}`);
    }
    return ms;
  };
  once(); // warm-up: file cache, and a build when the sources changed
  return { name, runs: Array.from({ length: runs }, once) };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0));
    });
  });
}

async function main(): Promise<void> {
  const opts = new Command("bench-cli")
    .description("start-up and round-trip times of the espfleet CLI (median of repeated runs)")
    .addOption(new Option("--runs <n>", "timed runs per command (after one warm-up)").default("10"))
    .addOption(new Option("--no-tsx", "skip the runs through tsx (slow)"))
    .addOption(new Option("--no-npx", "skip npx espfleet"))
    .parse()
    .opts<{ runs: string; tsx: boolean; npx: boolean }>();
  const runs = Math.max(1, Number(opts.runs));
  const node = process.execPath;
  const tsxEnv = { ...process.env, ESPFLEET_TSX: "1" };
  const rows: Row[] = [];

  rows.push(timeRuns("espfleet --help", node, [BIN, "--help"], runs));
  if (opts.tsx) {
    rows.push(timeRuns("espfleet --help (tsx, before the bundle)", node, [BIN, "--help"], Math.min(runs, 5), tsxEnv));
  }
  if (opts.npx) {
    rows.push(timeRuns("npx espfleet --help", "npx", ["--no-install", "espfleet", "--help"], Math.min(runs, 5)));
  }

  const port = await freePort();
  const stateDir = mkdtempSync(join(tmpdir(), "espfleet-bench-cli-"));
  const fleet = spawn(node, [BIN, "run", "--nodes", "3", "--port", String(port), "--state-dir", stateDir, "--interval", "1s"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  try {
    let out = "";
    fleet.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const deadline = Date.now() + 60_000;
    while (!out.includes("all 3/3 nodes connected")) {
      if (Date.now() > deadline || fleet.exitCode !== null) {
        throw new Error(`the fleet did not start:\n${out}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const broker = ["--broker", `mqtt://127.0.0.1:${port}`];
    const target = [BIN, "config", ...broker, "--interval", "1s", "--target", "node-0001"];
    rows.push(timeRuns("espfleet config --target node-0001", node, target, runs));
    rows.push(timeRuns("espfleet config --all --expect 3", node, [BIN, "config", ...broker, "--interval", "1s", "--all", "--expect", "3"], runs));
    if (opts.tsx) {
      rows.push(timeRuns("espfleet config --target node-0001 (tsx)", node, target, Math.min(runs, 5), tsxEnv));
    }
  } finally {
    fleet.kill("SIGINT");
    await new Promise((r) => fleet.once("exit", r));
    rmSync(stateDir, { recursive: true, force: true });
  }

  const width = Math.max(...rows.map((r) => r.name.length));
  const s = (ms: number): string => (ms / 1000).toFixed(3).padStart(7);
  process.stdout.write(`${"command".padEnd(width)}  median s    min s    max s  runs\n`);
  for (const row of rows) {
    process.stdout.write(`${row.name.padEnd(width)}  ${s(median(row.runs))}  ${s(Math.min(...row.runs))}  ${s(Math.max(...row.runs))}  ${String(row.runs.length).padStart(4)}\n`);
  }
  const load = spawnSync("cat", ["/proc/loadavg"], { encoding: "utf8" }).stdout.trim().split(" ").slice(0, 3).join(" ");
  process.stdout.write(`node ${process.version}, ${(await import("node:os")).availableParallelism()} cores, load average ${load}\n`);
}

await main();
