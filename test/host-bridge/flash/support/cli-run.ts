/**
 * The commands as a person runs them: ./flash.sh and bin/espfleet.js as
 * child processes (stdin not a terminal), output captured.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "../../../device/support/harness";

/** Settings `espfleet flash` reads from the environment: the tests' own, never the machine's. */
export const SETTING_VARS = [
  "WIFI_SSID",
  "WIFI_PASSWORD",
  "MQTT_URL",
  "MQTT_USERNAME",
  "MQTT_PASSWORD",
  "MQTT_CA",
  "NODE_ID",
  "SAMPLE_INTERVAL",
  "TOPIC_PREFIX",
  "ESPFLEET_FLEET_KEY",
];

/** This process's environment without any flash setting, plus `settings`. */
export function envWith(settings: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of SETTING_VARS) {
    delete env[name];
  }
  return { ...env, ...settings };
}

export interface CliRun {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** stdout and stderr as they arrived. */
  output: () => string;
  exited: Promise<number | null>;
  /** SIGKILL if still running (for finally blocks). */
  kill: () => void;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): CliRun {
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  let output = "";
  child.stdout?.on("data", (d: Buffer) => {
    stdout += d.toString("utf8");
    output += d.toString("utf8");
  });
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString("utf8");
    output += d.toString("utf8");
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    output: () => output,
    exited,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
      }
    },
  };
}

export function flashSh(args: string[], env: NodeJS.ProcessEnv): CliRun {
  return run(join(ROOT, "flash.sh"), args, env);
}

export function espfleet(args: string[], env: NodeJS.ProcessEnv = process.env): CliRun {
  return run(process.execPath, [join(ROOT, "bin", "espfleet.js"), ...args], env);
}
