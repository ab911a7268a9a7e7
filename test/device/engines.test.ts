/**
 * The same scenario on both engines of `espfleet run`, against one aedes:
 * the TypeScript core (Fleet) and virtual devices running the built firmware
 * (LuaFleet, `--engine lua`). Two nodes each, the same options; a
 * config_change mid-run; a stop. The messages must agree: topics, reading
 * keys, seq 1..n without gaps, status payloads, and the config acks (as
 * parsed JSON). Sensor values differ (each engine has its own sensor model),
 * so readings are compared by structure.
 */
import { afterAll, describe, expect, it } from "vitest";
import type { BrokerTarget } from "../../broker/target";
import { Fleet, type FleetOptions } from "../../simulator/fleet";
import { LuaFleet } from "../../simulator/lua-engine";
import { Observer, type Received, startAedes, type TestBroker, waitFor } from "./support/brokers";
import { removeDir, requireBuiltFirmware, tempDir } from "./support/harness";

const IDS = ["node-0001", "node-0002"];
type Json = Record<string, unknown>;

interface Runner {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** What one engine's run said on the broker, by node, in arrival order. */
interface Transcript {
  topics: string[];
  readings: Record<string, Json[]>;
  status: Record<string, Json[]>;
  acks: Record<string, Json[]>;
}

describe("the TypeScript and the Lua engine", () => {
  let broker: TestBroker | undefined;
  let observer: Observer | undefined;
  const runners: Runner[] = [];
  const root = tempDir("engines");

  afterAll(async () => {
    for (const r of runners) {
      await r.stop().catch(() => undefined);
    }
    await observer?.close();
    await broker?.close();
    removeDir(root);
  });

  it("send the same messages for the same scenario", async () => {
    requireBuiltFirmware();
    broker = await startAedes();
    const obs = await Observer.connect(broker.url);
    observer = obs;
    const target: BrokerTarget = {
      url: broker.url,
      host: "127.0.0.1",
      port: broker.port,
      secure: false,
      username: "",
      password: "",
      ca: undefined,
      embedded: false,
    };
    const options = (engine: string): FleetOptions => ({
      broker: target,
      first: 1,
      count: IDS.length,
      stateDir: `${root}/${engine}`,
      fresh: true,
      seed: 7,
      // Not adc and vdd together: a real ESP8266 reads one or the other (adc.force_init_mode),
      // and so does the virtual one (a failed vdd read and an event each sample).
      initial: { interval_ms: 400, sensitivity: 0, sensors: ["temperature", "humidity", "adc"], qos: 1 },
      fixed: { reconnect_min_ms: 1000, reconnect_max_ms: 60_000 },
      connectRate: 100,
    });

    // One engine after the other: both use the same node ids (and so the same client ids).
    const ts = await scenario(obs, new Fleet(options("ts")), runners);
    const lua = await scenario(obs, new LuaFleet({ ...options("lua"), heapKb: 40, device: { wifiJoinDelayMs: 20 } }), runners);

    expect(lua.topics).toEqual(ts.topics);
    for (const id of IDS) {
      for (const t of [ts, lua]) {
        // seq counts 1..n without a gap, on both engines.
        expect(t.readings[id].map((r) => r.seq)).toEqual(t.readings[id].map((_, i) => i + 1));
      }
      expect(keysOf(lua.readings[id])).toEqual(keysOf(ts.readings[id]));
      expect(lua.readings[id].every((r) => r.id === id)).toBe(true);
      // online at connect, offline at the stop (said by the node, or its last will: the same payload).
      expect(lua.status[id]).toEqual(ts.status[id]);
      expect(ts.status[id].map((s) => s.state)).toEqual(["online", "offline"]);
      expect(lua.acks[id]).toEqual(ts.acks[id]);
      expect(ts.acks[id]).toHaveLength(1);
      expect(ts.acks[id][0]).toMatchObject({ id, result: "applied", req: "x" });
      expect((ts.acks[id][0].config as Json).interval_ms).toBe(300);
    }
  }, 30_000);
});

/** Start the fleet, wait for readings, change the interval, wait for the acks and more readings, stop. */
async function scenario(obs: Observer, runner: Runner, runners: Runner[]): Promise<Transcript> {
  const from = obs.messages.length;
  const mine = (): Received[] => obs.messages.slice(from);
  const readingsOf = (id: string): Json[] => mine().filter((m) => m.topic === "sensor_data").map((m) => JSON.parse(m.payload) as Json).filter((r) => r.id === id);
  runners.push(runner);
  await runner.start();
  await waitFor("3 readings from each node", () => IDS.every((id) => readingsOf(id).length >= 3), 12_000);
  await obs.publish("config_change", JSON.stringify({ interval_ms: 300, req: "x" }));
  await waitFor("an ack from each node", () => IDS.every((id) => mine().some((m) => m.topic === `config_ack/${id}`)), 5000);
  const after = Object.fromEntries(IDS.map((id) => [id, readingsOf(id).length]));
  await waitFor("2 more readings from each node", () => IDS.every((id) => readingsOf(id).length >= after[id] + 2), 5000);
  await runner.stop();
  runners.splice(runners.indexOf(runner), 1);
  await waitFor("offline from each node", () => IDS.every((id) => mine().some((m) => m.topic === `status/${id}` && m.payload.includes('"offline"'))), 5000);

  const messages = mine();
  const parsed = (topic: string): Json[] => messages.filter((m) => m.topic === topic).map((m) => JSON.parse(m.payload) as Json);
  return {
    topics: [...new Set(messages.map((m) => m.topic))].sort(),
    readings: Object.fromEntries(IDS.map((id) => [id, readingsOf(id)])),
    status: Object.fromEntries(IDS.map((id) => [id, parsed(`status/${id}`)])),
    acks: Object.fromEntries(IDS.map((id) => [id, parsed(`config_ack/${id}`)])),
  };
}

function keysOf(readings: Json[]): string[] {
  return [...new Set(readings.flatMap((r) => Object.keys(r)))].sort();
}
