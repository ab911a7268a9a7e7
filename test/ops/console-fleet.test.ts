/**
 * The console's fleet table, server to page: FleetState's bookkeeping
 * (gaps, duplicates, reboots, drops, readings per minute), and what
 * PushHub sends decoded by the page's own model (ops/console/page/
 * fleet-model.js), so the wire format cannot drift between the two.
 */
import { describe, expect, it } from "vitest";
import type { WebSocket } from "ws";
import { ConfigChanges } from "../../ops/console/config-changes";
import { FleetState } from "../../ops/console/fleet-state";
import { PushHub } from "../../ops/console/push-hub";
import { RecentReadings } from "../../ops/console/recent-readings";

interface PageModel {
  apply(message: unknown): boolean;
  refresh(): boolean;
  setSort(key: string): void;
  setFilter(text: string, state: string, problemsOnly: boolean): void;
  shownIds(): string[];
  ids: string[];
  num: Record<string, Float64Array>;
  textOf(name: string, i: number): string;
  nodes: number;
}
const modelPath = "../../ops/console/page/fleet-model.js";
const { FleetModel } = (await import(modelPath)) as { FleetModel: new () => PageModel };

/** A WebSocket that keeps what is sent to it. */
function fakeSocket(): { ws: WebSocket; sent: Record<string, unknown>[]; receive(message: unknown): void } {
  const handlers: Record<string, (data: unknown) => void> = {};
  const sent: Record<string, unknown>[] = [];
  const ws = {
    OPEN: 1,
    readyState: 1,
    bufferedAmount: 0,
    send: (text: string) => sent.push(JSON.parse(text) as Record<string, unknown>),
    on: (event: string, handler: (data: unknown) => void) => (handlers[event] = handler),
    terminate: () => undefined,
    close: () => undefined,
  } as unknown as WebSocket;
  return { ws, sent, receive: (message) => handlers.message?.(Buffer.from(JSON.stringify(message))) };
}

function hub(fleet: FleetState, recent = new RecentReadings()): PushHub {
  const changes = new ConfigChanges({ publish: async () => undefined, signing: () => undefined, ackTimeoutMs: 1000, onTimeout: () => undefined });
  return new PushHub(fleet, recent, changes, () => ({ settable: [] }));
}

describe("FleetState", () => {
  it("tells gaps, duplicates and reboots apart as the collector does, and sums drops over boots", () => {
    const f = new FleetState();
    const now = 1_000_000;
    for (const [boot, seq, dropped] of [[1, 1], [1, 2], [1, 2], [1, 5, 3], [2, 1], [2, 2, 1]] as [number, number, number?][]) {
      f.reading("n", boot, seq, dropped, now);
    }
    const i = f.indexOf("n") as number;
    expect([f.gaps[i], f.dups[i], f.reboots[i], f.drops(i)]).toEqual([2, 1, 1, 4]);
    f.dropped("n", 6);
    expect(f.drops(i)).toBe(9);
  });

  it("counts readings per minute in one-second slots: a reading leaves the count a minute later", () => {
    const f = new FleetState();
    f.reading("n", 1, 1, undefined, 0);
    f.tick();
    f.reading("n", 1, 2, undefined, 0);
    const i = f.indexOf("n") as number;
    expect(f.rate[i]).toBe(2);
    for (let s = 0; s < 59; s++) f.tick();
    expect(f.rate[i]).toBe(1);
    f.tick();
    expect(f.rate[i]).toBe(0);
  });

  it("starts from the collector's counters and positions: the next reading is no gap", () => {
    const f = new FleetState();
    f.seed([{ node: "n", readings: 10, gaps: 3, duplicates: 1, reboots: 2, boot: 4, seq: 10, firstSeenMs: 1, lastSeenMs: 2, state: "online", fw: "0.1.0" }]);
    f.reading("n", 4, 11, undefined, 5);
    const i = f.indexOf("n") as number;
    expect([f.gaps[i], f.dups[i], f.reboots[i], f.state[i], f.fw[i]]).toEqual([3, 1, 2, 1, "0.1.0"]);
  });
});

