/**
 * `espfleet config` against a broker and nodes running the real core
 * (configChange from firmware/core/config.ts), in process: a query (no
 * setting) prints each node's config from its ack and, with a fleet key, is
 * signed so keyed nodes answer it; a rotation sends the new key only
 * encrypted; acks from the wire are parsed field by field (issue 15).
 */
import { createHmac } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import mqtt, { type MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configChange, defaultConfig, type NodeConfig } from "../../firmware/core/config";
import type { Platform } from "../../firmware/core/platform";
import { configCommand, type ConfigFlags } from "../../ops/config/command";
import { startEmbeddedBroker, type EmbeddedBroker } from "../../broker/embedded";

const KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const dir = mkdtempSync(join(tmpdir(), "espfleet-query-"));

/** A node that is only its config and the core's config_change handling, on an MQTT client. */
class CoreNode {
  config: NodeConfig;
  client: MqttClient | undefined;
  constructor(
    readonly id: string,
    over: Partial<NodeConfig>,
  ) {
    this.config = { ...defaultConfig(), node_id: id, ...over };
  }
  async start(url: string, wire: string[]): Promise<void> {
    const client = await mqtt.connectAsync(url, { clientId: this.id, protocolVersion: 4 });
    const platform = {
      decodeJson: (t: string): unknown => {
        try {
          return JSON.parse(t) as unknown;
        } catch {
          return undefined;
        }
      },
      encodeJson: (v: object) => JSON.stringify(v),
      hmacSha256Hex: (key: string, message: string) => createHmac("sha256", key).update(message).digest("hex"),
      writeFile: () => true,
      log: () => undefined,
    } as unknown as Platform;
    client.on("message", (_topic, payload) => {
      const text = payload.toString("utf8");
      wire.push(text);
      const outcome = configChange(platform, this.config, this.id, text);
      if (outcome.apply !== undefined) this.config = outcome.apply;
      if (outcome.ack !== undefined) void client.publishAsync(`config_ack/${this.id}`, outcome.ack, { qos: 1 });
    });
    await client.subscribeAsync("config_change", { qos: 1 });
    this.client = client;
  }
}

function capture(): { out: Writable; text: () => string } {
  const chunks: string[] = [];
  return {
    out: new Writable({
      write(chunk: Buffer, _enc, done) {
        chunks.push(chunk.toString());
        done();
      },
    }),
    text: () => chunks.join(""),
  };
}

