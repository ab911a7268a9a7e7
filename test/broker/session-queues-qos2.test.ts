/**
 * QoS 2 on the embedded broker kept in a folder (broker/broker-store.ts,
 * session-queues.ts): what was queued at QoS 2 for an offline persistent
 * session survives a restart and then reaches the session exactly once; a
 * message the session had received (PUBREC) when the broker went down gets
 * only its PUBREL afterwards, with the same packet id, not a second PUBLISH.
 * Exactly once is checked up to a marker published after the queue: the
 * broker sends a session's queue before any live message.
 * The second test speaks MQTT itself (mqtt-packet on a socket), because it
 * must stop half-way through the QoS 2 handshake, which mqtt.js never does.
 */
import mqtt, { type MqttClient } from "mqtt";
import { describe, expect, it } from "vitest";
import { startEmbeddedBroker } from "../../broker/embedded";
import { until } from "../e2e/support/observer";
import { RawClient } from "./support/raw-client";
import { storeFolders } from "./support/store-folders";

const folder = storeFolders("session-queues-qos2");

const TOPIC = "t/sensor_data";
const MARKER = "marker";

/** A persistent QoS 2 subscriber on mqtt.js: records each message mqtt.js hands over (at the PUBREL: once per QoS 2 delivery). */
class Session {
  readonly got: string[] = [];
  private client: MqttClient | undefined = undefined;

  constructor(
    private readonly url: () => string,
    readonly id: string,
  ) {}

  /** Connects (clean session off) and subscribes at QoS 2; resolves to CONNACK's session-present flag. */
  async connect(): Promise<boolean> {
    const client = mqtt.connect(this.url(), { clientId: this.id, clean: false, protocolVersion: 4, reconnectPeriod: 0, resubscribe: false, manualConnect: true });
    // Set before CONNACK: queued messages can arrive in the same read.
    client.on("message", (_topic, payload) => this.got.push(payload.toString()));
    const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
      client.once("connect", resolve);
      client.once("error", reject);
      client.connect();
    });
    this.client = client;
    await client.subscribeAsync(TOPIC, { qos: 2 });
    return connack.sessionPresent;
  }

  async disconnect(): Promise<void> {
    await this.client?.endAsync();
    this.client = undefined;
  }
}

/** Publishes `texts` at QoS 2, each complete (PUBCOMP) before the call resolves. */
async function publishQos2(url: string, texts: string[]): Promise<void> {
  const client = await mqtt.connectAsync(url, { clientId: `pub-${Math.random().toString(36).slice(2, 10)}`, protocolVersion: 4 });
  await Promise.all(texts.map((text) => client.publishAsync(TOPIC, text, { qos: 2 })));
  await client.endAsync();
}

const texts = (from: number, to: number): string[] => Array.from({ length: to - from + 1 }, (_, i) => `m${from + i}`);

