import { describe, expect, it } from "vitest";
import { WatchTracker } from "../../ops/watch/tracker";

const reading = (seq: number, boot = 1, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ id: "node-0001", seq, boot, up: seq, temperature: 21.5, humidity: 40, ...extra });

describe("watch bookkeeping (ops/watch/tracker.ts)", () => {
  it("counts a jump in seq as lost readings and says which", () => {
    const t = new WatchTracker();
    t.reading(reading(5), 0);
    expect(t.reading(reading(6), 100)).toEqual([]);
    const notices = t.reading(reading(9), 200);
    expect(notices).toEqual([{ kind: "gap", id: "node-0001", text: "lost 2 readings (seq 7-8, boot 1)" }]);
    expect(t.nodes.get("node-0001")).toMatchObject({ lost: 2, seq: 9, readings: 3 });
  });

  it("does not count the readings before it started listening", () => {
    const t = new WatchTracker();
    expect(t.reading(reading(120), 0)).toEqual([]);
    expect(t.nodes.get("node-0001")?.lost).toBe(0);
  });

  it("treats a new boot as a reboot, not a loss, and a repeated seq as a resend", () => {
    const t = new WatchTracker();
    t.reading(reading(10, 1), 0);
    expect(t.reading(reading(10, 1), 1)).toEqual([]);
    const notices = t.reading(reading(1, 2), 2);
    expect(notices[0]).toMatchObject({ kind: "reboot" });
    expect(t.nodes.get("node-0001")).toMatchObject({ lost: 0, reboots: 1, duplicates: 1, boot: 2, seq: 1 });
    // A late resend from the old boot is neither news nor a loss.
    expect(t.reading(reading(11, 1), 3)).toEqual([]);
    expect(t.reading(reading(3, 2), 4)[0]).toMatchObject({ kind: "gap", text: "lost 1 reading (seq 2, boot 2)" });
  });

  it("keeps last values, failed sensors and the node's own drop count", () => {
    const t = new WatchTracker();
    t.reading(reading(1, 1, { temperature: 22.25, failed: ["humidity"], dropped: 4 }), 0);
    expect(t.nodes.get("node-0001")).toMatchObject({ values: { temperature: 22.25, humidity: 40 }, failed: ["humidity"], dropped: 4 });
    t.event("node-0001", JSON.stringify({ id: "node-0001", level: "warn", code: "readings_dropped", count: 3, total: 7 }));
    expect(t.nodes.get("node-0001")?.dropped).toBe(7);
  });

  it("reports online/offline changes from the retained status", () => {
    const t = new WatchTracker();
    expect(t.status("node-0002", JSON.stringify({ id: "node-0002", state: "online", boot: 3, fw: "0.1.0" }))).toEqual([
      { kind: "online", id: "node-0002", text: "online (boot 3)" },
    ]);
    expect(t.status("node-0002", JSON.stringify({ id: "node-0002", state: "online", boot: 3 }))).toEqual([]);
    expect(t.status("node-0002", JSON.stringify({ id: "node-0002", state: "offline", boot: 3 }))[0].kind).toBe("offline");
    expect(t.status("node-0002", "")).toEqual([]);
  });

  it("measures the rate per node and flags what is not a reading", () => {
    const t = new WatchTracker();
    for (let i = 1; i <= 20; i++) {
      t.reading(reading(i), i * 500);
    }
    const node = t.nodes.get("node-0001");
    expect(node).toBeDefined();
    expect(t.rate(node!, 10_000)).toBeCloseTo(2, 0);
    expect(t.rate(node!, 60_000)).toBe(0);
    expect(t.reading("garbage", 0)[0].kind).toBe("malformed");
    expect(t.malformed).toBe(1);
  });
});

