/**
 * `espfleet …` as a child process, the way an operator runs it: everything
 * it prints (stdout and stderr together) is kept for the test to read.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";

const BIN = join(import.meta.dirname, "..", "..", "..", "bin", "espfleet.js");
/** A command told to stop that is still running after this long is killed. */
const STOP_TIMEOUT_MS = 20_000;

/** The environment of a child: the test's, without logins (or a topic_data) inherited from the shell, plus `extra`. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ["ESPFLEET_USERNAME", "ESPFLEET_PASSWORD", "MQTT_USERNAME", "MQTT_PASSWORD", "ESPFLEET_TOPIC_DATA"]) {
    delete env[name];
  }
  return { ...env, ...extra };
}

export class CliRun {
  out = "";
  readonly exited: Promise<number | null>;

  private constructor(private readonly child: ChildProcess) {
    child.stdout?.on("data", (d: Buffer) => (this.out += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (this.out += d.toString()));
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  }

  static start(args: string[], env: Record<string, string> = {}): CliRun {
    return new CliRun(spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"], env: childEnv(env) }));
  }

  /** Process id of the command (its worker processes are its children). */
  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** Send a signal (SIGKILL: `kill -9`, no goodbye; SIGINT: Ctrl-C). */
  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill(signal);
    }
  }

  /** Wait until the output matches `pattern`; fails with the output so far. */
  async waitFor(pattern: RegExp, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.out)) {
      if (Date.now() > deadline) {
        throw new Error(`no ${pattern} within ${timeoutMs} ms in:\n${this.out}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Ctrl-C, then wait for the exit (killed if it takes too long). */
  async interrupt(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill("SIGINT");
      const killer = setTimeout(() => this.child.kill("SIGKILL"), STOP_TIMEOUT_MS);
      await this.exited;
      clearTimeout(killer);
    }
    return this.exited;
  }
}

/** Run a command to its end. */
export async function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string }> {
  const run = CliRun.start(args, env);
  const code = await run.exited;
  return { code, out: run.out };
}
