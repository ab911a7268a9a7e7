import { describe, expect, it } from "vitest";
import { faultRatesFor, NO_FAULTS, parseFaultPlan, parseFaultRates, SensorModel, SimulatedSensorException, type FaultRates } from "../../simulator/sensor-model";

const every = (ms: number) => ({ intervalMs: () => ms });

function series(model: SensorModel, sensor: string, reads: number): (number | string)[] {
  return Array.from({ length: reads }, () => model.read(sensor));
}

function model(seed = 7, node = 1, faults: FaultRates = NO_FAULTS, intervalMs = 1000): SensorModel {
  return new SensorModel(seed, node, 0, faults, every(intervalMs));
}

describe("sensor models (simulator/sensor-model.ts)", () => {
  it("is reproducible: the same seed and node give the same readings", () => {
    expect(series(model(), "temperature", 50)).toEqual(series(model(), "temperature", 50));
    expect(series(model(), "temperature", 50)).not.toEqual(series(model(8), "temperature", 50));
    expect(series(model(7, 1), "temperature", 50)).not.toEqual(series(model(7, 2), "temperature", 50));
  });

  it("keeps each sensor in its physical range over simulated days", () => {
    const m = model(3, 5, NO_FAULTS, 60_000);
    const ranges: Record<string, [number, number]> = { temperature: [-40, 80], humidity: [0, 100], adc: [0, 1024], vdd: [2.4, 3.6] };
    for (let i = 0; i < 3 * 24 * 60; i++) {
      for (const [name, [lo, hi]] of Object.entries(ranges)) {
        const v = m.read(name) as number;
        expect(v).toBeGreaterThanOrEqual(lo);
        expect(v).toBeLessThanOrEqual(hi);
        if (name === "adc") {
          expect(Number.isInteger(v)).toBe(true);
        }
      }
    }
  });

  it("follows a daily cycle and a random walk, with the supply draining", () => {
    const m = model(11, 1, NO_FAULTS, 60_000);
    const temps = series(m, "temperature", 24 * 60) as number[];
    const swing = Math.max(...temps) - Math.min(...temps);
    // The cycle's amplitude is 1.5-4 °C: a day's swing is several degrees, not noise.
    expect(swing).toBeGreaterThan(2);
    expect(swing).toBeLessThan(15);
    const steps = temps.slice(1).map((t, i) => Math.abs(t - temps[i]));
    expect(Math.max(...steps)).toBeLessThan(1);
    const vdd = series(m, "vdd", 24 * 60) as number[];
    expect(vdd.slice(-60).reduce((a, b) => a + b) / 60).toBeLessThan(vdd.slice(0, 60).reduce((a, b) => a + b) / 60);
  });

  it("injects failed reads, stuck values and spikes", () => {
    const m = model();
    const normal = m.read("temperature") as number;
    m.inject("temperature", "fail", 2);
    expect(m.read("temperature")).toMatch(/failure/);
    expect(m.read("temperature")).toMatch(/failure/);
    expect(typeof m.read("temperature")).toBe("number");
    const last = m.read("temperature");
    m.inject("temperature", "stuck", 3);
    expect(series(m, "temperature", 3)).toEqual([last, last, last]);
    m.inject("temperature", "spike", 1);
    expect(Math.abs((m.read("temperature") as number) - normal)).toBeGreaterThan(15);
    expect(m.read("smell")).toMatch(/no simulated sensor/);
  });

  it("a stuck fault injected before the first read has nothing to repeat: reads go on, and the fault is gone", () => {
    const m = model();
    m.inject("temperature", "stuck", 3);
    const reads = series(m, "temperature", 4) as number[];
    expect(reads).toEqual(series(model(), "temperature", 4));
    expect(new Set(reads).size).toBeGreaterThan(1);
  });

  it("draws random faults at the configured rate", () => {
    const m = model(5, 1, { fail: 0.2, stuck: 0, spike: 0, throw: 0 });
    const reads = series(m, "humidity", 2000);
    const failed = reads.filter((r) => typeof r === "string").length;
    expect(failed).toBeGreaterThan(300);
    expect(failed).toBeLessThan(500);
  });

  it("depends on the reads, not on when they happen: the model clock follows the interval", () => {
    let interval = 1000;
    const a = new SensorModel(1, 1, 0, NO_FAULTS, { intervalMs: () => interval });
    const b = new SensorModel(1, 1, 0, NO_FAULTS, { intervalMs: () => interval });
    const first = series(a, "temperature", 10);
    interval = 5000;
    const later = series(a, "temperature", 10);
    interval = 1000;
    expect(series(b, "temperature", 10)).toEqual(first);
    interval = 5000;
    expect(series(b, "temperature", 10)).toEqual(later);
  });

  it("parses --faults", () => {
    expect(parseFaultRates("fail=0.01,stuck=0.001,spike=0.002")).toEqual({ fail: 0.01, stuck: 0.001, spike: 0.002, throw: 0 });
    expect(parseFaultRates("none")).toEqual(NO_FAULTS);
    expect(parseFaultRates("fail=2")).toMatch(/probability per read/);
    expect(parseFaultRates("smoke=0.1")).toMatch(/not a fault rate/);
  });

  it("refuses a kind given twice in --faults (issue 15), and scopes kind=p@node to one node", () => {
    expect(parseFaultPlan("fail=0.1,fail=0.2")).toBe("fail is given twice; give each kind once (e.g. fail=0.1,stuck=0.01)");
    expect(parseFaultPlan("throw=1@node-0002,throw=0.5@node-0002")).toMatch(/^throw is given twice for node-0002/);
    const plan = parseFaultPlan("throw=1@node-0002,fail=0.1,stuck=0.5@node-0003");
    if (typeof plan === "string") {
      throw new Error(plan);
    }
    expect(plan.all).toEqual({ ...NO_FAULTS, fail: 0.1 });
    // A node's own items replace the fleet-wide rate of that kind only, whatever the order.
    expect(faultRatesFor(plan, "node-0002")).toEqual({ ...NO_FAULTS, fail: 0.1, throw: 1 });
    expect(faultRatesFor(plan, "node-0003")).toEqual({ ...NO_FAULTS, fail: 0.1, stuck: 0.5 });
    expect(faultRatesFor(plan, "node-0001")).toEqual(plan.all);
    // Node names are names, never object keys with a meaning.
    const proto = parseFaultPlan("throw=1@__proto__");
    expect(typeof proto !== "string" && faultRatesFor(proto, "node-0001")).toEqual(NO_FAULTS);
    expect(parseFaultRates("throw=1@node-0002")).toMatch(/names a node/);
  });

  it("throws from a read on a throw fault (the drill of fault isolation), injected or at random", () => {
    const m = model();
    m.inject("humidity", "throw", 1);
    expect(() => m.read("humidity")).toThrow(SimulatedSensorException);
    expect(typeof m.read("humidity")).toBe("number");
    const always = model(3, 1, { ...NO_FAULTS, throw: 1 });
    expect(() => always.read("temperature")).toThrow(/--faults throw/);
  });

  it("reads as before when throw is not asked for: the seed reproduces old runs", () => {
    const withFaults = model(9, 2, { ...NO_FAULTS, fail: 0.1 });
    const again = model(9, 2, { ...NO_FAULTS, fail: 0.1, throw: 0 });
    expect(series(withFaults, "temperature", 50)).toEqual(series(again, "temperature", 50));
  });

  it("answers a prototype name with an error, not a crash (issue 15)", () => {
    for (const name of ["constructor", "toString", "__proto__", "hasOwnProperty"]) {
      expect(model().read(name)).toMatch(/^no simulated sensor named/);
    }
  });
});

describe("sensor models share slabs of numbers (issue 14)", () => {
  it("keeps each model's state its own across slabs: reads of one never move another", () => {
    // More models than one slab holds (256), read in an interleaved order.
    const models = Array.from({ length: 600 }, (_, i) => model(4, i + 1));
    // The same reads, each model on its own (a node's sensors share its PRNG stream: same reads, same order).
    const alone = [1, 256, 257, 512, 600].map((n) => {
      const m = model(4, n);
      series(m, "temperature", 20);
      return series(m, "humidity", 20);
    });
    for (let round = 0; round < 20; round++) {
      for (const m of models) {
        m.read("temperature");
      }
    }
    const mine = [1, 256, 257, 512, 600].map((n) => series(models[n - 1], "humidity", 20));
    expect(mine).toEqual(alone);
  });

  it("refuses to inject into a sensor it does not simulate (a row of another node must stay untouched)", () => {
    const m = model();
    expect(() => m.inject("smell" as never, "fail", 1)).toThrow(/no simulated sensor named "smell"/);
  });
});
