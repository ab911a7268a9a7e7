import { describe, expect, it } from "vitest";
import { Outbox } from "../../firmware/core/outbox";

const drain = (o: Outbox) => {
  const out: string[] = [];
  for (let e = o.take(); e !== undefined; e = o.take()) out.push(e);
  return out;
};

describe("Outbox", () => {
  it("is first in, first out across wrap-around", () => {
    const o = new Outbox(3);
    o.push("a");
    o.push("b");
    expect(o.take()).toBe("a");
    o.push("c");
    o.push("d");
    expect(drain(o)).toEqual(["b", "c", "d"]);
    expect(o.dropped).toBe(0);
  });

  it("drops the oldest when full and counts it", () => {
    const o = new Outbox(2);
    ["a", "b", "c", "d"].forEach((e) => o.push(e));
    expect(drain(o)).toEqual(["c", "d"]);
    expect(o.dropped).toBe(2);
  });

  it("puts a taken entry back in front; when full it evicts the oldest never-sent entry instead", () => {
    const o = new Outbox(2);
    o.push("a");
    o.push("b");
    const a = o.take() as string;
    o.pushFront(a);
    expect(o.size()).toBe(2);
    // "z" was on the wire (maybe delivered): keep it, drop "a", which never left.
    o.pushFront("z");
    expect(o.dropped).toBe(1);
    expect(drain(o)).toEqual(["z", "b"]);
  });

  it("keeps the newest entries when shrunk, counting the rest as dropped", () => {
    const o = new Outbox(5);
    ["a", "b", "c", "d"].forEach((e) => o.push(e));
    o.resize(2);
    expect(o.dropped).toBe(2);
    o.push("e");
    expect(drain(o)).toEqual(["d", "e"]);
  });

  it("with capacity 0 keeps nothing and counts every entry", () => {
    const o = new Outbox(0);
    o.push("a");
    o.pushFront("b");
    expect(o.size()).toBe(0);
    expect(o.dropped).toBe(2);
  });
});

/** The strings the ring holds, wherever they sit (a private detail with a cost: each is heap on the device). */
const held = (o: Outbox) => Object.values((o as unknown as { items: Record<string, string | undefined> }).items).filter((e) => e !== undefined);

describe("Outbox with capacity 3", () => {
  // Capacity 2 cannot tell the slot before the head from the slot after it: 3 can.
  it.each([0, 1, 2])("puts a taken entry back in front with the head at slot %i, overwriting nothing", (start) => {
    const o = new Outbox(3);
    for (let i = 0; i < start; i++) {
      o.push("old");
      o.take();
    }
    o.push("a");
    o.push("b");
    o.push("c");
    const a = o.take() as string;
    o.pushFront(a);
    expect(o.size()).toBe(3);
    expect(drain(o)).toEqual(["a", "b", "c"]);
    expect(o.dropped).toBe(0);
  });

  it("keeps the order across several put-backs into an emptied ring", () => {
    const o = new Outbox(3);
    ["a", "b", "c"].forEach((e) => o.push(e));
    const taken = [o.take(), o.take(), o.take()] as string[];
    o.pushFront(taken[2]);
    o.pushFront(taken[1]);
    o.push("d");
    expect(drain(o)).toEqual(["b", "c", "d"]);
  });
});

describe("Outbox memory", () => {
  it("holds no string but its entries: new, after takes, after a resize, at capacity 0", () => {
    const o = new Outbox(3);
    expect(held(o)).toEqual([]);
    ["a", "b", "c", "d"].forEach((e) => o.push(e));
    expect(held(o).sort()).toEqual(["b", "c", "d"]);
    o.take();
    expect(held(o).sort()).toEqual(["c", "d"]);
    o.resize(1);
    expect(held(o)).toEqual(["d"]);
    o.take();
    o.resize(2);
    expect(held(o)).toEqual([]);
    const none = new Outbox(0);
    none.push("x");
    none.pushFront("y");
    expect(held(none)).toEqual([]);
    expect(none.dropped).toBe(2);
  });
});
