/**
 * Issue 12: `run --workers N` under the bundled CLI forks the built worker
 * (build/cli/<id>/fleet-worker.js, scripts/build-cli.mjs), plain JavaScript
 * like the CLI itself, not the sources through tsx; ESPFLEET_TSX=1 still
 * runs everything, workers included, from the sources. Start times are
 * measured by hand (see the report), not here.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CliRun } from "./support/cli-process";

/** The command lines of a process's worker children (not esbuild's service, which tsx or a rebuild may have started too). */
function childCommands(pid: number): string[] {
  const pids = execFileSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" }).trim().split(/\s+/).filter((p) => p !== "");
  return pids.map((child) => readFileSync(`/proc/${child}/cmdline`, "utf8").split("\0").join(" ").trim()).filter((command) => command.includes("fleet-worker"));
}

describe("run --workers: the worker processes", () => {
  const dirs: string[] = [];
  const runs: CliRun[] = [];
  afterAll(async () => {
    for (const run of runs) {
      await run.interrupt();
    }
    for (const dir of dirs) {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  async function workersOf(env: Record<string, string>): Promise<{ commands: string[]; code: number | null; out: string }> {
    const stateDir = mkdtempSync(join(tmpdir(), "espfleet-workers-"));
    dirs.push(stateDir);
    const run = CliRun.start(["run", "--workers", "2", "--nodes", "4", "--port", "0", "--state-dir", stateDir, "--fresh"], env);
    runs.push(run);
    // Connected, so both workers are up (from the sources they take longer: tsx compiles them first).
    await run.waitFor(/all 4\/4 nodes connected/, 60_000);
    const commands = childCommands(run.pid);
    const code = await run.interrupt();
    return { commands, code, out: run.out };
  }

  it("under the bundled CLI are the built fleet-worker.js", async () => {
    const { commands, code, out } = await workersOf({ ESPFLEET_TSX: "0" });
    expect(code, out).toBe(130);
    expect(commands, out).toHaveLength(2);
    for (const command of commands) {
      expect(command).toMatch(/\/build\/cli\/[^/]+\/fleet-worker\.js$/);
    }
  }, 90_000);

  it("with ESPFLEET_TSX=1 are the sources through tsx", async () => {
    const { commands, code, out } = await workersOf({ ESPFLEET_TSX: "1" });
    expect(code, out).toBe(130);
    expect(commands, out).toHaveLength(2);
    for (const command of commands) {
      expect(command).toMatch(/\/simulator\/fleet-worker-entry\.js$/);
    }
  }, 90_000);
});
