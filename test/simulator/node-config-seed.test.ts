import { describe, expect, it } from "vitest";
import type { BrokerTarget } from "../../broker/target";
import { CliError } from "../../common/errors";
import { checkFleetSettings, seedConfig } from "../../simulator/node-config-seed";

const broker: BrokerTarget = { url: "mqtt://10.0.0.5:1884", host: "10.0.0.5", port: 1884, secure: false, username: "u", password: "p", ca: undefined, embedded: false };

describe("the config a simulated node boots from (simulator/node-config-seed.ts)", () => {
  it("takes the connection from the fleet and run-time settings from the options when nothing is stored", () => {
    const { config, kept } = seedConfig("node-0007", undefined, { broker, initial: { interval_ms: 2000 }, fixed: { topic_prefix: "site1" } });
    expect(config).toMatchObject({
      node_id: "node-0007",
      mqtt_host: "10.0.0.5",
      mqtt_port: 1884,
      mqtt_user: "u",
      mqtt_password: "p",
      topic_prefix: "site1",
      interval_ms: 2000,
      sensitivity: 0,
    });
    expect(kept).toEqual([]);
  });

  it("keeps run-time settings a config_change stored, but not the connection", () => {
    const stored = { interval_ms: 700, sensitivity: 0.5, mqtt_host: "old-host", node_id: "other", topic_prefix: "old" };
    const { config, kept } = seedConfig("node-0007", stored, { broker, initial: { interval_ms: 2000, sensitivity: 0 }, fixed: { topic_prefix: "site1" } });
    expect(config).toMatchObject({ interval_ms: 700, sensitivity: 0.5, mqtt_host: "10.0.0.5", node_id: "node-0007", topic_prefix: "site1" });
    expect(kept.sort()).toEqual(["interval_ms", "sensitivity"]);
  });

  it("an option given explicitly (in fixed) wins over the stored value and is not counted as kept (issue 12)", () => {
    const stored = { interval_ms: 2000, sensitivity: 0.5 };
    const { config, kept } = seedConfig("node-0007", stored, { broker, initial: { sensitivity: 0 }, fixed: { interval_ms: 500, topic_prefix: "" } });
    expect(config).toMatchObject({ interval_ms: 500, sensitivity: 0.5 });
    expect(kept).toEqual(["sensitivity"]);
  });

  it("ignores stored values the schema refuses", () => {
    const { config } = seedConfig("n", { interval_ms: 5, sensors: "all" }, { broker, initial: { interval_ms: 1000 }, fixed: {} });
    expect(config.interval_ms).toBe(1000);
    expect(config.sensors).toEqual(["temperature", "humidity"]);
  });

  it("refuses options the node would refuse, naming the option and the bounds", () => {
    const check = () => checkFleetSettings({ broker, initial: { interval_ms: 50 }, fixed: { reconnect_min_ms: 5000, reconnect_max_ms: 1000 } }, (k) => (k === "interval_ms" ? "--interval" : k));
    expect(check).toThrow(CliError);
    expect(check).toThrow(/--interval: interval_ms must be a whole number from 100/);
    expect(check).toThrow(/reconnect_min_ms must not exceed reconnect_max_ms/);
  });
});
