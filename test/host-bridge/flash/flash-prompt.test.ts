/**
 * ./flash.sh at a terminal (issue 12), run as a person runs it: under
 * `script`, so its stdin and stdout are a pseudo-terminal and it asks for
 * what is missing. The port is checked before any question; the answers
 * can be kept in the settings file for the next run (a password only after
 * its own yes); Ctrl-C at a question exits 130.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { ROOT } from "../../device/support/harness";
import { envWith } from "./support/cli-run";

const WIFI_PASSWORD = "wifi-Pw-prompt-51d";

/** `flash.sh args` at a terminal: what it printed, and answers typed when a question shows. */
class AtTerminal {
  out = "";
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  private answered = 0;

  constructor(args: string[]) {
    const quote = (arg: string): string => `'${arg.replace(/'/g, "'\\''")}'`;
    const command = [join(ROOT, "flash.sh"), ...args].map(quote).join(" ");
    // script -e: its exit status is the command's; -f: output as it comes.
    this.child = spawn("script", ["-qefc", command, "/dev/null"], { cwd: ROOT, env: { ...envWith({}), TERM: "dumb" }, stdio: ["pipe", "pipe", "pipe"] });
    this.child.stdout?.on("data", (d: Buffer) => (this.out += d.toString("utf8")));
    this.child.stderr?.on("data", (d: Buffer) => (this.out += d.toString("utf8")));
    this.exited = new Promise((resolve) => this.child.once("exit", (code) => resolve(code)));
  }

  /** Wait for `question` (after the last one answered), then type `answer` and Enter. */
  async answer(question: RegExp, answer: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let at = -1;
    while (at < 0) {
      const match = question.exec(this.out.slice(this.answered));
      if (match !== null) {
        at = this.answered + match.index + match[0].length;
        break;
      }
      if (Date.now() > deadline || this.child.exitCode !== null) {
        throw new Error(`no question ${question} (exit ${this.child.exitCode}); it said:\n${this.out}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    this.answered = at;
    this.child.stdin?.write(answer + "\r");
  }

  /** Type raw bytes (Ctrl-C is "\x03"). */
  type(bytes: string): void {
    this.child.stdin?.write(bytes);
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill("SIGKILL");
    }
  }
}

const runs: AtTerminal[] = [];
let work: string;
afterEach(() => runs.splice(0).forEach((r) => r.kill()));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function atTerminal(args: string[]): AtTerminal {
  const run = new AtTerminal(args);
  runs.push(run);
  return run;
}

async function exitOf(run: AtTerminal, timeoutMs = 60_000): Promise<number | null> {
  const timer = setTimeout(() => run.kill(), timeoutMs);
  const code = await run.exited;
  clearTimeout(timer);
  return code;
}

describe("./flash.sh at a terminal", () => {
  work = mkdtempSync(join(tmpdir(), "espfleet-flash-prompt-"));

  it("reports a missing port before asking anything", async () => {
    const settings = join(work, "none.env");
    writeFileSync(settings, "# nothing\n");
    const run = atTerminal(["--port", "/dev/ttyUSB-espfleet-missing", "--settings-file", settings]);
    expect(await exitOf(run)).toBe(1);
    expect(run.out).toMatch(/no such port \/dev\/ttyUSB-espfleet-missing/);
    expect(run.out).not.toContain("WiFi network (SSID)");
  }, 90_000);

  it("asks for what is missing, offers to keep the answers (the password only on its own yes), and asks only for the rest next time", async () => {
    const settings = join(work, "espfleet.local.env");
    writeFileSync(settings, "# espfleet settings\nSAMPLE_INTERVAL=30s\n");
    const noBuild = join(work, "no-build");
    mkdirSync(noBuild);
    // /dev/null passes the port check; --no-build with an empty folder then ends the run right after the questions.
    const args = ["--port", "/dev/null", "--settings-file", settings, "--no-build", "--build-dir", noBuild];
    const first = atTerminal(args);
    await first.answer(/WiFi network \(SSID\) \(WIFI_SSID\): $/, "lab net");
    await first.answer(/WiFi password \(WIFI_PASSWORD\), not shown as you type: $/, WIFI_PASSWORD);
    await first.answer(/MQTT broker URL \(MQTT_URL\): $/, "mqtt://10.0.0.2:1883");
    await first.answer(/Save WIFI_SSID, MQTT_URL to .*espfleet\.local\.env for the next run\? \[y\/N\] $/, "y");
    await first.answer(/Save WIFI_PASSWORD there too, in clear text \(the file is mode 600\)\? \[y\/N\] $/, "");
    expect(await exitOf(first)).toBe(2);
    expect(first.out).toContain("saved WIFI_SSID, MQTT_URL to");
    expect(first.out).toContain("not WIFI_PASSWORD (asked again next time)");
    expect(first.out).toMatch(/--no-build: .* holds no build/);
    expect(first.out).not.toContain(WIFI_PASSWORD);
    const saved = readFileSync(settings, "utf8");
    expect(saved).toBe('# espfleet settings\nSAMPLE_INTERVAL=30s\nWIFI_SSID=lab net\nMQTT_URL=mqtt://10.0.0.2:1883\n');
    expect(statSync(settings).mode & 0o777).toBe(0o600);

    // Next time only the password is asked for; a yes keeps it too.
    const second = atTerminal(args);
    await second.answer(/WiFi password \(WIFI_PASSWORD\), not shown as you type: $/, WIFI_PASSWORD);
    await second.answer(/Save WIFI_PASSWORD to .*espfleet\.local\.env for the next run, in clear text \(the file is mode 600\)\? \[y\/N\] $/, "yes");
    expect(await exitOf(second)).toBe(2);
    expect(second.out).not.toContain("WiFi network (SSID)");
    expect(second.out).not.toContain(WIFI_PASSWORD);
    expect(readFileSync(settings, "utf8")).toContain(`WIFI_PASSWORD=${WIFI_PASSWORD}\n`);

    // And then nothing is asked at all.
    const third = atTerminal(args);
    expect(await exitOf(third)).toBe(2);
    expect(third.out).not.toMatch(/\(WIFI_\w+\)/);
    expect(third.out).not.toContain("Save ");
  }, 120_000);

  it("Ctrl-C at a question exits 130", async () => {
    const settings = join(work, "ctrl-c.env");
    writeFileSync(settings, "# nothing\n");
    const run = atTerminal(["--port", "/dev/null", "--settings-file", settings]);
    await run.answer(/WiFi network \(SSID\) \(WIFI_SSID\): $/, "home");
    await run.answer(/WiFi password \(WIFI_PASSWORD\), not shown as you type: $/, "");
    // At the broker question (readline), Ctrl-C.
    const deadline = Date.now() + 30_000;
    while (!run.out.includes("MQTT broker URL (MQTT_URL): ") && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    run.type("\x03");
    expect(await exitOf(run)).toBe(130);
  }, 90_000);
});
