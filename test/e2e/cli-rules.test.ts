/**
 * The rules every command follows (issue 12), checked by running the
 * commands as a person does (bin/espfleet.js, real processes):
 *   - an explicit flag wins over a stored setting, and `run` says which
 *     stored settings it kept and which flags replaced one;
 *   - exits: 0 done, 1 failed, 2 bad usage, 130 Ctrl-C, in every command;
 *   - values are checked against the node's own schema before anything is
 *     sent or started;
 *   - examples in every command's --help;
 *   - colour only on a terminal, never with NO_COLOR or --no-color.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { CliRun, runCli } from "./support/cli-process";
import { freePort } from "./support/mosquitto";

const ROOT = join(import.meta.dirname, "..", "..");
const started: CliRun[] = [];
const others: ChildProcess[] = [];
const dirs: string[] = [];

function start(args: string[], env: Record<string, string> = {}): CliRun {
  const run = CliRun.start(args, env);
  started.push(run);
  return run;
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "espfleet-rules-"));
  dirs.push(dir);
  return dir;
}

afterEach(() => {
  started.splice(0).forEach((run) => run.kill());
  others.splice(0).forEach((child) => child.kill("SIGKILL"));
});
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** A serial port nobody answers on: a pty made by socat, its other side a process that reads nothing. */
async function silentPort(): Promise<string> {
  const link = join(tempDir(), "ttySilent");
  const socat = spawn("socat", [`pty,raw,echo=0,link=${link}`, "EXEC:sleep 600"], { stdio: "ignore" });
  others.push(socat);
  const { existsSync } = await import("node:fs");
  const deadline = Date.now() + 10_000;
  while (!existsSync(link)) {
    if (Date.now() > deadline) {
      throw new Error("socat made no pty");
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return link;
}

/** `espfleet args` at a terminal (under script), TERM=xterm: what it printed and its exit code. */
function atTerminal(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string }> {
  const quote = (arg: string): string => `'${arg.replace(/'/g, "'\\''")}'`;
  const command = [process.execPath, join(ROOT, "bin", "espfleet.js"), ...args].map(quote).join(" ");
  const clean = { ...process.env };
  delete clean.NO_COLOR;
  delete clean.FORCE_COLOR;
  const child = spawn("script", ["-qefc", command, "/dev/null"], { cwd: ROOT, env: { ...clean, TERM: "xterm", ...env }, stdio: ["pipe", "pipe", "pipe"] });
  others.push(child);
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, out })));
}

describe("one rule for defaults: an explicit flag wins over a stored setting", () => {
  it("run --interval 500ms after config --interval 2s: the nodes sample every 500 ms, and the output says what was kept and what replaced", { timeout: 90_000 }, async () => {
    const port = await freePort();
    const dir = tempDir();
    const broker = ["--broker", `mqtt://127.0.0.1:${port}`];
    const args = ["run", "--nodes", "2", "--port", String(port), "--state-dir", dir, "--seed", "3"];
    const first = start([...args, "--interval", "300ms"]);
    await first.waitFor(/all 2\/2 nodes connected/);
    const applied = await runCli(["config", ...broker, "--all", "--expect", "2", "--interval", "2s", "--sensitivity", "0.5"]);
    expect(applied.out).toContain("applied by 2: node-0001, node-0002");
    expect(await first.interrupt()).toBe(130);

    const second = start([...args, "--interval", "500ms"]);
    await second.waitFor(/all 2\/2 nodes connected/);
    await second.waitFor(/--interval given/);
    expect(second.out).toContain("--interval given: it replaces the stored interval_ms of 2 nodes");
    expect(second.out).toMatch(/2 nodes kept their stored settings \([^)]*\): sensitivity=0\.5 on 2; an option given on the command line wins over them \(--sensitivity\), --fresh forgets them all/);
    const query = await runCli(["config", ...broker, "--target", "node-0001"]);
    expect(query.out).toMatch(/node-0001: interval_ms=500 sensitivity=0\.5/);
    expect(query.code).toBe(0);
    expect(await second.interrupt()).toBe(130);

    // Without the flag, the stored value is kept (the default does not win), and said so.
    const third = start(args);
    await third.waitFor(/all 2\/2 nodes connected/);
    await third.waitFor(/kept their stored settings/);
    expect(third.out).toMatch(/interval_ms=500 on 2, sensitivity=0\.5 on 2; an option given on the command line wins over them \(--interval, --sensitivity\)/);
    expect(await third.interrupt()).toBe(130);
  });
});

