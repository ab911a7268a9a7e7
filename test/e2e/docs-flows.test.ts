/**
 * The documented flows, run as written (issue 12): the shell lines of a
 * block marked `<!-- docs-flow: NAME -->` in README.md and
 * docs/mosquitto/README.md, each through bash from the repository's folder,
 * in order, with only these changes: ports (1883, 8883) become free ones,
 * the example folders (/tmp/esp0, ./fleet-secrets, …) temporary ones, and
 * `npx espfleet` is `node bin/espfleet.js` (what npx runs; signals then
 * reach the command itself). A comment "# edit FILE: "key": value, …" is
 * done as it says; picocom (interactive) is replaced by a console client.
 * A long-running line (a broker, a fleet, a device, a watch without
 * --duration) runs in the background, as in its own terminal.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { canConnect, freePort, MOSQUITTO } from "./support/mosquitto";
import { PortClient } from "../device/support/harness";

const ROOT = join(import.meta.dirname, "..", "..");
const BIN = "node bin/espfleet.js";

/** The lines of the block marked `<!-- docs-flow: name -->` in `file`. */
function flowLines(file: string, name: string): string[] {
  const text = readFileSync(join(ROOT, file), "utf8");
  const at = text.indexOf(`<!-- docs-flow: ${name} -->`);
  if (at < 0) {
    throw new Error(`${file} has no block marked docs-flow: ${name}`);
  }
  const start = text.indexOf("```sh\n", at) + "```sh\n".length;
  return text.slice(start, text.indexOf("\n```", start)).split("\n");
}

/** Replace each key of `map` (a literal, matched as a whole word where it is a number) in one pass. */
function substitute(line: string, map: Record<string, string>): string {
  const keys = Object.keys(map).sort((a, b) => b.length - a.length);
  const pattern = new RegExp(keys.map((k) => (/^\d+$/.test(k) ? `\\b${k}\\b` : k.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&"))).join("|"), "g");
  return line.replace(pattern, (hit) => map[hit] as string);
}

/** The environment of a command: without the logins and settings of the shell running the tests. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ["ESPFLEET_USERNAME", "ESPFLEET_PASSWORD", "MQTT_USERNAME", "MQTT_PASSWORD", "ESPFLEET_PREFIX", "ESPFLEET_TOPIC_DATA"]) {
    delete env[name];
  }
  return env;
}

/** One line of a flow, run by bash as a person types it. */
class Line {
  out = "";
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;

  constructor(readonly text: string) {
    this.child = spawn("bash", ["-c", text], { cwd: ROOT, env: cleanEnv(), stdio: ["ignore", "pipe", "pipe"] });
    this.child.stdout?.on("data", (d: Buffer) => (this.out += d.toString()));
    this.child.stderr?.on("data", (d: Buffer) => (this.out += d.toString()));
    this.exited = new Promise((resolve) => this.child.once("exit", (code, signal) => resolve(code ?? (signal !== null ? -1 : null))));
  }

  async waitFor(pattern: RegExp, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.out)) {
      if (Date.now() > deadline || this.child.exitCode !== null) {
        throw new Error(`\`${this.text}\` ${this.child.exitCode !== null ? `exited ${this.child.exitCode}` : `showed no ${pattern} in ${timeoutMs} ms`}:\n${this.out.slice(-3000)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Ctrl-C; the exit code (killed after 20 s). */
  async interrupt(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill("SIGINT");
      const killer = setTimeout(() => this.child.kill("SIGKILL"), 20_000);
      await this.exited;
      clearTimeout(killer);
    }
    return this.exited;
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill("SIGKILL");
    }
  }
}

/** Run a line to its end; fails with its output when it does not exit `code`. */
async function complete(text: string, code = 0, timeoutMs = 60_000): Promise<string> {
  const line = new Line(text);
  const timer = setTimeout(() => line.kill(), timeoutMs);
  const exit = await line.exited;
  clearTimeout(timer);
  if (exit !== code) {
    throw new Error(`\`${text}\` exited ${exit}, not ${code}:\n${line.out.slice(-3000)}`);
  }
  return line.out;
}

const background: Line[] = [];
const dirs: string[] = [];
afterEach(() => background.splice(0).forEach((line) => line.kill()));
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function tempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `espfleet-docs-${name}-`));
  dirs.push(dir);
  return dir;
}

