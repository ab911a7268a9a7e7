/**
 * The simulator's cfg module (simulator/fast-cfg.ts) is cold.ts with every
 * config copied into one object literal: the same keys in the schema's
 * order, the same values, the same JSON, the same outcomes and files.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as cold from "../../firmware/core/cold";
import { schema } from "../../firmware/core/config";
import type { NodeConfig } from "../../firmware/core/config-types";
import type { Platform } from "../../firmware/core/platform";
import { fastCfg, fastConfig } from "../../simulator/fast-cfg";
import { FleetCounters } from "../../simulator/fleet-counters";
import { NodePlatform } from "../../simulator/node-platform";
import { NodeStorage } from "../../simulator/node-storage";
import { Prng } from "../../simulator/prng";
import { NO_FAULTS, SensorModel } from "../../simulator/sensor-model";

const keys = schema().map((spec) => spec[0]);

/** Each test folder's storage, to flush it. */
const storages = new Map<string, NodeStorage>();

function platform(dir: string, id = "node-0001"): NodePlatform {
  const storage = new NodeStorage(dir);
  storages.set(dir, storage);
  const sensors = new SensorModel(1, 1, 0, NO_FAULTS, { intervalMs: () => 1000 });
  return new NodePlatform(id, storage.forNode(id), sensors, new Prng(1, 2), {
    counters: new FleetCounters(),
    dataTopic: "sensor_data",
    ackTopicPrefix: "config_ack/",
    tls: undefined,
    log: () => undefined,
  });
}

/** Same keys in the same order, same values, same JSON. */
function expectSameConfig(fast: NodeConfig, plain: NodeConfig): void {
  expect(Object.keys(fast)).toEqual(keys);
  expect(Object.keys(plain)).toEqual(keys);
  expect(fast).toEqual(plain);
  expect(JSON.stringify(fast)).toBe(JSON.stringify(plain));
}

describe("fast-cfg: cold.ts with configs in one V8 shape", () => {
  it("the literal holds every schema key, in the schema's order", () => {
    expectSameConfig(fastConfig(cold.defaultConfig()), cold.defaultConfig());
    expectSameConfig(fastCfg.defaultConfig(), cold.defaultConfig());
    const changed = { ...cold.defaultConfig(), interval_ms: 250, sensitivity: 0.25, sensors: ["adc", "vdd"] };
    expectSameConfig(fastCfg.copyConfig(changed), cold.copyConfig(changed));
  });

  it("boot and config_change: the same outcome, ack and stored file as cold.ts", async () => {
    const results = [];
    for (const module of [cold, fastCfg]) {
      const dir = mkdtempSync(join(tmpdir(), "espfleet-fast-cfg-"));
      const p: Platform = platform(dir);
      const booted = module.boot(p);
      const payloads = [
        '{"interval_ms":500,"sensitivity":0.5,"req":"r1"}',
        '{"sensors":["temperature","adc"],"buffer_capacity":7,"target":"node-0001","req":"r2"}',
        '{"interval_ms":5,"req":"bad"}',
        '{"nope":1}',
        '{"target":"node-0002","interval_ms":700}',
      ];
      let config = booted.config;
      const outcomes: { apply: NodeConfig | undefined; ack: string | undefined }[] = [];
      for (const payload of payloads) {
        const outcome = module.configChange(p, config, booted.id, payload);
        outcomes.push(outcome);
        config = outcome.apply ?? config;
      }
      // The platform's writes go through the group commit: on disk once the storage is flushed.
      await storages.get(dir)?.flush();
      results.push({ booted, outcomes, stored: readFileSync(join(dir, "node-0001", "config.json"), "utf8"), boot: readFileSync(join(dir, "node-0001", "boot.txt"), "utf8") });
    }
    const [plain, fast] = results;
    expectSameConfig(fast.booted.config, plain.booted.config);
    expect({ ...fast.booted, config: undefined }).toEqual({ ...plain.booted, config: undefined });
    expect(fast.outcomes.map((o) => o.ack)).toEqual(plain.outcomes.map((o) => o.ack));
    for (const [i, outcome] of fast.outcomes.entries()) {
      const other = plain.outcomes[i].apply;
      if (outcome.apply === undefined || other === undefined) {
        expect(outcome.apply, `change ${i}`).toBe(other);
      } else {
        expectSameConfig(outcome.apply, other);
      }
    }
    expect(fast.stored).toBe(plain.stored);
    expect(fast.boot).toBe(plain.boot);
  });

  it("the node's platform hands out fast-cfg", () => {
    expect(platform(mkdtempSync(join(tmpdir(), "espfleet-fast-cfg-"))).loadModule()).toBe(fastCfg);
  });
});