describe("espfleet config: query, signing, rotation (issue 15)", () => {
  let broker: EmbeddedBroker;
  const wire: string[] = [];
  const nodes = [new CoreNode("n1", { fleet_key: KEY, config_counter: 100, interval_ms: 2000 }), new CoreNode("n2", { fleet_key: KEY, config_counter: 100, interval_ms: 2000 }), new CoreNode("n3", { fleet_key: KEY, config_counter: 100, sensors: ["adc"] })];
  const flags = (over: Partial<ConfigFlags>): ConfigFlags => ({ broker: broker.url, prefix: "", target: ["n1", "n2", "n3"], timeout: 5000, counterFile: join(dir, "counter"), ...over });

  beforeAll(async () => {
    broker = await startEmbeddedBroker({ port: 0 });
    for (const n of nodes) await n.start(broker.url, wire);
  });
  afterAll(async () => {
    for (const n of nodes) await n.client?.endAsync(true);
    await broker?.close();
  });

  it("with no setting, signs the query (the key from the environment) and prints each node's config", async () => {
    const c = capture();
    const code = await configCommand(flags({ req: "q-1" }), { out: c.out, env: { ESPFLEET_FLEET_KEY: KEY } });
    const out = c.text();
    expect(code, out).toBe(0);
    expect(wire.at(-1)).toMatch(/^\{"sig":"[0-9a-f]{64}","req":"q-1"/);
    expect(out).toContain("applied by 3: n1, n2, n3");
    // grouped by config: n1 and n2 run the same one
    expect(out).toMatch(/^ {2}n1, n2: interval_ms=2000 sensitivity=0 heartbeat_ms=300000 sensors=\["temperature","humidity"\] buffer_capacity=50 qos=1 flush_gap_ms=50$/m);
    expect(out).toMatch(/^ {2}n3: interval_ms=10000 .*sensors=\["adc"\]/m);
    expect(out).not.toContain(KEY);
  });

  it("without the key the query is unsigned and keyed nodes say why they refuse it", async () => {
    const c = capture();
    const code = await configCommand(flags({ req: "q-2", target: ["n1"] }), { out: c.out, env: {} });
    expect(code).toBe(1);
    expect(c.text()).toContain("sig required: this node applies only config changes signed with the fleet key");
  });

  it("rotates the key: the new key never crosses the broker in clear, and the nodes take it", async () => {
    const newKey = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
    writeFileSync(join(dir, "new.key"), newKey + "\n");
    const c = capture();
    const code = await configCommand(flags({ req: "rot", target: ["n1"], newFleetKeyFile: join(dir, "new.key") }), { out: c.out, env: { ESPFLEET_FLEET_KEY: KEY } });
    expect(code, c.text()).toBe(0);
    const sent = wire.at(-1) as string;
    expect(sent).toMatch(/"fleet_key_enc":"[0-9a-f]{64}"/);
    expect(sent).not.toContain(newKey);
    expect(sent).not.toContain('"fleet_key"');
    expect(c.text()).not.toContain(newKey);
    expect(nodes[0].config.fleet_key).toBe(newKey);
    expect(nodes[1].config.fleet_key).toBe(KEY);
  });

  it("refuses a --counter more than a day ahead, before anything is sent", async () => {
    const before = wire.length;
    const ahead = Math.floor(Date.now() / 1000) + 3 * 86400;
    await expect(configCommand(flags({ req: "far", interval: 3000, counter: ahead }), { out: capture().out, env: { ESPFLEET_FLEET_KEY: KEY } })).rejects.toThrow(
      /--counter \d+ is 3 days ahead of now .*re-flash their config\.json/,
    );
    expect(wire.length).toBe(before);
    expect(readFileSync(join(dir, "counter"), "utf8").trim()).not.toBe(String(ahead));
  });

  it("survives acks that are not acks: non-objects, prototype names, wrong types", async () => {
    const forger = await mqtt.connectAsync(broker.url, { clientId: "forger", protocolVersion: 4 });
    const onChange = async (_t: string, payload: Buffer): Promise<void> => {
      const req = (JSON.parse(payload.toString().replace(/^\{"sig":"[0-9a-f]{64}",/, "{")) as { req: string }).req;
      for (const forged of ["null", "[]", "42", '"x"', `{"id":"__proto__","req":"${req}","result":"rejected","errors":"not a list"}`, `{"id":"constructor","req":"${req}","result":"applied","config":{"__proto__":{"x":1},"toString":1}}`, `{"id":{"x":1},"req":"${req}","result":"applied"}`, `{"id":"toString","req":"${req}","result":"rejected","errors":[null,1,{"key":1},{"key":"k","reason":"r"}]}`]) {
        await forger.publishAsync("config_ack/forged", forged, { qos: 1 });
      }
    };
    forger.on("message", (t, p) => void onChange(t, p));
    await forger.subscribeAsync("config_change", { qos: 1 });
    const c = capture();
    const code = await configCommand(flags({ req: "q-3", target: ["n2", "__proto__", "constructor", "toString"] }), { out: c.out, env: { ESPFLEET_FLEET_KEY: KEY } });
    await forger.endAsync(true);
    const out = c.text();
    expect(out).toContain("applied by 2: constructor, n2");
    expect(out).toMatch(/^ {2}constructor: __proto__=\{"x":1\} toString=1$/m);
    expect(out).toContain("rejected by 2:");
    expect(out).toMatch(/__proto__: no reason given/);
    expect(out).toMatch(/toString: k r/);
    expect(code).toBe(1);
  });
});
