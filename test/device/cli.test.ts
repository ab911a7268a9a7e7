/**
 * `espfleet device --port-link PATH --fs DIR` as a process: the pty appears
 * at PATH, answers like a NodeMCU, and is gone after Ctrl-C (SIGINT).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { waitFor } from "./support/brokers";
import { PortClient, removeDir, ROOT, tempDir } from "./support/harness";

/** Every CLI started, so a failing test still stops its process (and its pty). */
const started: ChildProcess[] = [];

function startCli(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ["--", join(ROOT, "bin", "espfleet.js"), "device", ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  started.push(child);
  return { child, output: () => output, exited };
}

describe("espfleet device (the CLI entry)", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const child of started.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGINT");
      }
    }
  });
  afterAll(() => dirs.forEach(removeDir));

  it("creates the pty at --port-link, runs the REPL, and removes it on Ctrl-C", async () => {
    const dir = tempDir("cli");
    dirs.push(dir);
    writeFileSync(join(dir, "init.lua"), 'print("cli device up")');
    const link = join(dir, "ttyESP0");
    const cli = startCli(["--port-link", link, "--fs", join(dir, "fs-does-not-exist-yet"), "--baud", "0"]);
    await waitFor(`the pty at ${link}; output: ${cli.output()}`, () => existsSync(link), 15_000);
    const port = new PortClient(link);
    try {
      await port.expect(/> $/, 10_000);
      expect(await port.line("=node.chipid() > 0")).toBe("=node.chipid() > 0\r\ntrue\r\n> ");
    } finally {
      port.close();
    }
    expect(cli.output()).toMatch(/virtual ESP8266 on .*ttyESP0/);
    cli.child.kill("SIGINT");
    expect(await cli.exited).toBe(130);  // Ctrl-C: 130, as every command (issue 12)
    expect(existsSync(link)).toBe(false);
  }, 30_000);

  it("refuses to take over a path that is not a pty link, and says what to do", async () => {
    const dir = tempDir("cli");
    dirs.push(dir);
    const path = join(dir, "precious.txt");
    writeFileSync(path, "keep me");
    const cli = startCli(["--port-link", path, "--fs", join(dir, "fs")]);
    expect(await cli.exited).toBe(1);
    expect(cli.output()).toMatch(/cannot create .*precious\.txt: a file is already there \(not a pty link\); remove it or choose another --port-link/);
    expect(existsSync(path)).toBe(true);
    const cli2 = startCli(["--port-link", join(dir, "tty"), "--fs", join(dir, "fs2"), "--modules", "node,file,gpio"]);
    expect(await cli2.exited).toBe(2); // a bad option value is a usage error: 2, as every command (issue 12)
    expect(cli2.output()).toMatch(/--modules: gpio is not emulated; choose from adc,bit,/);
  }, 30_000);

  it("replaces a stale link left by a killed run", async () => {
    const dir = tempDir("cli");
    dirs.push(dir);
    const stale = join(dir, "ttyStale");
    symlinkSync("/dev/pts/9999", stale);
    const cli = startCli(["--port-link", stale, "--fs", join(dir, "fs"), "--baud", "0"]);
    await waitFor(`a live pty at ${stale}; output: ${cli.output()}`, () => /virtual ESP8266 on/.test(cli.output()), 15_000);
    const port = new PortClient(stale);
    try {
      await port.expect(/> $/, 10_000);
      expect(await port.line("=1")).toBe("=1\r\n1\r\n> ");
    } finally {
      port.close();
    }
    cli.child.kill("SIGINT");
    expect(await cli.exited).toBe(130);  // Ctrl-C: 130, as every command (issue 12)
  }, 30_000);
});