describe("one rule for exits: 0 done, 1 failed, 2 bad usage, 130 Ctrl-C", () => {
  it("bad usage is 2 in every command, and said before anything starts", { timeout: 90_000 }, async () => {
    const usage: string[][] = [
      ["frobnicate"],
      ["run", "--nodes", "0"],
      ["config", "--interval", "2s"],
      ["watch", "--duration", "5"],
      ["watch", "--raw", "--json"],
      ["device", "--fs", "/tmp/x"],
      ["device", "--port-link", "/tmp/x", "--fs", "/tmp/y", "--lfs-kb", "3"],
      ["flash"],
      ["upload"],
      ["fsinfo", "--port", "/dev/null", "--baud", "fast"],
      ["remove", "--port", "/dev/null"],
      ["mkfs", "--port", "/dev/null"],
      ["reset"],
      ["monitor"],
      ["write-flash", "--port", "/dev/null"],
      ["bridge", "--sensor", "adc:A0"],
      ["collect", "--batch", "0"],
      ["query", "--format", "xml"],
    ];
    for (const args of usage) {
      const result = await runCli(args);
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.out, args.join(" ")).not.toMatch(/\n\s+at /); // one line of advice, no stack trace
    }
  });

  it("a value the node's schema refuses is refused by every command, before sending or starting: exit 2", { timeout: 60_000 }, async () => {
    const port = await freePort();
    const fleet = start(["run", "--nodes", "1", "--port", String(port), "--state-dir", tempDir()]);
    await fleet.waitFor(/all 1\/1 nodes connected/);
    const seen: string[] = [];
    const observer = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`);
    try {
      await observer.subscribeAsync("config_change");
      observer.on("message", (topic) => seen.push(topic));
      const config = await runCli(["config", "--broker", `mqtt://127.0.0.1:${port}`, "--interval", "5ms", "--all"]);
      expect(config.out).toContain("interval_ms must be a whole number from 100 to 86400000 ms");
      expect(config.code).toBe(2);
      await new Promise((r) => setTimeout(r, 300));
      expect(seen).toEqual([]);
    } finally {
      await observer.endAsync();
    }
    for (const args of [
      ["run", "--interval", "5ms", "--port", "0"],
      ["flash", "--virtual", "--interval", "5ms", "--no-build"],
      ["bridge", "--port", "/dev/null", "--sensor", "adc:A0", "--interval", "5ms"],
      ["config", "--buffer", "500", "--all"],
    ]) {
      const result = await runCli(args);
      expect(result.out, args.join(" ")).toContain("must be a whole number from");
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
    }
    expect(await fleet.interrupt()).toBe(130);
  });

  it("Ctrl-C is 130 in commands waiting on a board that does not answer (fsinfo, upload, write-flash, monitor)", { timeout: 90_000 }, async () => {
    const port = await silentPort();
    const image = join(tempDir(), "image.bin");
    writeFileSync(image, Buffer.alloc(4096, 0xff));
    for (const args of [
      ["fsinfo", "--port", port, "--timeout-ms", "60000"],
      ["upload", "--port", port, "--timeout-ms", "60000", image],
      ["write-flash", "--port", port, image],
      ["monitor", "--port", port],
    ]) {
      const run = start(args);
      // Started and waiting: give it time to open the port.
      await new Promise((r) => setTimeout(r, 1500));
      expect({ args, code: await run.interrupt() }).toEqual({ args, code: 130 });
    }
  });

  it("watch: 130 on Ctrl-C, 0 after --duration, 1 when the broker cannot be reached", { timeout: 60_000 }, async () => {
    const port = await freePort();
    const unreachable = await runCli(["watch", "--broker", `mqtt://127.0.0.1:${port}`]);
    expect(unreachable.code).toBe(1);
    const fleet = start(["run", "--nodes", "1", "--port", String(port), "--state-dir", tempDir()]);
    await fleet.waitFor(/all 1\/1 nodes connected/);
    const watch = start(["watch", "--broker", `mqtt://127.0.0.1:${port}`, "--client-id", `rules-watch-${process.pid}`]);
    await watch.waitFor(/node-0001 #\d+/);
    expect(await watch.interrupt()).toBe(130);
    expect((await runCli(["watch", "--broker", `mqtt://127.0.0.1:${port}`, "--duration", "1s", "--client-id", `rules-watch-${process.pid}`])).code).toBe(0);
    expect(await fleet.interrupt()).toBe(130);
  });
});

