/**
 * `espfleet console` in a real browser (Debian's Chromium, playwright-core),
 * as `npm start` runs it: a simulated fleet on the embedded broker (aedes),
 * a collector holding the embedded database (PGlite in a folder, its
 * control socket up), and the console as its own process asking the
 * collector for history. The page is driven as a person would: the table
 * fills, a config change is sent from the form and the nodes apply it (one
 * node with a fleet key rejects it, and says why), a chart shows history
 * after a reload. Its screenshot is the README's (docs/console.png; see SCREENSHOT).
 */
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmbeddedBroker, type EmbeddedBroker } from "../../broker/embedded";
import type { BrokerTarget } from "../../broker/target";
import { serveQueries, type QueryServer } from "../../ops/collect/control-socket";
import { dbFolder, tryLock } from "../../ops/collect/db-folder";
import { openPgliteStore } from "../../ops/collect/pglite-store";
import { emptyBatch, type Store } from "../../ops/collect/store";
import { Fleet } from "../../simulator/fleet";
import { startTestFleet, uniquePrefix, newStateDir } from "../e2e/support/test-fleet";
import { startCollector, type RunningCollector } from "../ops/support/collector-harness";
import { EspfleetProcess } from "../ops/support/collect-process";
import { launchChromium, type Browser } from "./support/browser";

/**
 * Every run takes the screenshot into build/ (git-ignored), so `npm test`
 * leaves the tree clean; ESPFLEET_UPDATE_SCREENSHOT=1 takes it as the
 * README's docs/console.png.
 */
const SCREENSHOT = join(import.meta.dirname, "..", "..", process.env.ESPFLEET_UPDATE_SCREENSHOT === "1" ? "docs" : "build", "console.png");
const NODES = 6;
/** node-0007 has a fleet key: it applies signed changes only, so it rejects the console's unsigned ones. */
const KEYED = "node-0007";

let broker: EmbeddedBroker;
let target: BrokerTarget;
let fleet: Fleet;
let keyed: Fleet;
let store: Store;
let release: () => void;
let socket: QueryServer;
let collector: RunningCollector;
let consoleProcess: EspfleetProcess;
let browser: Browser;
let url: string;
const prefix = uniquePrefix("console");

beforeAll(async () => {
  broker = await startEmbeddedBroker({ port: 0 });
  target = { url: broker.url, host: broker.host, port: broker.port, secure: false, username: "", password: "", ca: undefined, embedded: true };
  // The collector as `espfleet collect` sets it up: the folder locked, the store open, its control socket up.
  const folder = dbFolder(join(mkdtempSync(join(tmpdir(), "espfleet-console-db-")), "db"));
  const lock = tryLock(folder, "collect");
  if (!lock.ok) throw new Error("the fresh database folder is locked");
  release = lock.release;
  store = await openPgliteStore({ dataDir: folder.pgdata });
  await seedHistory(store, "node-0002");
  socket = await serveQueries(store, folder.socketPath);
  collector = await startCollector({ target, store, prefix, clientId: `${prefix}-collector` });

  const broker_ = { name: "aedes", url: broker.url, target, stop: async () => undefined, start: async () => undefined, close: async () => undefined };
  ({ fleet } = await startTestFleet(broker_, { nodes: NODES, prefix, initial: { interval_ms: 300, sensors: ["temperature", "humidity", "vdd"] } }));
  keyed = new Fleet({
    broker: target,
    first: NODES + 1,
    count: 1,
    stateDir: newStateDir(),
    seed: 7,
    initial: { interval_ms: 300, sensors: ["temperature", "humidity"] },
    fixed: { topic_prefix: prefix, fleet_key: "k".repeat(32), reconnect_min_ms: 100, reconnect_max_ms: 1000 },
    connectRate: 100,
  });
  await keyed.start();

  consoleProcess = new EspfleetProcess(["console", "--broker", broker.url, "--prefix", prefix, "--db", folder.dir, "--http-port", "0", "--ack-timeout", "5s"]);
  const [, address] = await consoleProcess.waitFor(/console: (http:\/\/127\.0\.0\.1:\d+\/)/, 60_000);
  url = address;
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await consoleProcess?.stop("SIGTERM");
  await fleet?.stop();
  await keyed?.stop();
  await collector?.stop();
  await socket?.close();
  await store?.close();
  release?.();
  await broker?.close();
});

/** An hour of readings of `node` before the test, at 1 Hz, as an earlier boot stored them. */
async function seedHistory(into: Store, node: string): Promise<void> {
  const start = Date.now() - 3600_000;
  const readings = Array.from({ length: 3600 }, (_, k) => ({
    node,
    boot: 0,
    seq: k + 1,
    timeMs: start + k * 1000,
    up: k,
    ts: null,
    values: { temperature: 22 + 2 * Math.sin(k / 600) + Math.sin(k / 7) * 0.3, humidity: 45 - 5 * Math.cos(k / 900), vdd: 3.3 - k / 200_000 },
    extra: null,
    gap: 0,
    reboot: false,
    fillsGap: false,
  }));
  await into.write({ ...emptyBatch(), readings });
}

