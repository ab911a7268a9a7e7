/**
 * `espfleet watch` as a person (or a script) uses it (issue 12): --raw
 * prints `topic payload` lines like mosquitto_sub -v, --json one JSON
 * object per line, both with stdout for the data only; config acks show up
 * in every mode, the live table included, whose rate says its window.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CliRun, runCli } from "./support/cli-process";
import { Mosquitto } from "./support/mosquitto";

const ROOT = join(import.meta.dirname, "..", "..");
let mosquitto: Mosquitto;
let fleet: CliRun;
let broker: string[];
let stateDir: string;
/** Client ids of this run's watches: their persistent sessions start empty. */
const id = (name: string): string => `modes-${name}-${process.pid}`;

beforeAll(async () => {
  // A broker of this file's own: no retained status or queued session of another run shows up.
  mosquitto = await Mosquitto.start();
  stateDir = mkdtempSync(join(tmpdir(), "espfleet-watch-modes-"));
  broker = ["--broker", mosquitto.url];
  fleet = CliRun.start(["run", "--nodes", "2", ...broker, "--interval", "500ms", "--state-dir", stateDir, "--seed", "12"]);
  await fleet.waitFor(/all 2\/2 nodes connected/);
}, 60_000);

afterAll(async () => {
  await fleet?.interrupt();
  await mosquitto?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

/** Run `espfleet args` to its end with stdout and stderr apart; `during` runs meanwhile (after `afterMs`). */
function watchWhile(args: string[], during?: () => Promise<unknown>, afterMs = 1200, env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, "bin", "espfleet.js"), ...args], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const side = during !== undefined ? new Promise((r) => setTimeout(r, afterMs)).then(during) : Promise.resolve();
    child.once("exit", (code) => void side.then(() => resolve({ code, stdout, stderr })));
  });
}

describe("espfleet watch --raw and --json", () => {
  it("--raw: every message as `topic payload`, like mosquitto_sub -v; the banner and totals on stderr", { timeout: 30_000 }, async () => {
    const run = await watchWhile(["watch", ...broker, "--raw", "--duration", "3s", "--client-id", id("raw")], () =>
      runCli(["config", ...broker, "--target", "node-0002", "--sensitivity", "0"]),
    );
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split("\n");
    expect(lines.length).toBeGreaterThan(4);
    for (const line of lines) {
      expect(line).toMatch(/^(sensor_data|status\/node-000[12]|config_ack\/node-0002|event\/node-000[12]) \{.*\}$/);
    }
    expect(run.stdout).toMatch(/^sensor_data \{.*"id":"node-0001".*\}$/m);
    expect(run.stdout).toMatch(/^status\/node-0001 \{"id":"node-0001","state":"online"/m);
    expect(run.stdout).toMatch(/^config_ack\/node-0002 \{"id":"node-0002",.*"result":"applied".*"req":"cfg-[^"]+"/m);
    expect(run.stderr).toContain("watching sensor_data");
    expect(run.stderr).toMatch(/watched 2 nodes/);
  });

  it("--json: one object per line (reading, status, ack, notice), each with ts, kind, topic and id", { timeout: 30_000 }, async () => {
    const run = await watchWhile(["watch", ...broker, "--json", "--duration", "3s", "--client-id", id("json")], () =>
      runCli(["config", ...broker, "--target", "node-0001", "--heartbeat", "1m"]),
    );
    expect(run.code).toBe(0);
    const objects = run.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const kinds = new Set(objects.map((o) => o.kind));
    expect([...kinds].sort()).toEqual(expect.arrayContaining(["ack", "notice", "reading", "status"]));
    const reading = objects.find((o) => o.kind === "reading") as { ts: string; topic: string; id: string; payload: Record<string, unknown> };
    expect(reading).toMatchObject({ topic: "sensor_data", payload: { seq: expect.any(Number), temperature: expect.any(Number) } });
    expect(["node-0001", "node-0002"]).toContain(reading.id);
    expect(new Date(reading.ts).getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(objects.find((o) => o.kind === "ack")).toMatchObject({ topic: "config_ack/node-0001", id: "node-0001", payload: { result: "applied", config: { heartbeat_ms: 60_000 } } });
    expect(objects.find((o) => o.kind === "notice")).toMatchObject({ notice: "online", text: expect.stringContaining("online") });
    expect(run.stderr).toMatch(/watched 2 nodes/);
  });

  it("--lines shows acks too, and --raw with --lines is refused (exit 2)", { timeout: 30_000 }, async () => {
    const run = await watchWhile(["watch", ...broker, "--lines", "--duration", "3s", "--client-id", id("lines")], () =>
      runCli(["config", ...broker, "--target", "node-0002", "--interval", "5ms"]).then(() => runCli(["config", ...broker, "--target", "node-0002", "--interval", "600ms"])),
    );
    expect(run.stdout).toMatch(/node-0002 config applied \(req cfg-[^)]+\): interval_ms=600/);
    const both = await runCli(["watch", ...broker, "--raw", "--lines"]);
    expect(both.code).toBe(2);
  });

  it("the live table (at a terminal) shows the rate's window, each node's last config ack, and recent acks and events", { timeout: 40_000 }, async () => {
    const quote = (arg: string): string => `'${arg.replace(/'/g, "'\\''")}'`;
    const command = [process.execPath, join(ROOT, "bin", "espfleet.js"), "watch", ...broker, "--duration", "4s", "--client-id", id("table")].map(quote).join(" ");
    const child = spawn("script", ["-qefc", command, "/dev/null"], { cwd: ROOT, env: { ...process.env, TERM: "xterm", COLUMNS: "160", LINES: "40" }, stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    await new Promise((r) => setTimeout(r, 1500));
    await runCli(["config", ...broker, "--target", "node-0001", "--interval", "700ms"]);
    const code = await new Promise((r) => child.once("exit", r));
    expect(code).toBe(0);
    // eslint-disable-next-line no-control-regex -- ANSI codes start with ESC
    const screen = out.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");
    expect(screen).toMatch(/readings\/s \(last 10 s\)/);
    expect(screen).toMatch(/node\s+state\s+rate\/s\s+seq\s+boot\s+lost\s+drop\s+config\s+last val/);
    expect(screen).toMatch(/node-0001\s+online\s+[\d.]+\s+\d+\s+1\s+0\s+0\s+applied \d\d:\d\d:\d\d/);
    expect(screen).toContain("recent acks and events");
    expect(screen).toMatch(/node-0001 config applied \(req cfg-[^)]+\): interval_ms=700/);
  });
});
