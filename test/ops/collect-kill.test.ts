/**
 * `espfleet collect` (a child process, bin/espfleet.js) killed with SIGKILL
 * in the middle of storing a backlog, then started again: nothing lost,
 * nothing stored twice, the counters agree with the rows. The broker is a
 * real mosquitto (the collector's session outlives the process); the
 * readings come from plain mqtt.js publishers, queued while the collector
 * was away.
 *
 * - PostgreSQL: the test locks the readings table, so the collector's next
 *   transaction blocks with thousands of messages received and not
 *   committed; it is killed right then. A collector that acknowledged on
 *   receipt would lose them all.
 * - The embedded database: killed while busy (PGlite blocks the event loop
 *   during a commit, so the moment cannot be picked from outside): the stale
 *   lock is taken over, PostgreSQL's recovery runs, and the readings are
 *   read back with `espfleet query`, first through the running collector
 *   (it holds the folder), then directly.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Mosquitto } from "../e2e/support/mosquitto";
import { EspfleetProcess, runEspfleet } from "./support/collect-process";
import { readingPayload } from "./support/collector-harness";
import { PostgresServer, postgresMissing } from "./support/postgres-server";

const NODES = 4;
const PER_NODE = 2500;
const TOTAL = NODES * PER_NODE;

let mosquitto: Mosquitto;
let dir: string;
beforeAll(async () => {
  mosquitto = await Mosquitto.start();
  dir = mkdtempSync(join(tmpdir(), "espfleet-collect-kill-"));
});
afterAll(async () => {
  await mosquitto?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** From the last report line: readings stored so far, and messages received but not yet committed. */
const progress = (out: string): { stored: number; waiting: number } => {
  const all = [...out.matchAll(/waiting ([\d,]+) \| total ([\d,]+) stored/g)];
  const last = all[all.length - 1];
  return last === undefined ? { stored: 0, waiting: 0 } : { stored: Number(last[2].replaceAll(",", "")), waiting: Number(last[1].replaceAll(",", "")) };
};

async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Every node's readings 1..PER_NODE, published while no collector runs: the broker queues them for the session. */
async function publishBacklog(prefix: string): Promise<void> {
  const publishers: MqttClient[] = await Promise.all(
    Array.from({ length: NODES }, (_, i) => mqtt.connectAsync(mosquitto.url, { clientId: `${prefix}-pub-${i}`, protocolVersion: 4 })),
  );
  await Promise.all(
    publishers.map(async (pub, i) => {
      for (let seq = 1; seq <= PER_NODE; seq += 50) {
        await Promise.all(Array.from({ length: 50 }, (_, k) => pub.publishAsync(`${prefix}/sensor_data`, readingPayload(`node-${i + 1}`, 1, seq + k), { qos: 1 })));
      }
    }),
  );
  await Promise.all(publishers.map((p) => p.endAsync()));
}

/** Start once to create the tables and the broker session, stop cleanly, then queue the backlog. */
async function prepare(args: string[], prefix: string): Promise<void> {
  const setup = new EspfleetProcess(args);
  await setup.waitFor(/connected to/, 90_000);
  expect((await setup.stop("SIGINT")).code).toBe(130);
  await publishBacklog(prefix);
}

interface SummaryRow {
  node: string;
  readings: number;
  gaps: number;
}

async function summary(db: string): Promise<SummaryRow[]> {
  const { code, out } = await runEspfleet(["query", "--summary", "--db", db, "--format", "jsonl"]);
  if (code !== 0) throw new Error(`query --summary failed: ${out}`);
  return out
    .trim()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as SummaryRow);
}

