/**
 * Live delivery through the embedded broker (broker/live-filter.ts): every
 * QoS 1 message reaches a connected subscriber while other clients publish
 * at QoS 0 and 2 at the same time, and a client whose subscriptions overlap
 * gets one copy of each message. Real mqtt.js clients over TCP, the broker
 * in memory and on a folder.
 */
import mqtt, { type MqttClient } from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import type { BrokerStoreSpec } from "../../broker/broker-store";
import { startEmbeddedBroker, type EmbeddedBroker } from "../../broker/embedded";
import { until } from "../e2e/support/observer";
import { storeFolders } from "./support/store-folders";

const COUNT = 1000;

const folder = storeFolders("live-delivery");

let broker: EmbeddedBroker | undefined;
const clients: MqttClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
  await broker?.close();
  broker = undefined;
});

async function connect(url: string, options: mqtt.IClientOptions = {}): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, ...options });
  clients.push(client);
  return client;
}

/** Publishes `count` messages `<prefix>-<n>` on `topic` at `qos`, all at once (the broker sees them in few reads). */
async function publishAll(client: MqttClient, topic: string, prefix: string, qos: 0 | 1 | 2, count: number): Promise<void> {
  const sent: Promise<unknown>[] = [];
  for (let n = 1; n <= count; n++) {
    sent.push(client.publishAsync(topic, `${prefix}-${n}`, { qos }));
  }
  await Promise.all(sent);
}

const stores: Array<[string, () => BrokerStoreSpec]> = [
  ["memory", () => ({ kind: "memory" })],
  ["a folder", () => folder(`store-${Date.now()}-${Math.random()}`)],
];

describe.each(stores)("live delivery, the broker's sessions in %s", (_name, store) => {
  it.each([0, 2] as const)("a subscriber gets every QoS 1 message while another client publishes at QoS %s", async (otherQos) => {
    broker = await startEmbeddedBroker({ port: 0, store: store() });
    // Both a clean subscriber (a console, `watch`) and a persistent one (a collector) that stays connected.
    const clean = await connect(broker.url, { clientId: "live-clean", clean: true });
    const persistent = await connect(broker.url, { clientId: "live-persistent", clean: false });
    const got = { clean: [] as string[], persistent: [] as string[] };
    clean.on("message", (_t, payload) => got.clean.push(payload.toString()));
    persistent.on("message", (_t, payload) => got.persistent.push(payload.toString()));
    await clean.subscribeAsync("t/#", { qos: 1 });
    await persistent.subscribeAsync("t/#", { qos: 1 });
    const one = await connect(broker.url, { clientId: "pub-qos1" });
    const other = await connect(broker.url, { clientId: "pub-other" });

    await Promise.all([publishAll(one, "t/one", "one", 1, COUNT), publishAll(other, "t/other", "other", otherQos, COUNT)]);
    const expected = Array.from({ length: COUNT }, (_, i) => `one-${i + 1}`);
    for (const side of ["clean", "persistent"] as const) {
      // Waits a while for stragglers, then compares (a lost message fails the comparison, not the wait).
      await until(() => got[side].filter((m) => m.startsWith("one-")).length >= COUNT, 10_000, `${side}: all ${COUNT} QoS 1 messages`).catch(() => undefined);
      // Each QoS 1 message once, in the order published (one publisher, one topic).
      expect(got[side].filter((m) => m.startsWith("one-"))).toEqual(expected);
    }
  });

  it("a client whose subscriptions overlap gets one copy of each message", async () => {
    broker = await startEmbeddedBroker({ port: 0, store: store() });
    const sub = await connect(broker.url, { clientId: "overlap", clean: true });
    const got: string[] = [];
    sub.on("message", (_t, payload) => got.push(payload.toString()));
    await sub.subscribeAsync({ "t/#": { qos: 1 }, "t/+": { qos: 1 }, "t/one": { qos: 0 } });
    const pub = await connect(broker.url, { clientId: "overlap-pub" });
    await publishAll(pub, "t/one", "m", 1, 50);
    await publishAll(pub, "t/one", "q0", 0, 50);
    // A marker after both runs: once it is in, every earlier message (and every copy of one) is too.
    await pub.publishAsync("t/end", "end", { qos: 1 });
    await until(() => got.includes("end"), 10_000, "the end marker");
    const expected = [...Array.from({ length: 50 }, (_, i) => `m-${i + 1}`), ...Array.from({ length: 50 }, (_, i) => `q0-${i + 1}`), "end"];
    expect(got).toEqual(expected);
  });

  it("retained messages reach a new subscriber after live traffic", async () => {
    broker = await startEmbeddedBroker({ port: 0, store: store() });
    const pub = await connect(broker.url, { clientId: "retain-pub" });
    await pub.publishAsync("status/a", "kept", { qos: 1, retain: true });
    await publishAll(pub, "t/x", "x", 1, 20);
    const sub = await connect(broker.url, { clientId: "retain-sub", clean: true });
    const got: string[] = [];
    sub.on("message", (_t, payload) => got.push(payload.toString()));
    await sub.subscribeAsync(["t/#", "status/#"], { qos: 1 });
    await until(() => got.includes("kept"), 10_000, "the retained status");
    expect(got).toEqual(["kept"]);
  });
});