describe("docs/mosquitto: a local, no-root mosquitto, as its README says", () => {
  it("make-passwd.sh, a certificate, run-local.sh, then run, watch and config with the ACL's prefix", { timeout: 120_000 }, async () => {
    const [plain, tls] = [await freePort(), await freePort()];
    const secrets = join(tempDir("mosquitto"), "fleet-secrets");
    const map = { "./fleet-secrets": secrets, "fleet-secrets/": `${secrets}/`, "1883": String(plain), "8883": String(tls), "npx espfleet": BIN };
    const lines = flowLines("docs/mosquitto/README.md", "mosquitto-local").filter((l) => l.trim() !== "" && !l.startsWith("#"));
    const commands = lines.map((l) => substitute(l, map));
    expect(commands.length).toBe(7);
    const broker = () => commands.find((c) => c.includes("run-local.sh")) as string;

    for (const command of commands) {
      if (command.includes("run-local.sh")) {
        const line = new Line(command);
        background.push(line);
        await line.waitFor(/run-local\.sh: mosquitto on/, 10_000);
        const deadline = Date.now() + 10_000;
        while (!((await canConnect(plain)) && (await canConnect(tls)))) {
          expect(Date.now() < deadline, `mosquitto did not listen on ${plain}/${tls}:\n${line.out}`).toBe(true);
          await new Promise((r) => setTimeout(r, 50));
        }
      } else if (command.includes(" run ")) {
        const line = new Line(command + " --state-dir " + join(secrets, "..", "nodes"));
        background.push(line);
        await line.waitFor(/all 3\/3 nodes connected/, 30_000);
      } else if (command.includes(" watch ")) {
        const out = await complete(command);
        for (const id of ["node-0001", "node-0002", "node-0003"]) {
          expect(out).toMatch(new RegExp(`${id} #\\d+ boot 1 {2}temperature`));
        }
        expect(out).toMatch(/watched 3 nodes/);
      } else if (command.includes(" config ")) {
        const out = await complete(command);
        expect(out).toContain("applied by 3: node-0001, node-0002, node-0003");
      } else {
        await complete(command);
      }
    }
    expect(broker()).toContain(secrets);

    // Without the prefix the ACL gives the operator nothing: both commands say what to add.
    const operator = commands.find((c) => c.includes(" config ")) as string;
    const noPrefix = await complete(operator.replace(" --prefix espfleet", "") + " --timeout 2s", 1);
    expect(noPrefix).toContain("applied by 0: no node answered within 2s; on a broker with docs/mosquitto's ACL the fleet's topics are under a prefix: add --prefix espfleet");
    const watcher = commands.find((c) => c.includes(" watch ")) as string;
    const unheard = await complete(watcher.replace(" --prefix espfleet", "").replace("--duration 5s", "--duration 2s"));
    expect(unheard).toContain("watched 0 nodes");
    expect(unheard).toMatch(/no node was heard on mqtt:\/\/127\.0\.0\.1:\d+; .*add --prefix espfleet/);

    // mqtt:// to the TLS listener: a hint, not a bare ECONNRESET.
    const wrongScheme = await complete(watcher.replace(`mqtt://127.0.0.1:${plain}`, `mqtt://127.0.0.1:${tls}`), 1);
    expect(wrongScheme).toContain(`127.0.0.1:${tls} speaks TLS`);
    expect(wrongScheme).toContain(`use --broker mqtts://127.0.0.1:${tls}`);
    // And over TLS, as the README says, with the CA it made.
    const overTls = await complete(operator.replace(`mqtt://127.0.0.1:${plain}`, `mqtts://localhost:${tls} --ca ${secrets}/ca.crt`).replace("--interval 2s", "--interval 3s"));
    expect(overTls).toContain("applied by 3");

    expect(await background[0]?.interrupt()).toBe(0);
  });

  it("make-passwd.sh --nodes 100 shows its progress", () => {
    const dir = join(tempDir("passwd"), "fleet-secrets");
    const run = spawnSync(join(ROOT, "docs", "mosquitto", "make-passwd.sh"), ["--nodes", "100", "--operator", "operator", "--out", dir], { encoding: "utf8" });
    expect(run.status).toBe(0);
    expect(run.stderr).toContain("make-passwd.sh: passwords 10/101");
    expect(run.stderr).toContain("make-passwd.sh: passwords 101/101");
    expect(run.stderr).toContain("make-passwd.sh: hashing 101 passwords for mosquitto");
    // Progress on stderr; stdout keeps the one summary line (and never a password).
    expect(run.stdout.trim().split("\n")).toHaveLength(1);
    expect(readFileSync(join(dir, "credentials"), "utf8").trim().split("\n")).toHaveLength(101);
  });
});