describe("watch rates over a sliding window, and config acks (issue 12)", () => {
  it("a steady 1 reading/s reads 1.00 from the second reading on (not 0.87), over the last 10 s", () => {
    const t = new WatchTracker();
    t.reading(reading(1), 0);
    const node = t.nodes.get("node-0001");
    expect(node).toBeDefined();
    expect(t.rate(node!, 500)).toBe(0);
    t.reading(reading(2), 1000);
    expect(t.rate(node!, 1500)).toBeCloseTo(1, 5);
    for (let i = 3; i <= 30; i++) {
      t.reading(reading(i), (i - 1) * 1000);
      expect(t.rate(node!, (i - 1) * 1000 + 400)).toBeCloseTo(1, 5);
    }
    // Only the last 10 s count: a node that went from 1/s to 4/s reads 4 once 10 s have passed.
    for (let i = 31; i <= 80; i++) {
      t.reading(reading(i), 29_000 + (i - 30) * 250);
    }
    expect(t.rate(node!, 41_600)).toBeCloseTo(4, 1);
  });

  it("at one reading every 2 s the rate holds at 0.5 between readings instead of flipping between 0 and 1", () => {
    const t = new WatchTracker();
    const seen = new Set<string>();
    for (let i = 1; i <= 10; i++) {
      t.reading(reading(i), i * 2000);
      const node = t.nodes.get("node-0001")!;
      if (i >= 2) {
        for (const after of [0, 900, 1900]) {
          seen.add(t.rate(node, i * 2000 + after).toFixed(2));
        }
      }
    }
    expect([...seen]).toEqual(["0.50"]);
  });

  it("a node that stops decays, and reads 0 after the window", () => {
    const t = new WatchTracker();
    for (let i = 1; i <= 10; i++) {
      t.reading(reading(i), i * 1000);
    }
    const node = t.nodes.get("node-0001")!;
    const rates = [12_000, 15_000, 19_000].map((now) => t.rate(node, now));
    expect(rates[0]).toBeLessThan(1);
    expect(rates[1]).toBeLessThan(rates[0] as number);
    expect(rates[2]).toBeLessThan(rates[1] as number);
    expect(t.rate(node, 21_000)).toBe(0);
  });

  it("records config acks, applied and rejected, with what they say", () => {
    const t = new WatchTracker();
    expect(t.ack("node-0002", JSON.stringify({ id: "node-0002", req: "r1", result: "applied", config: { interval_ms: 2000, sensitivity: 0.5, qos: 1 } }), 5)).toEqual([
      { kind: "ack", id: "node-0002", text: "config applied (req r1): interval_ms=2000 sensitivity=0.5" },
    ]);
    expect(t.ack("node-0002", JSON.stringify({ id: "node-0002", req: "r2", result: "rejected", errors: [{ key: "interval_ms", reason: "must be a whole number from 100 to 86400000 ms" }] }), 6)).toEqual([
      { kind: "ack", id: "node-0002", text: "config REJECTED (req r2): interval_ms must be a whole number from 100 to 86400000 ms" },
    ]);
    expect(t.nodes.get("node-0002")).toMatchObject({ acks: 2, lastAck: { result: "rejected", req: "r2", atMs: 6 } });
    expect(t.ack("node-0002", "nonsense", 7)[0]?.kind).toBe("malformed");
  });
});

describe("watch and forged readings (issue 11)", () => {
  it("takes the node from the payload on the shared topic", () => {
    const t = new WatchTracker();
    expect(t.reading(reading(1), 0)).toEqual([]);
    expect(t.nodes.get("node-0001")?.readings).toBe(1);
    expect(t.forged).toBe(0);
  });

  it("counts a reading whose payload id is not its topic's as forged and shows nothing of it", () => {
    const t = new WatchTracker();
    t.reading(reading(1), 0, "node-0001");
    const notices = t.reading(reading(2, 1, { temperature: 99 }), 1, "node-0002");
    expect(notices).toEqual([{ kind: "forged", id: "node-0002", text: 'a reading on its topic claims to be from "node-0001"; ignored' }]);
    expect(t.forged).toBe(1);
    expect(t.nodes.get("node-0001")).toMatchObject({ readings: 1, seq: 1, values: { temperature: 21.5 } });
    expect(t.nodes.has("node-0002")).toBe(false);
    expect(t.totals(2).readings).toBe(1);
  });
});
