/**
 * The espfleet commands as a person runs them (bin/espfleet.js, real
 * processes): `run` with its embedded broker, `config` reporting who applied
 * or rejected with the right exit code, `watch`, `--workers`, `--shard`, a
 * clean Ctrl-C, and the advice printed when the broker cannot be reached.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { freePort } from "./support/mosquitto";

const BIN = join(import.meta.dirname, "..", "..", "bin", "espfleet.js");

interface Finished {
  code: number | null;
  out: string;
}

/** Run one command to its end. */
function espfleet(args: string[], timeoutMs = 20_000): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`espfleet ${args.join(" ")} did not finish in ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

/** A long-running `espfleet run`, with its output so far. */
class Running {
  out = "";
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;

  constructor(args: string[]) {
    // In a folder of its own: the embedded broker keeps sessions and retained messages under .espfleet/broker of
    // its working folder, and another run's (other nodes' statuses, queued readings) must not show up here.
    this.child = spawn(process.execPath, [BIN, "run", ...args], { cwd: mkdtempSync(join(tmpdir(), "espfleet-cli-cwd-")), stdio: ["ignore", "pipe", "pipe"] });
    this.child.stdout?.on("data", (d: Buffer) => (this.out += d.toString()));
    this.child.stderr?.on("data", (d: Buffer) => (this.out += d.toString()));
    this.exited = new Promise((resolve) => this.child.on("exit", (code) => resolve(code)));
  }

  async waitFor(pattern: RegExp, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.out)) {
      if (Date.now() > deadline) {
        throw new Error(`no ${pattern} in:\n${this.out}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  interrupt(): void {
    this.child.kill("SIGINT");
  }

  kill(): void {
    this.child.kill("SIGKILL");
  }
}

describe("espfleet command line", () => {
  const running: Running[] = [];
  afterEach(() => {
    running.splice(0).forEach((r) => r.kill());
  });

  it("run starts an embedded broker and a fleet; config and watch work against it; Ctrl-C stops cleanly", async () => {
    const port = await freePort();
    const stateDir = mkdtempSync(join(tmpdir(), "espfleet-cli-"));
    const fleet = new Running(["--nodes", "3", "--port", String(port), "--interval", "300ms", "--state-dir", stateDir, "--seed", "7"]);
    running.push(fleet);
    await fleet.waitFor(/all 3\/3 nodes connected/);
    expect(fleet.out).toContain(`embedded broker (aedes) listening on mqtt://127.0.0.1:${port}`);
    expect(fleet.out).toContain("seed 7");
    const broker = ["--broker", `mqtt://127.0.0.1:${port}`];

    const applied = await espfleet(["config", ...broker, "--interval", "1s", "--sensitivity", "0.5", "--target", "node-0002"]);
    expect(applied.out).toContain('"interval_ms":1000');
    expect(applied.out).toContain("applied by 1: node-0002");
    expect(applied.code).toBe(0);

    // A value the node's schema refuses is refused by the command itself: nothing is sent (node-side
    // rejections and their exit code 1 are covered in signed-config.test.ts).
    const refused = await espfleet(["config", ...broker, "--interval", "50ms", "--all", "--expect", "3"]);
    expect(refused.out).toContain("interval_ms must be a whole number from 100 to 86400000 ms");
    expect(refused.out).not.toContain("rejected by");
    expect(refused.code).toBe(2);

    const missing = await espfleet(["config", ...broker, "--heartbeat", "1m", "--target", "node-0001", "node-0042", "--timeout", "1s"]);
    expect(missing.out).toContain("applied by 1: node-0001");
    expect(missing.out).toContain("no answer within 1s from 1: node-0042");
    expect(missing.code).toBe(1);

    // A client id of this run's own: the embedded broker keeps persistent sessions across runs (.espfleet/broker),
    // so the default id would first get what was queued for it by earlier runs' fleets.
    const watched = await espfleet(["watch", ...broker, "--duration", "2s", "--lines", "--client-id", `cli-test-${process.pid}`]);
    expect(watched.out).toMatch(/node-0001 #\d+ boot 1 {2}temperature [\d.]+ °C {2}humidity [\d.]+ %RH/);
    expect(watched.out).toMatch(/node-0003 online \(boot 1\)/);
    expect(watched.out).toMatch(/watched 3 nodes: \d+ readings, 0 lost/);
    expect(watched.code).toBe(0);

    fleet.interrupt();
    // Ctrl-C: 130, the one exit rule of every command (issue 15).
    expect(await fleet.exited).toBe(130);
    expect(fleet.out).toMatch(/stopped after [\d.]+ s: \d+ readings published/);
    // The applied config is on disk, where a restart will find it.
    expect(JSON.parse(readFileSync(join(stateDir, "node-0002", "config.json"), "utf8"))).toMatchObject({ interval_ms: 1000, sensitivity: 0.5 });
  });

  it("runs a shard of a larger fleet in worker processes", async () => {
    const port = await freePort();
    const stateDir = mkdtempSync(join(tmpdir(), "espfleet-cli-"));
    const result = await espfleet(
      ["run", "--nodes", "12", "--shard", "2/3", "--workers", "2", "--port", String(port), "--interval", "500ms", "--state-dir", stateDir, "--duration", "10s"],
      45_000,
    );
    expect(result.out).toContain("starting 4 nodes node-0005…node-0008 (shard 2/3 of 12) in 2 worker processes");
    expect(result.out).toContain("all 4/4 nodes connected");
    expect(result.out).toMatch(/stopped after [\d.]+ s: [1-9]\d* readings published/);
    expect(result.code).toBe(0);
  }, 60_000);

  it("says what to do when the broker cannot be reached or an option is wrong", async () => {
    const closed = await freePort();
    const unreachable = await espfleet(["run", "--broker", `mqtt://127.0.0.1:${closed}`, "--nodes", "2"]);
    expect(unreachable.out).toContain(
      `cannot reach mqtt://127.0.0.1:${closed}: ECONNREFUSED; is the broker running? start one with \`mosquitto -p ${closed}\` or omit --broker to use the embedded one`,
    );
    expect(unreachable.code).toBe(1);
    const bare = await espfleet(["run", "--interval", "2"]);
    expect(bare.out).toContain("add a unit: 2ms, 2s or 2m");
    expect(bare.code).not.toBe(0);
    const tooFast = await espfleet(["run", "--interval", "50ms", "--port", "0"]);
    expect(tooFast.out).toContain("--interval: interval_ms must be a whole number from 100 to 86400000 ms");
    expect(tooFast.code).toBe(2);
    const noTarget = await espfleet(["config", "--interval", "2s"]);
    expect(noTarget.out).toContain("say which nodes: --target node-0003 [node-0004 …] or --all");
    expect(noTarget.code).toBe(2);
  });

  it("documents every option with its unit and default", async () => {
    const help = await espfleet(["run", "--help"]);
    for (const expected of ["--interval <duration>", "(default: 1s)", "--connect-rate <rate>", '(default: "500/s")', "--buffer <readings>", "--shard <K/N>", "--workers <n|auto>"]) {
      expect(help.out).toContain(expected);
    }
    const config = await espfleet(["config", "--help"]);
    // Commander wraps descriptions at 80 columns: compare with the wrapping undone.
    expect(config.out.replace(/\s+/g, " ")).toContain("(default: 10s)");
    expect(config.out).toContain("--expect <count>");
  });
});
