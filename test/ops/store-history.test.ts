/**
 * What the console reads from the collector's database, beyond the store
 * contract (store-suite.ts): a database made before node_minutes existed
 * gets them filled from its readings when opened, and a running
 * collector's control socket answers the console's queries as the store does.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { afterAll, beforeAll, expect, it } from "vitest";
import { collectorSource, serveQueries } from "../../ops/collect/control-socket";
import { pgliteDriver } from "../../ops/collect/pglite-store";
import { SCHEMA_VERSION } from "../../ops/collect/schema";
import { SqlStore } from "../../ops/collect/sql-store";
import { batch, reading } from "./store-suite";

const T0 = Date.UTC(2026, 11, 5, 10, 0, 0);
const DAY = 86_400_000;
let db: PGlite;

beforeAll(async () => {
  db = await PGlite.create();
});
afterAll(async () => {
  await db?.close();
});

it("a database of schema version 1 gets node_minutes filled from its readings when opened", async () => {
  const driver = { ...pgliteDriver(db, "test"), close: async () => undefined };
  const first = await SqlStore.open(driver);
  await first.write(batch({ readings: [1, 2, 3].map((s) => reading("a", 1, s, { timeMs: T0 + s * 20_000 })) }));
  // As version 1 left it: no per-node minutes.
  await db.exec("DELETE FROM node_minutes; UPDATE espfleet_schema SET version = 1");
  const reopened = await SqlStore.open(driver);
  const history = await reopened.nodeHistory({ node: "a", fromMs: T0 - DAY, toMs: T0 + DAY, points: 10 });
  expect([history.source, history.n.reduce((a, b) => a + b, 0)]).toEqual(["minutes", 3]);
  expect((await db.query<{ version: number }>("SELECT version FROM espfleet_schema")).rows).toEqual([{ version: SCHEMA_VERSION }]);
});

it("the collector's control socket answers history, messages and configs as the store does", async () => {
  const store = await SqlStore.open({ ...pgliteDriver(db, "test"), close: async () => undefined });
  await store.write(
    batch({
      readings: [reading("s", 1, 1), reading("s", 1, 2)],
      messages: [{ node: "s", kind: "ack", code: "applied", body: { id: "s", config: { qos: 1 } }, timeMs: T0 + 5000 }],
    }),
  );
  const socket = join(mkdtempSync(join(tmpdir(), "espfleet-sock-")), "c.sock");
  const server = await serveQueries(store, socket);
  try {
    const remote = collectorSource(socket);
    const query = { node: "s", fromMs: T0, toMs: T0 + 10_000, points: 10 };
    expect(await remote.nodeHistory(query)).toEqual(await store.nodeHistory(query));
    expect(await remote.nodeMessages({ node: "s", fromMs: T0, toMs: T0 + 10_000, limit: 5 })).toEqual(await store.nodeMessages({ node: "s", fromMs: T0, toMs: T0 + 10_000, limit: 5 }));
    expect((await remote.lastConfigs()).find((c) => c.node === "s")?.config).toEqual({ qos: 1 });
  } finally {
    await server.close();
  }
});
