/**
 * The store contract against a real PostgreSQL server that this file starts
 * (initdb + pg_ctl in a temp folder, on a free port; never the system's
 * service): a fresh database per case, dropped after it. Skipped, saying
 * why, only when no PostgreSQL binaries are installed; `npm test` installs
 * Debian's postgresql package, so CI never skips it.
 */
import { afterAll, beforeAll } from "vitest";
import { openPgStore } from "../../ops/collect/pg-store";
import type { Store } from "../../ops/collect/store";
import { PostgresServer, postgresMissing } from "./support/postgres-server";
import { storeSuite } from "./store-suite";

const missing = postgresMissing();
if (missing !== undefined) {
  process.stderr.write(`store-postgres: SKIPPED: ${missing}\n`);
}

let server: PostgresServer | undefined = undefined;
const urls = new WeakMap<Store, string>();

beforeAll(async () => {
  if (missing === undefined) {
    server = await PostgresServer.start();
  }
});
afterAll(async () => {
  await server?.close();
});

storeSuite({
  name: "PostgreSQL (pg)",
  ...(missing !== undefined ? { skip: missing } : {}),
  open: async () => {
    const url = await (server as PostgresServer).createDatabase("store");
    const store = await openPgStore({ url });
    urls.set(store, url);
    return store;
  },
  destroy: async (store) => {
    await store.close();
    const url = urls.get(store);
    if (url !== undefined) {
      await server?.dropDatabase(url);
    }
  },
});
