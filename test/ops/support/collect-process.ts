/**
 * `espfleet …` as a child process (bin/espfleet.js), for the collector
 * tests: its output kept, stoppable with any signal (SIGKILL included).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";

const BIN = join(import.meta.dirname, "..", "..", "..", "bin", "espfleet.js");

function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ["ESPFLEET_USERNAME", "ESPFLEET_PASSWORD", "MQTT_USERNAME", "MQTT_PASSWORD", "ESPFLEET_TOPIC_DATA", "ESPFLEET_PREFIX", "ESPFLEET_DB"]) {
    delete env[name];
  }
  return env;
}

export class EspfleetProcess {
  out = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;

  constructor(args: string[]) {
    this.child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"], env: childEnv() });
    this.child.stdout?.on("data", (d: Buffer) => (this.out += d.toString()));
    this.child.stderr?.on("data", (d: Buffer) => (this.out += d.toString()));
    this.exited = new Promise((resolve) => this.child.once("exit", (code, signal) => resolve({ code, signal })));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  async waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = pattern.exec(this.out);
      if (match !== null) {
        return match;
      }
      if (this.child.exitCode !== null || this.child.signalCode !== null || Date.now() > deadline) {
        throw new Error(`no ${pattern} in the output of espfleet (${this.child.exitCode !== null ? `exited ${this.child.exitCode}` : "timed out"}):\n${this.out}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Send `signal` and wait for the exit (SIGKILL after 20 s). */
  async stop(signal: NodeJS.Signals = "SIGINT"): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill(signal);
      const killer = setTimeout(() => this.child.kill("SIGKILL"), 20_000);
      await this.exited;
      clearTimeout(killer);
    }
    return this.exited;
  }
}

/** Run to the end; the output and exit code. */
export async function runEspfleet(args: string[]): Promise<{ code: number | null; out: string }> {
  const p = new EspfleetProcess(args);
  const { code } = await p.exited;
  return { code, out: p.out };
}
