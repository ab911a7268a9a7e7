/** `espfleet bridge` as a child process, as a person runs it. */
import { type ChildProcess, spawn } from "node:child_process";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "../../../..");
const BIN = join(ROOT, "bin", "espfleet.js");

export interface BridgeRun {
  child: ChildProcess;
  /** Everything printed so far. */
  stdout: string;
  stderr: string;
  exited: Promise<number | null>;
}

export function startBridge(args: string[]): BridgeRun {
  const child = spawn(process.execPath, [BIN, "bridge", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  const run: BridgeRun = { child, stdout: "", stderr: "", exited: new Promise((done) => child.once("exit", (code) => done(code))) };
  child.stdout?.on("data", (chunk: Buffer) => (run.stdout += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (run.stderr += chunk.toString()));
  return run;
}