describe("what the page gets", () => {
  it("a whole table on connect, then deltas; the page's model ends up with the server's numbers and texts", () => {
    const fleet = new FleetState();
    const pushes = hub(fleet);
    const t0 = Date.now();
    fleet.reading("node-0002", 1, 1, undefined, t0);
    fleet.reading("node-0001", 1, 1, undefined, t0);
    fleet.status("node-0001", "online", "0.1.0");
    pushes.tick(t0);
    const page = fakeSocket();
    pushes.add(page.ws);
    expect(page.sent.map((m) => m.type)).toEqual(["hello", "fleet", "changes"]);
    // Then: a gap, a duplicate, a reboot, an offline node, an ack with a config, a new node.
    fleet.reading("node-0001", 1, 3, undefined, t0 + 500);
    fleet.reading("node-0001", 1, 3, undefined, t0 + 600);
    fleet.reading("node-0002", 2, 1, 4, t0 + 700);
    fleet.status("node-0002", "offline", null);
    fleet.ack("node-0002", { req: "r1", result: "rejected", reasons: "interval_ms must be…" }, undefined);
    fleet.ack("node-0001", { req: "r1", result: "applied", reasons: "" }, { interval_ms: 2000 });
    fleet.reading("node-0003", 1, 1, undefined, t0 + 800);
    pushes.tick(t0 + 1000);
    const model = new FleetModel();
    for (const m of page.sent.filter((m) => m.type === "fleet")) {
      model.apply(m);
    }
    model.refresh();
    expect(model.shownIds()).toEqual(["node-0001", "node-0002", "node-0003"]);
    const at = (id: string): number => model.ids.indexOf(id);
    expect(["state", "gaps", "dups", "drops", "reboots", "rate"].map((c) => model.num[c][at("node-0001")])).toEqual([1, 1, 1, 0, 0, 2]);
    expect(["state", "gaps", "dups", "drops", "reboots"].map((c) => model.num[c][at("node-0002")])).toEqual([2, 0, 0, 4, 1]);
    expect([model.textOf("fw", at("node-0001")), model.textOf("config", at("node-0001")), model.textOf("ack", at("node-0001")), model.textOf("ackReq", at("node-0001"))]).toEqual([
      "0.1.0",
      '{"interval_ms":2000}',
      "applied",
      "r1",
    ]);
    expect(model.textOf("ack", at("node-0002"))).toBe("rejected: interval_ms must be…");
    // Sorting and filtering happen on the page.
    model.setSort("drops");
    model.refresh();
    expect(model.shownIds()[0]).toBe("node-0002");
    model.setFilter("", "2", false);
    model.refresh();
    expect(model.shownIds()).toEqual(["node-0002"]);
  });

  it("a delta sends only what changed: an idle fleet costs nearly nothing", () => {
    const fleet = new FleetState();
    const pushes = hub(fleet);
    const page = fakeSocket();
    pushes.add(page.ws);
    for (let n = 0; n < 1000; n++) fleet.reading(`node-${n}`, 1, 1, undefined, 1000);
    pushes.tick(1000);
    pushes.tick(2000);
    const [, , , first, idle] = page.sent;
    expect(JSON.stringify(first).length).toBeGreaterThan(10_000);
    expect(JSON.stringify((idle as { cols: unknown }).cols)).toBe("{}");
  });

  it("a removed node leaves the page's table, and comes back whole when heard again", () => {
    const fleet = new FleetState();
    const pushes = hub(fleet);
    const page = fakeSocket();
    pushes.add(page.ws);
    fleet.reading("a", 1, 1, undefined, 1000);
    fleet.status("a", "online", "1.0");
    pushes.tick(1000);
    fleet.remove("a");
    pushes.tick(2000);
    const model = new FleetModel();
    for (const m of page.sent.filter((m) => m.type === "fleet")) model.apply(m);
    model.refresh();
    expect(model.shownIds()).toEqual([]);
    fleet.reading("a", 1, 2, undefined, 3000);
    pushes.tick(3000);
    model.apply(page.sent[page.sent.length - 1]);
    model.refresh();
    expect([model.shownIds(), model.textOf("fw", 0), model.num.state[0]]).toEqual([["a"], "1.0", 1]);
  });

  it("the node a page looks at: its recent readings, then each new one once", () => {
    const fleet = new FleetState();
    const recent = new RecentReadings();
    const pushes = hub(fleet, recent);
    const a = fleet.row("a");
    recent.add(a, 1000, { temperature: 20 });
    recent.add(a, 2000, { temperature: 21, vdd: 3.3 });
    const page = fakeSocket();
    pushes.add(page.ws);
    page.receive({ type: "watch", node: "a" });
    recent.add(a, 3000, { temperature: 22 });
    pushes.tick(3000);
    pushes.tick(4000);
    const live = page.sent.filter((m) => m.type === "live") as { t: number[]; values: Record<string, (number | null)[]> }[];
    expect(live.map((m) => m.t)).toEqual([[1000, 2000], [3000]]);
    expect(live[0].values.vdd).toEqual([null, 3.3]);
  });
});