/** Start again after the kill, wait until every reading is stored (asking through `query --summary`), stop cleanly. */
async function restartAndFinish(args: string[], db: string): Promise<EspfleetProcess> {
  const second = new EspfleetProcess(args);
  await second.waitFor(/connected to/, 60_000);
  expect(second.out).toContain("session resumed");
  let rows: SummaryRow[] = [];
  await waitUntil(
    async () => {
      rows = await summary(db);
      return rows.reduce((n, r) => n + r.readings, 0) >= TOTAL;
    },
    90_000,
    `${TOTAL} readings stored`,
  );
  const stop = await second.stop("SIGTERM");
  expect(stop.code).toBe(0);
  expect(second.out).toMatch(/collected for .* 0 gaps/);
  const final = await summary(db);
  expect(final.map((r) => [r.node, r.readings, r.gaps])).toEqual(Array.from({ length: NODES }, (_, i) => [`node-${i + 1}`, PER_NODE, 0]));
  return second;
}

const skipPg = postgresMissing();

describe("espfleet collect, killed mid-batch", () => {
  it.skipIf(skipPg !== undefined)(`PostgreSQL: killed with a transaction blocked and thousands of messages uncommitted${skipPg !== undefined ? ` (skipped: ${skipPg})` : ""}`, { timeout: 180_000 }, async () => {
    const server = await PostgresServer.start();
    let locker: pg.Client | undefined = undefined;
    try {
      const db = await server.createDatabase("kill");
      const args = ["collect", "--broker", mosquitto.url, "--prefix", "killpg", "--db", db, "--client-id", "kill-pg", "--report", "100ms", "--batch", "500"];
      await prepare(args, "killpg");
      const lockerDb = new pg.Client({ connectionString: db });
      locker = lockerDb;
      await lockerDb.connect();

      const first = new EspfleetProcess(args);
      await waitUntil(() => progress(first.out).stored >= 500, 60_000, "500 readings stored");
      // From now on no transaction can insert a reading: the collector's next one waits, holding what it received.
      await lockerDb.query("BEGIN");
      await lockerDb.query("LOCK TABLE readings IN EXCLUSIVE MODE");
      const storedAtLock = (await lockerDb.query<{ n: string }>("SELECT count(*) AS n FROM readings")).rows[0].n;
      await waitUntil(() => progress(first.out).waiting >= 1000, 30_000, "1000 messages received and waiting for the blocked commit");
      expect((await first.stop("SIGKILL")).signal).toBe("SIGKILL");
      await lockerDb.query("ROLLBACK");
      expect(Number(storedAtLock)).toBeLessThan(TOTAL);

      await restartAndFinish(args, db);
      const check = await lockerDb.query<{ n: string; distinct: string }>("SELECT count(*) AS n, count(DISTINCT (node, boot, seq)) AS distinct FROM readings");
      expect(check.rows[0]).toEqual({ n: String(TOTAL), distinct: String(TOTAL) });
    } finally {
      await locker?.end().catch(() => undefined);
      await server.close();
    }
  });

  it("the embedded database: killed while busy, restarted with nothing lost and nothing stored twice", { timeout: 180_000 }, async () => {
    const db = join(dir, "db");
    const args = ["collect", "--broker", mosquitto.url, "--prefix", "kill", "--db", db, "--client-id", "kill-test", "--report", "100ms"];
    await prepare(args, "kill");

    const first = new EspfleetProcess(args);
    await waitUntil(() => progress(first.out).stored >= 500, 60_000, "500 readings stored");
    expect(progress(first.out).stored).toBeLessThan(TOTAL);
    expect((await first.stop("SIGKILL")).signal).toBe("SIGKILL");

    await restartAndFinish(args, db);
    // Read directly now (no collector holds the folder): every (node, seq) exactly once.
    const { code, out } = await runEspfleet(["query", "--db", db, "--since", "1d", "--format", "jsonl"]);
    expect(code).toBe(0);
    const readings = out
      .trim()
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { node: string; boot: number; seq: number });
    expect(readings).toHaveLength(TOTAL);
    for (let i = 1; i <= NODES; i++) {
      const seqs = readings.filter((r) => r.node === `node-${i}`).map((r) => r.seq).sort((a, b) => a - b);
      expect(seqs).toEqual(Array.from({ length: PER_NODE }, (_, k) => k + 1));
    }
  });
});
