/**
 * A real mosquitto for tests and the benchmark, started on a free loopback
 * port with its own config and persistence directory, stoppable and
 * restartable on the same port (to simulate a broker outage).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const MOSQUITTO = process.env.MOSQUITTO ?? "/usr/sbin/mosquitto";

/** A port nobody listens on right now (there is a small race; loopback tests live with it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Whether something accepts TCP connections on 127.0.0.1:`port` now. */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

export interface MosquittoOptions {
  /** Extra lines for mosquitto.conf (they apply to the one listener). */
  extraConfig?: string[];
  /** Accept clients without a user name (default true). */
  anonymous?: boolean;
}

export class Mosquitto {
  private child: ChildProcess | undefined = undefined;
  private output = "";
  readonly dir = mkdtempSync(join(tmpdir(), "espfleet-mosquitto-"));

  private constructor(
    readonly port: number,
    private readonly options: MosquittoOptions,
  ) {}

  static async start(options: MosquittoOptions = {}): Promise<Mosquitto> {
    const broker = new Mosquitto(await freePort(), options);
    await broker.restart();
    return broker;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** Start (again) on the same port; sessions saved at the last stop are restored. */
  async restart(): Promise<void> {
    const conf = join(this.dir, "mosquitto.conf");
    writeFileSync(
      conf,
      [
        `listener ${this.port} 127.0.0.1`,
        `allow_anonymous ${this.options.anonymous === false ? "false" : "true"}`,
        // Persistent sessions survive a restart, so a test's observer misses nothing during an outage.
        "persistence true",
        `persistence_location ${this.dir}/`,
        // Started as root (a CI container), mosquitto drops to the user "mosquitto", which cannot write this
        // root-owned temp folder: the sessions would not be saved at a stop (stop() checks). Stay root instead.
        ...(process.getuid?.() === 0 ? ["user root"] : []),
        "max_queued_messages 0",
        "max_inflight_messages 0",
        "log_dest none",
        ...(this.options.extraConfig ?? []),
        "",
      ].join("\n"),
    );
    const child = spawn(MOSQUITTO, ["-c", conf], { stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    child.stdout?.on("data", (d: Buffer) => (this.output += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (this.output += d.toString()));
    const deadline = Date.now() + 10_000;
    while (!(await canConnect(this.port))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`mosquitto did not start on port ${this.port} (exit ${child.exitCode}): ${this.output}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /**
   * Stop like an operator would (SIGTERM: sessions are saved, clients see
   * the connection close), for a restart. Throws when mosquitto did not save
   * its sessions: a persistent session (a test's observer) would come back
   * without its subscriptions, and whatever a client publishes before the
   * observer has subscribed again would reach no one — a test then sees
   * "lost" messages that the fleet delivered (issue 14: the flaky "drop count
   * is exact" test, when mosquitto, started as root without `user root`,
   * could not write its folder). SIGTERM, never SIGKILL: mosquitto writes
   * its database only as it exits cleanly (and every autosave_interval,
   * 30 minutes by default).
   */
  async stop(): Promise<void> {
    if (this.child === undefined || this.child.exitCode !== null) {
      return;
    }
    const db = join(this.dir, "mosquitto.db");
    // The running broker read it at its start and keeps its state in memory; removed now, the file is
    // there after the stop only if this stop wrote it.
    rmSync(db, { force: true });
    await this.terminate();
    if (!existsSync(db)) {
      throw new Error(
        `mosquitto did not save its sessions at the stop (no ${db}): persistent sessions would not survive the restart. ` +
          "Is its folder writable by the user mosquitto runs as (as root it switches to the user mosquitto unless the config says `user root`)?",
      );
    }
  }

  /** SIGTERM and wait for the exit (nothing when it is not running). */
  private async terminate(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null) {
      return;
    }
    this.child = undefined;
    await new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    });
  }

  async close(): Promise<void> {
    await this.terminate();
    rmSync(this.dir, { recursive: true, force: true });
  }

  pid(): number | undefined {
    return this.child?.pid;
  }
}
