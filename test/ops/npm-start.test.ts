/**
 * `npm start` (scripts/start.mjs) on a machine where it never ran: the fleet
 * starts at once while the collector is still creating its database
 * (seconds), yet every reading from each node's first is stored, because
 * the embedded broker made the collector's session before any node started
 * (`run --collector-session`). Run in a fresh folder, as a new user would.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { freePort } from "../e2e/support/mosquitto";
import { runEspfleet } from "./support/collect-process";

const START = join(import.meta.dirname, "..", "..", "scripts", "start.mjs");

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "espfleet-npm-start-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

interface Row {
  node: string;
  readings: number;
  gaps: number;
  seq: number;
}

async function summary(db: string): Promise<Row[]> {
  const { code, out } = await runEspfleet(["query", "--summary", "--db", db, "--format", "jsonl"]);
  return code !== 0 ? [] : out.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Row);
}

it("the first npm start stores every node's readings from its first one, those published while the database was being created included", { timeout: 180_000 }, async () => {
  const port = await freePort();
  const env = { ...process.env };
  for (const name of ["ESPFLEET_USERNAME", "ESPFLEET_PASSWORD", "MQTT_USERNAME", "MQTT_PASSWORD", "ESPFLEET_TOPIC_DATA", "ESPFLEET_PREFIX", "ESPFLEET_DB"]) {
    delete env[name];
  }
  // The console started beside the collector: a free port, not 8080 (which may be in use here).
  env.ESPFLEET_CONSOLE_PORT = String(await freePort());
  // Another port than 1883 (which may be in use here), so the folder is named: on 1883 it is the default.
  const args = ["--nodes", "3", "--port", String(port), "--interval", "200ms", "--broker-store", join(".espfleet", "broker")];
  const child = spawn(process.execPath, [START, ...args], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  const db = join(dir, ".espfleet", "db");
  try {
    let rows: Row[] = [];
    const deadline = Date.now() + 150_000;
    // Until the collector has stored ten seconds' worth of each node (it starts storing after creating the database).
    while (!(rows.length === 3 && rows.every((r) => r.readings >= 50))) {
      if (Date.now() > deadline || child.exitCode !== null) {
        throw new Error(`npm start stored no 50 readings per node (${JSON.stringify(rows)}):\n${out}`);
      }
      await new Promise((r) => setTimeout(r, 1000));
      rows = await summary(db);
    }
    expect(out).toContain(`the fleet console: http://127.0.0.1:${env.ESPFLEET_CONSOLE_PORT}/`);
    expect(out).toContain(`broker sessions kept in ${join(dir, ".espfleet", "broker")}`);
    // From seq 1 on, none missing: as many readings stored as the last seq.
    for (const row of rows) {
      expect([row.node, row.gaps, row.readings], JSON.stringify(row)).toEqual([row.node, 0, row.seq]);
    }
  } finally {
    child.kill("SIGTERM");
    await exited;
  }
});