describe("README, Virtual ESP8266: by hand, with a broker running", () => {
  it("build, copy, edit config.json, espfleet device, a console, espfleet watch: the device publishes", { timeout: 150_000 }, async () => {
    const port = await freePort();
    // The broker that must be running (README: "with a broker running on 127.0.0.1:1883").
    const mosquitto = new Line(`${MOSQUITTO} -p ${port}`);
    background.push(mosquitto);
    const deadline = Date.now() + 10_000;
    while (!(await canConnect(port))) {
      expect(Date.now() < deadline, `mosquitto did not start:\n${mosquitto.out}`).toBe(true);
      await new Promise((r) => setTimeout(r, 50));
    }
    const dir = tempDir("virtual");
    const fs = join(dir, "esp0");
    const link = join(dir, "ttyESP0");
    const map = { "/tmp/esp0": fs, "/tmp/ttyESP0": link, "1883": String(port), "npx espfleet": BIN };
    const lines = flowLines("README.md", "virtual-esp8266").map((l) => substitute(l, map));

    let console: PortClient | undefined = undefined;
    try {
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i] as string;
        const command = line.replace(/\s+#.*$/, "").trim();
        const edit = /^# edit (\S+): (.*)$/.exec(line);
        if (edit !== null) {
          // The edit the comment asks for, with the values it names (over its following comment lines too).
          let said = edit[2] as string;
          while (lines[i + 1]?.startsWith("#") === true) {
            said += " " + (lines[++i] as string).slice(1);
          }
          const file = edit[1] as string;
          const config = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
          const pairs = [...said.matchAll(/"(\w+)":\s*("[^"]*"|\d+)/g)];
          expect(pairs.map((p) => p[1])).toEqual(["wifi_ssid", "mqtt_host", "mqtt_port"]);
          for (const [, key, value] of pairs) {
            config[key as string] = JSON.parse(value as string);
          }
          writeFileSync(file, JSON.stringify(config, null, 1));
        } else if (command.startsWith("npm run build:firmware")) {
          // npm test builds it before the tests (scripts/test-all.mjs), and other test files read it meanwhile:
          // built again here only when missing or older than its sources, so no reader sees a half-written file.
          if (!builtFresh()) {
            await complete(command, 0, 120_000);
          }
        } else if (command.includes(" device ")) {
          const device = new Line(command);
          background.push(device);
          await device.waitFor(/virtual ESP8266 on /, 20_000);
          expect(existsSync(link)).toBe(true);
        } else if (command.startsWith("picocom")) {
          // A terminal attached after the boot: it gets the prompt at Enter, and the REPL answers.
          console = new PortClient(link);
          console.send("\r");
          await console.expect(/> $/m, 20_000);
          expect(await console.line("=2+3", 10_000)).toContain("5");
        } else if (command.includes(" watch")) {
          // Its default broker is mqtt://127.0.0.1:1883, the README's; this test's broker has another port.
          const watch = new Line(`${command} --broker mqtt://127.0.0.1:${port}`);
          background.push(watch);
          // Its node id is esp8266-<chip id> (node_id is empty in the build's config.json).
          await watch.waitFor(/esp8266-\w+ #\d+ boot \d+ .*temperature [\d.]+ °C/, 60_000);
          expect(await watch.interrupt()).toBe(130);
        } else if (command !== "" && !command.startsWith("#")) {
          await complete(command);
        }
      }
      // With the WiFi name set, the node joined and never fell back to a station config "saved in flash".
      expect(console?.received).not.toContain("no wifi_ssid in config.json");
    } finally {
      console?.close();
    }
    const device = background.find((l) => l.text.includes(" device ")) as Line;
    expect(await device.interrupt()).toBe(130);
  });
});

/** Is firmware/dist there and newer than every firmware source? */
function builtFresh(): boolean {
  const init = join(ROOT, "firmware", "dist", "init.lua");
  if (!existsSync(init)) {
    return false;
  }
  const built = statSync(init).mtimeMs;
  const sources = spawnSync("find", [join(ROOT, "firmware"), "-path", join(ROOT, "firmware", "dist"), "-prune", "-o", "-type", "f", "-newer", init, "-print"], { encoding: "utf8" });
  return sources.status === 0 && sources.stdout.trim() === "" && built > 0;
}