describe("help: examples in every command, as esphome and mosquitto_sub have", () => {
  it("every command's --help ends with examples to copy, and its exit status", { timeout: 60_000 }, async () => {
    const top = await runCli(["--help"]);
    expect(top.code).toBe(0);
    const section = top.out.slice(top.out.indexOf("Commands:"), top.out.indexOf("\n\n", top.out.indexOf("Commands:")));
    const commands = [...section.matchAll(/^ {2}([a-z-]+) /gm)].map((m) => m[1] as string).filter((c) => c !== "help");
    expect(commands).toEqual(expect.arrayContaining(["run", "config", "watch", "device", "flash", "upload", "fsinfo", "remove", "mkfs", "reset", "monitor", "write-flash", "bridge", "collect", "query"]));
    expect(top.out).toMatch(/Examples:\n {2}# .*\n {2}espfleet run\n/);
    for (const command of commands) {
      const help = await runCli([command, "--help"]);
      expect(help.code, command).toBe(0);
      expect(help.out, command).toMatch(/Exit status: 0 /);
      const examples = help.out.slice(help.out.indexOf("Examples:"));
      expect(examples, command).toMatch(new RegExp(`^Examples:\\n( {2}# .+\\n {2}(\\./flash\\.sh|espfleet ${command}|mkdir|picocom)[^\\n]*\\n)+`));
    }
  });
});

describe("colour only on a terminal, and never with NO_COLOR or --no-color", () => {
  it("watch --lines: coloured at a terminal, plain with NO_COLOR, with --no-color, and in a pipe", { timeout: 90_000 }, async () => {
    const port = await freePort();
    const fleet = start(["run", "--nodes", "1", "--port", String(port), "--interval", "200ms", "--state-dir", tempDir()]);
    await fleet.waitFor(/all 1\/1 nodes connected/);
    const watch = ["watch", "--broker", `mqtt://127.0.0.1:${port}`, "--lines", "--duration", "2s", "--client-id", `rules-colour-${process.pid}`];
    // eslint-disable-next-line no-control-regex -- ANSI colour codes start with ESC
    const ansi = /\x1b\[[0-9;]*m/;
    const terminal = await atTerminal(watch);
    expect(terminal.out).toMatch(/node-0001.*#\d+/);
    expect(terminal.out).toMatch(ansi);
    const noColorEnv = await atTerminal(watch, { NO_COLOR: "1" });
    expect(noColorEnv.out).toMatch(/node-0001 #\d+/);
    expect(noColorEnv.out).not.toMatch(ansi);
    const noColorFlag = await atTerminal([...watch, "--no-color"]);
    expect(noColorFlag.out).toMatch(/node-0001 #\d+/);
    expect(noColorFlag.out).not.toMatch(ansi);
    const piped = await runCli(watch);
    expect(piped.out).toMatch(/node-0001 #\d+/);
    expect(piped.out).not.toMatch(ansi);
    expect(await fleet.interrupt()).toBe(130);
  });
});
