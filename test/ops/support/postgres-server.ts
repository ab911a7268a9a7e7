/**
 * A real PostgreSQL for tests and the benchmark: initdb in a temp folder,
 * started with pg_ctl on a free loopback port, never the system's service.
 * PostgreSQL refuses to run as root, so as root (CI) the server runs as the
 * `postgres` user (Debian's package creates it) through runuser. Can be
 * stopped and started again on the same port (a database outage).
 * Binaries: $PG_BIN, else the newest /usr/lib/postgresql/<version>/bin,
 * else `pg_config --bindir`.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { freePort } from "../../e2e/support/mosquitto";

export function findPostgresBin(): string | undefined {
  const candidates: string[] = [];
  if (process.env.PG_BIN !== undefined) {
    candidates.push(process.env.PG_BIN);
  }
  const root = "/usr/lib/postgresql";
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => join(root, v, "bin")));
  }
  try {
    candidates.push(execFileSync("pg_config", ["--bindir"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim());
  } catch {
    // no pg_config on the PATH
  }
  return candidates.find((dir) => existsSync(join(dir, "initdb")) && existsSync(join(dir, "pg_ctl")));
}

/** Why the PostgreSQL tests cannot run here, or undefined when they can. */
export function postgresMissing(): string | undefined {
  if (findPostgresBin() === undefined) {
    return "PostgreSQL binaries (initdb, pg_ctl) not found: install Debian's postgresql package (npm test does, as root) or set PG_BIN";
  }
  if (process.getuid?.() === 0 && spawnSync("id", ["postgres"], { stdio: "ignore" }).status !== 0) {
    return "running as root, and there is no postgres user to run the server as (Debian's postgresql package creates it)";
  }
  return undefined;
}

export class PostgresServer {
  private running = false;
  private readonly asUser: string[];
  private dbCounter = 0;

  private constructor(
    readonly bin: string,
    readonly dir: string,
    readonly port: number,
  ) {
    this.asUser = process.getuid?.() === 0 ? ["runuser", "-u", "postgres", "--"] : [];
  }

  /** initdb and start; `user` is the superuser, trusted on loopback. */
  static async start(): Promise<PostgresServer> {
    const bin = findPostgresBin();
    if (bin === undefined) {
      throw new Error(postgresMissing());
    }
    const dir = mkdtempSync(join(tmpdir(), "espfleet-pg-"));
    const server = new PostgresServer(bin, dir, await freePort());
    if (server.asUser.length > 0) {
      const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
      const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
      chownSync(dir, uid, gid);
      chmodSync(dir, 0o700);
    }
    server.run("initdb", ["-D", server.dataDir, "-U", "espfleet", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"]);
    await server.restart();
    return server;
  }

  get dataDir(): string {
    return join(this.dir, "data");
  }

  /** The URL of database `name` (default: postgres). */
  url(name = "postgres"): string {
    return `postgres://espfleet@127.0.0.1:${this.port}/${name}`;
  }

  private run(tool: string, args: string[]): string {
    const [cmd, ...pre] = [...this.asUser, join(this.bin, tool)];
    const r = spawnSync(cmd, [...pre, ...args], { encoding: "utf8", cwd: this.dir });
    if (r.status !== 0) {
      throw new Error(`${tool} failed (exit ${r.status}): ${r.stderr || r.stdout}`);
    }
    return r.stdout;
  }

  /**
   * Start (again) on the same port. fsync off: what a commit wrote survives the
   * server's crash (the OS keeps it), not the machine's; enough for tests.
   * synchronous_commit stays on: off, a crash loses commits already reported
   * to the collector, which has then acknowledged them to the broker (the
   * outage test finds exactly that).
   */
  async restart(): Promise<void> {
    const options = `-p ${this.port} -h 127.0.0.1 -k ${this.dir} -c fsync=off -c full_page_writes=off`;
    this.run("pg_ctl", ["-D", this.dataDir, "-o", options, "-l", join(this.dir, "log"), "-w", "-t", "30", "start"]);
    this.running = true;
  }

  /** Stop at once (clients see their connections drop). */
  async stop(): Promise<void> {
    if (this.running) {
      this.run("pg_ctl", ["-D", this.dataDir, "-m", "immediate", "-w", "stop"]);
      this.running = false;
    }
  }

  /** A fresh database; its URL. */
  async createDatabase(prefix = "t"): Promise<string> {
    this.dbCounter++;
    const name = `${prefix}_${process.pid}_${this.dbCounter}`;
    const client = new pg.Client({ connectionString: this.url() });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE ${name}`);
    } finally {
      await client.end();
    }
    return this.url(name);
  }

  async dropDatabase(url: string): Promise<void> {
    const name = new URL(url).pathname.slice(1);
    const client = new pg.Client({ connectionString: this.url() });
    await client.connect();
    try {
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    } finally {
      await client.end();
    }
  }

  async close(): Promise<void> {
    await this.stop().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
