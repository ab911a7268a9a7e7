/**
 * mosquitto started with the repository's own docs/mosquitto/mosquitto.conf
 * and the acl make-passwd.sh writes from docs/mosquitto/acl, so tests check
 * the configuration operators install. Only paths and ports are rewritten in
 * a temp copy (every rewrite must hit, so a reshaped conf fails loudly here
 * instead of silently testing less), plus the documented
 * `require_certificate` switch when a test asks for it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { canConnect, freePort, MOSQUITTO } from "./mosquitto";

export const DOCS_DIR = join(import.meta.dirname, "..", "..", "..", "docs", "mosquitto");

export interface DocsMosquittoFiles {
  ca: string;
  cert: string;
  key: string;
  /** Hashed password file (make-passwd.sh's passwd). */
  passwd: string;
  /** The acl make-passwd.sh wrote beside it (docs/mosquitto/acl plus a section per node). */
  acl: string;
}

export interface DocsMosquittoOptions extends DocsMosquittoFiles {
  /** Flip the conf's `require_certificate false` to true. */
  requireCertificate?: boolean;
}

/** `text` with `from` replaced by `to`; throws when `from` is not there. */
function rewrite(text: string, from: string | RegExp, to: string): string {
  const hit = typeof from === "string" ? text.includes(from) : from.test(text);
  if (!hit) {
    throw new Error(`docs/mosquitto/mosquitto.conf no longer contains ${String(from)}; update test/e2e/support/docs-mosquitto.ts`);
  }
  return text.replace(from, to);
}

export class DocsMosquitto {
  private output = "";

  private constructor(
    readonly dir: string,
    /** The loopback-only plain listener (1883 in the docs). */
    readonly plainPort: number,
    /** The TLS listener (8883 in the docs). */
    readonly tlsPort: number,
    private child: ChildProcess,
  ) {
    this.listen(child);
  }

  private listen(child: ChildProcess): void {
    child.stdout?.on("data", (d: Buffer) => (this.output += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (this.output += d.toString()));
  }

  /** Stop the broker, keeping its folder: SIGTERM is a clean stop (mosquitto saves its state), SIGKILL a crash. */
  async stop(signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<void> {
    const child = this.child;
    if (child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.kill(signal);
      });
    }
  }

  /** Start it again on the same folder, ports and files: it loads what it saved (persistence). */
  async restart(): Promise<void> {
    await this.stop();
    this.child = spawn(MOSQUITTO, ["-c", join(this.dir, "mosquitto.conf")], { stdio: ["ignore", "pipe", "pipe"] });
    this.listen(this.child);
    await this.waitListening();
  }

  private async waitListening(): Promise<void> {
    const deadline = Date.now() + 15_000;
    while (!((await canConnect(this.plainPort)) && (await canConnect(this.tlsPort)))) {
      if (this.child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`mosquitto (docs conf) did not start on ports ${this.plainPort}/${this.tlsPort} (exit ${this.child.exitCode}): ${this.output}${this.log()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  static async start(options: DocsMosquittoOptions): Promise<DocsMosquitto> {
    const dir = mkdtempSync(join(tmpdir(), "espfleet-docs-mosquitto-"));
    // mosquitto started as root runs as user mosquitto: it must read the files and write here.
    chmodSync(dir, 0o777);
    const passwd = join(dir, "passwd");
    const acl = join(dir, "acl");
    copyFileSync(options.passwd, passwd);
    copyFileSync(options.acl, acl);
    chmodSync(passwd, 0o644);
    chmodSync(acl, 0o644);
    const plainPort = await freePort();
    const tlsPort = await freePort();
    let conf = readFileSync(join(DOCS_DIR, "mosquitto.conf"), "utf8");
    conf = rewrite(conf, /^listener 1883 127\.0\.0\.1$/m, `listener ${plainPort} 127.0.0.1`);
    conf = rewrite(conf, /^listener 8883$/m, `listener ${tlsPort}`);
    conf = rewrite(conf, "/etc/mosquitto/espfleet/passwd", passwd);
    conf = rewrite(conf, "/etc/mosquitto/espfleet/acl", acl);
    conf = rewrite(conf, "/etc/mosquitto/certs/ca.crt", options.ca);
    conf = rewrite(conf, "/etc/mosquitto/certs/server.crt", options.cert);
    conf = rewrite(conf, "/etc/mosquitto/certs/server.key", options.key);
    conf = rewrite(conf, "/var/lib/mosquitto/", dir + "/");
    conf = rewrite(conf, "/var/log/mosquitto/mosquitto.log", join(dir, "mosquitto.log"));
    if (options.requireCertificate === true) {
      conf = rewrite(conf, /^require_certificate false$/m, "require_certificate true");
    }
    const confPath = join(dir, "mosquitto.conf");
    writeFileSync(confPath, conf);
    const child = spawn(MOSQUITTO, ["-c", confPath], { stdio: ["ignore", "pipe", "pipe"] });
    const broker = new DocsMosquitto(dir, plainPort, tlsPort, child);
    try {
      await broker.waitListening();
    } catch (error) {
      await broker.close();
      throw error;
    }
    return broker;
  }

  /** All the broker said: its standard output and error, then its log file. */
  messages(): string {
    return this.output + this.log();
  }

  /** The broker's log file (for failure messages). */
  log(): string {
    try {
      return readFileSync(join(this.dir, "mosquitto.log"), "utf8");
    } catch {
      return "";
    }
  }

  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