describe("QoS 2 on the embedded broker kept in a folder", () => {
  it("QoS 2 messages queued for an offline persistent session survive a restart and are delivered exactly once afterwards", async () => {
    const store = folder("restart");
    let broker = await startEmbeddedBroker({ port: 0, store });
    const port = broker.port;
    const session = new Session(() => broker.url, "qos2-restart");
    expect(await session.connect()).toBe(false);
    await session.disconnect();

    const queued = texts(1, 200);
    await publishQos2(broker.url, queued);
    expect(broker.store?.persistence.queues.totals()).toEqual({ sessions: 1, messages: 200 });
    await broker.close();

    broker = await startEmbeddedBroker({ port, store });
    expect(broker.store?.found).toEqual({ sessions: 1, messages: 200 });
    expect(await session.connect()).toBe(true);
    await until(() => session.got.length >= 200, 10_000, "the 200 queued messages");
    // Every PUBCOMP reached the broker: nothing left queued.
    await until(() => broker.store?.persistence.queues.totals().messages === 0, 5000, "the queue emptied by the PUBCOMPs");
    await session.disconnect();
    await broker.close();

    // Once means once across the next restart too: nothing of it is kept, and what comes next is only new.
    broker = await startEmbeddedBroker({ port, store });
    expect(broker.store?.found).toEqual({ sessions: 0, messages: 0 });
    expect(await session.connect()).toBe(true);
    // A queue goes out before anything live, so when the marker is in, anything sent again would be too.
    await publishQos2(broker.url, [MARKER]);
    await until(() => session.got.includes(MARKER), 5000, "the marker");
    expect(session.got.at(-1)).toBe(MARKER);
    // In publish order too: one publisher's QoS 2 messages keep their order on a folder (broker/in-order.ts).
    expect(session.got.slice(0, -1)).toEqual(queued);
    await session.disconnect();
    await broker.close();
  });

  it("a QoS 2 message received (PUBREC) but not completed when the broker stops gets its PUBREL after the restart, not a second PUBLISH", async () => {
    const store = folder("half-way");
    let broker = await startEmbeddedBroker({ port: 0, store });
    const port = broker.port;
    const id = "qos2-half-way";
    const session = new Session(() => broker.url, id);
    await session.connect();
    await session.disconnect();
    await publishQos2(broker.url, texts(1, 10));
    await broker.close();

    // After a first restart the session reads its queue, answers PUBREC to the first five only and stops there.
    broker = await startEmbeddedBroker({ port, store });
    let raw = await RawClient.connect(port, id);
    expect(raw.connack?.sessionPresent).toBe(true);
    await until(() => raw.publishes().length >= 10, 5000, "the 10 queued PUBLISHes");
    const first = raw.publishes();
    expect(first.map((p) => p.payload.toString())).toEqual(texts(1, 10));
    expect(first.every((p) => p.qos === 2)).toBe(true);
    // Never sent before (queued while the session was away): DUP 0.
    expect(first.every((p) => !p.dup)).toBe(true);
    const received = first.slice(0, 5);
    const notReceived = first.slice(5).map((p) => p.payload.toString());
    for (const p of received) {
      raw.send({ cmd: "pubrec", messageId: p.messageId as number });
    }
    // The broker answers each PUBREC with a PUBREL once it has written down that the session has the message.
    await until(() => raw.pubrels().length >= 5, 5000, "5 PUBRELs");
    expect(raw.pubrels().map((p) => p.messageId)).toEqual(received.map((p) => p.messageId));
    await raw.cut();
    await broker.close();

    broker = await startEmbeddedBroker({ port, store });
    expect(broker.store?.found).toEqual({ sessions: 1, messages: 10 });
    raw = await RawClient.connect(port, id);
    expect(raw.connack?.sessionPresent).toBe(true);
    // 10 packets are owed: a PUBREL or a PUBLISH for each message.
    await until(() => raw.pubrels().length + raw.publishes().length >= 10, 5000, "a packet for each of the 10 messages");
    // The five it received: only the PUBREL, under the packet ids the session knows them by (MQTT-4.4.0-1).
    expect(raw.pubrels().map((p) => p.messageId)).toEqual(received.map((p) => p.messageId));
    // The other five: sent again, as the session never acknowledged them, under their first ids, DUP 1 (MQTT-4.4.0-1, 3.3.1-1).
    expect(raw.publishes().map((p) => p.payload.toString())).toEqual(notReceived);
    expect(raw.publishes().map((p) => p.messageId)).toEqual(first.slice(5).map((p) => p.messageId));
    expect(raw.publishes().every((p) => p.dup)).toBe(true);
    for (const p of raw.pubrels()) {
      raw.send({ cmd: "pubcomp", messageId: p.messageId as number });
    }
    for (const p of raw.publishes()) {
      raw.send({ cmd: "pubrec", messageId: p.messageId as number });
    }
    await until(() => raw.pubrels().length >= 10, 5000, "the PUBRELs of the other five");
    for (const p of raw.pubrels().slice(5)) {
      raw.send({ cmd: "pubcomp", messageId: p.messageId as number });
    }
    await until(() => broker.store?.persistence.queues.totals().messages === 0, 5000, "the queue emptied by the PUBCOMPs");
    // Nothing else comes: the marker, published after, is the next and last PUBLISH.
    await publishQos2(broker.url, [MARKER]);
    await until(() => raw.publishes().some((p) => p.payload.toString() === MARKER), 5000, "the marker");
    expect(raw.publishes().map((p) => p.payload.toString())).toEqual([...notReceived, MARKER]);
    await raw.cut();
    await broker.close();
  });
});
