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
