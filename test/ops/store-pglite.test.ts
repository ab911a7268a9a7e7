/**
 * The store contract against the embedded store: PGlite in memory, each case
 * from a copy of one freshly created database (initdb once, a few seconds;
 * each copy starts in a fraction of a second). The folder-backed open is
 * tested by the collector tests.
 */
import { PGlite } from "@electric-sql/pglite";
import { beforeAll } from "vitest";
import { openPgliteStore } from "../../ops/collect/pglite-store";
import { storeSuite } from "./store-suite";

let template: Promise<Blob> | undefined = undefined;

function freshDump(): Promise<Blob> {
  template ??= (async () => {
    const db = await PGlite.create();
    const dump = await db.dumpDataDir("none");
    await db.close();
    return dump;
  })();
  return template;
}

// initdb once, before the cases (under hookTimeout, not a case's timeout).
beforeAll(async () => {
  await freshDump();
});

storeSuite({
  name: "PGlite (embedded)",
  open: async () => openPgliteStore({ loadDataDir: await freshDump() }),
  destroy: (store) => store.close(),
});