describe("the console in Chromium", () => {
  it("fills the fleet table from a running simulated fleet", async () => {
    const { page } = browser;
    await page.goto(url);
    await page.locator("#shown").filter({ hasText: `${NODES + 1} shown` }).waitFor({ timeout: 20_000 });
    for (let n = 1; n <= NODES + 1; n++) {
      const row = page.locator(".row", { hasText: `node-000${n}` });
      await expect.poll(() => row.locator("span").nth(2).textContent(), { timeout: 10_000 }).toBe("online");
    }
    // Readings are counted: a node at 300 ms has readings in the last minute.
    await expect.poll(async () => Number(await page.locator(".row", { hasText: "node-0001" }).locator("span").nth(4).textContent()), { timeout: 10_000 }).toBeGreaterThan(3);
    await expect.poll(() => page.locator("#totals").textContent()).toMatch(new RegExp(`^${NODES + 1} nodes · ${NODES + 1} online`));
    expect(browser.errors).toEqual([]);
  });

  it("sends a config change from the form: the nodes apply it, the acks show (and a rejection, with its reason)", async () => {
    const { page } = browser;
    // Two nodes selected: the change names them.
    for (const id of ["node-0002", "node-0003"]) {
      await page.locator(".row", { hasText: id }).locator(".sel").click();
    }
    await expect.poll(() => page.locator("#selected").textContent()).toBe("2 selected");
    const form = page.locator("#fleet-config");
    await form.locator('input[name="interval_ms"]').fill("700");
    await expect.poll(() => form.getByRole("button", { name: "send change" }).isEnabled()).toBe(true);
    await form.getByRole("button", { name: "send change" }).click();
    await form.locator(".change").filter({ hasText: "applied 2" }).waitFor({ timeout: 10_000 });
    await expect.poll(() => form.locator(".change").textContent()).toContain("waiting 0");
    // The simulated nodes run with it now; the others do not.
    expect(fleet.nodes.map((n) => n.core.settings().interval_ms)).toEqual([300, 700, 700, 300, 300, 300]);
    // Each row shows the node's ack and its config as acknowledged.
    await expect.poll(() => page.locator(".row", { hasText: "node-0002" }).locator("span").nth(11).textContent(), { timeout: 5000 }).toBe("applied");
    await expect.poll(() => page.locator(".row", { hasText: "node-0003" }).locator("span").nth(10).textContent()).toContain("every 700 ms");

    // A value the node's schema refuses is caught before anything is sent.
    await form.locator('input[name="interval_ms"]').fill("5");
    await form.locator(".error").filter({ hasText: "interval_ms must be a whole number from 100 to 86400000 ms" }).waitFor();
    expect(await form.getByRole("button", { name: "send change" }).isEnabled()).toBe(false);

    // Every node: the keyed one refuses an unsigned change and says why.
    await page.getByRole("button", { name: "select none" }).click();
    await form.locator('input[name="interval_ms"]').fill("");
    await form.locator('input[name="sensitivity"]').fill("0.25");
    await expect.poll(() => form.getByRole("button", { name: "send change" }).isEnabled()).toBe(true);
    await form.getByRole("button", { name: "send change" }).click();
    await form.locator(".change").filter({ hasText: `applied ${NODES}` }).filter({ hasText: "rejected 1" }).waitFor({ timeout: 10_000 });
    await expect.poll(() => form.locator(".change").textContent()).toContain("sig required: this node applies only config changes signed with the fleet key");
    expect(await form.locator(".change .ids").first().textContent()).toBe(KEYED);
    expect(fleet.nodes.every((n) => n.core.settings().sensitivity === 0.25)).toBe(true);
    await expect.poll(() => page.locator(".row", { hasText: KEYED }).locator("span").nth(11).textContent(), { timeout: 5000 }).toMatch(/^rejected: sig required/);
    expect(browser.errors).toEqual([]);
  });

  it("shows a node's history in its charts after a reload, with its acks on the time axis", async () => {
    const { page } = browser;
    await page.goto(`${url}#/node/node-0002`);
    await page.locator(".chart canvas").first().waitFor({ timeout: 10_000 });
    await page.reload();
    // After the reload the charts come from the collector's database (through its socket), not only from live readings.
    const note = page.locator("#history-note");
    await note.filter({ hasText: /^\d+ points from the collector/ }).waitFor({ timeout: 15_000 });
    expect(Number(/^(\d+) points/.exec((await note.textContent()) ?? "")?.[1])).toBeGreaterThan(1);
    expect(await page.locator(".chart .u-title").allTextContents()).toEqual(["temperature (°C)", "humidity (%RH)", "vdd (V)"]);
    // Its ack of the interval change is in the events, from the database.
    await page.locator("#events tr", { hasText: "ack: applied" }).first().waitFor({ timeout: 10_000 });
    // The hour before the test (readings the console never heard), downsampled on the server: ~1,000 buckets of ~4 readings.
    await page.getByRole("button", { name: "1 h" }).click();
    await note.filter({ hasText: /^\d+ points from the collector.*one point per 4 s/ }).waitFor({ timeout: 10_000 });
    expect(Number(/^(\d+) points/.exec((await note.textContent()) ?? "")?.[1])).toBeGreaterThan(500);
    await page.waitForTimeout(1000);
    mkdirSync(join(SCREENSHOT, ".."), { recursive: true });
    await page.screenshot({ path: SCREENSHOT });
    expect(browser.errors).toEqual([]);
  });
});

// The collector committed what the page showed: the database knows every node of the table.
it("the collector stored every node the console showed", async () => {
  await expect.poll(async () => (await store.summary()).length, { timeout: 10_000 }).toBe(NODES + 1);
});
