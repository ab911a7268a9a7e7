/**
 * The embedded broker's queues for persistent sessions (broker/session-queues.ts,
 * queue-store.ts, drop-counter.ts), through real MQTT clients: order while a
 * session catches up with live traffic going on, the bound (newest dropped,
 * counted on $SYS/espfleet/dropped/<id>), restarts on a folder, clean
 * sessions, QoS 2, the folder's lock; and the in-memory index they rest on.
 */
import mqtt, { type MqttClient } from "mqtt";
import { describe, expect, it } from "vitest";
import { openBrokerStore } from "../../broker/broker-store";
import { decodeDropCount, droppedTopic } from "../../broker/dropped";
import { startEmbeddedBroker, type EmbeddedBroker } from "../../broker/embedded";
import { SeqIndex } from "../../broker/seq-index";
import { until } from "../e2e/support/observer";
import { storeFolders } from "./support/store-folders";

const folder = storeFolders("session-queues");

/** A persistent subscriber that records what it receives (topic and payload text), in order. */
class Session {
  readonly got: { topic: string; text: string }[] = [];
  private client: MqttClient | undefined = undefined;

  constructor(
    private readonly url: string,
    readonly id: string,
    private readonly topics: string[],
    private readonly qos: 1 | 2 = 1,
  ) {}

  async connect(): Promise<boolean> {
    const client = mqtt.connect(this.url, { clientId: this.id, clean: false, protocolVersion: 4, reconnectPeriod: 0, resubscribe: false, manualConnect: true });
    // Set before CONNACK: queued messages can arrive in the same read.
    client.on("message", (topic, payload) => this.got.push({ topic, text: payload.toString() }));
    const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
      client.once("connect", resolve);
      client.once("error", reject);
      client.connect();
    });
    this.client = client;
    await client.subscribeAsync(this.topics, { qos: this.qos });
    return connack.sessionPresent;
  }

  async disconnect(): Promise<void> {
    await this.client?.endAsync();
    this.client = undefined;
  }

  /** The seq of each reading received, per node, in arrival order. */
  readings(): Map<string, number[]> {
    const out = new Map<string, number[]>();
    for (const { topic, text } of this.got) {
      if (!topic.startsWith("$")) {
        const r = JSON.parse(text) as { id: string; seq: number };
        out.set(r.id, [...(out.get(r.id) ?? []), r.seq]);
      }
    }
    return out;
  }

  /** The last drop count received for `clientId` (default: this session's). */
  drops(clientId = this.id): number | undefined {
    const last = this.got.filter((m) => m.topic === droppedTopic(clientId)).pop();
    return last === undefined ? undefined : decodeDropCount(last.topic, Buffer.from(last.text))?.dropped;
  }
}

/** Publishes node-shaped readings at QoS 1, a seq per node, awaiting each PUBACK. */
class Publisher {
  private constructor(
    private readonly client: MqttClient,
    private readonly seqs: Map<string, number>,
  ) {}

  /** `seqs`: each node's last seq, to go on from a publisher of before (a restart). */
  static async connect(url: string, seqs = new Map<string, number>()): Promise<Publisher> {
    return new Publisher(await mqtt.connectAsync(url, { clientId: `pub-${Math.random().toString(36).slice(2, 10)}`, protocolVersion: 4 }), seqs);
  }

  /** `count` readings round-robin over `nodes` nodes, 100 in flight at a time. */
  async publish(topic: string, nodes: number, count: number): Promise<void> {
    for (let i = 0; i < count; i += 100) {
      await Promise.all(
        Array.from({ length: Math.min(100, count - i) }, (_, k) => {
          const id = `n${(i + k) % nodes}`;
          const seq = (this.seqs.get(id) ?? 0) + 1;
          this.seqs.set(id, seq);
          return this.client.publishAsync(topic, JSON.stringify({ id, seq, boot: 1 }), { qos: 1 });
        }),
      );
    }
  }

  end(): Promise<void> {
    return this.client.endAsync();
  }
}

const inOrder = (seqs: number[]): boolean => seqs.every((s, i) => s === i + 1);

describe("queues of persistent sessions on the embedded broker", () => {
  it("a session catching up gets its queue and then the live messages, each once, in order per node, while publishers go on", async () => {
    const broker = await startEmbeddedBroker({ port: 0, store: folder("order") });
    const session = new Session(broker.url, "catch-up", ["t/sensor_data"]);
    await session.connect();
    await session.disconnect();
    const pub = await Publisher.connect(broker.url);
    await pub.publish("t/sensor_data", 20, 4000);
    // Live traffic all through the catch-up: aedes alone sent these before the queue (thousands out of order).
    let live = true;
    const going = (async () => {
      let n = 0;
      while (live) {
        await pub.publish("t/sensor_data", 20, 40);
        n += 40;
      }
      return n;
    })();
    await session.connect();
    await until(() => session.got.length >= 4400, 20_000, "the queue and some live messages");
    live = false;
    const liveCount = await going;
    await until(() => session.got.length === 4000 + liveCount, 10_000, "every message");
    const readings = session.readings();
    expect(readings.size).toBe(20);
    for (const [node, seqs] of readings) {
      expect(inOrder(seqs), `${node}: ${seqs.join(",").slice(0, 200)}`).toBe(true);
    }
    // Every PUBACK reached the broker: nothing left queued.
    await until(() => broker.store?.persistence.queues.totals().messages === 0, 5000, "the queue emptied by the acknowledgements");
    await session.disconnect();
    await pub.end();
    await broker.close();
  });

  it("an offline session keeps the oldest --broker-queue messages; newer ones are dropped and counted on $SYS/espfleet/dropped/<id>, retained", async () => {
    const log: string[] = [];
    const broker = await startEmbeddedBroker({ port: 0, queueLimit: 100, log: (line) => log.push(line) });
    const session = new Session(broker.url, "bounded", ["t/sensor_data", droppedTopic("bounded")]);
    await session.connect();
    await session.disconnect();
    const pub = await Publisher.connect(broker.url);
    await pub.publish("t/sensor_data", 1, 250);
    expect(broker.store?.persistence.queues.totals()).toEqual({ sessions: 1, messages: 100 });
    expect(log.join("\n")).toContain("the queue of offline session bounded is full (100 messages, --broker-queue): newer messages for it are dropped");
    // Someone else may read the count: it is retained.
    const watcher = new Session(broker.url, "watcher", [droppedTopic("bounded")]);
    await watcher.connect();
    await until(() => watcher.drops("bounded") === 150, 5000, "the retained count");
    await session.connect();
    await until(() => session.got.length === 101, 5000, "the 100 kept and the count");
    expect(session.readings().get("n0")).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(session.drops()).toBe(150);
    // Connected, it is not bounded: the queue is only for while it is away.
    await pub.publish("t/sensor_data", 1, 150);
    await until(() => session.got.length === 251, 5000, "live messages beyond the limit");
    await Promise.all([session.disconnect(), watcher.disconnect(), pub.end()]);
    await broker.close();
  });

  it("a folder keeps queues, numbers and the drop count across a restart; counting goes on from there", async () => {
    const store = folder("restart");
    let broker = await startEmbeddedBroker({ port: 0, store, queueLimit: 300 });
    const port = broker.port;
    const session = new Session(broker.url, "restarted", ["t/sensor_data", droppedTopic("restarted")]);
    await session.connect();
    await session.disconnect();
    const seqs = new Map<string, number>();
    let pub = await Publisher.connect(broker.url, seqs);
    await pub.publish("t/sensor_data", 3, 200);
    await pub.end();
    await broker.close();

    broker = await startEmbeddedBroker({ port, store, queueLimit: 300 });
    expect(broker.store?.found).toEqual({ sessions: 1, messages: 200 });
    pub = await Publisher.connect(broker.url, seqs);
    // Seqs 67.. of each node after the restart: they must come after the first 200, and past 300 be dropped.
    await pub.publish("t/sensor_data", 3, 150);
    await pub.end();
    await broker.close();

    broker = await startEmbeddedBroker({ port, store, queueLimit: 300 });
    expect(await session.connect()).toBe(true);
    await until(() => session.got.length === 301, 10_000, "300 kept and the count");
    expect(session.drops()).toBe(50);
    const readings = session.readings();
    for (const [node, seqs] of readings) {
      expect(inOrder(seqs), node).toBe(true);
    }
    expect([...readings.values()].reduce((n, s) => n + s.length, 0)).toBe(300);
    await session.disconnect();
    await broker.close();
  });

  it("a client id that connects with a clean session drops the stored session and its queue", async () => {
    const broker = await startEmbeddedBroker({ port: 0, store: folder("clean") });
    const session = new Session(broker.url, "cleaned", ["t/sensor_data"]);
    await session.connect();
    await session.disconnect();
    const pub = await Publisher.connect(broker.url);
    await pub.publish("t/sensor_data", 1, 50);
    const clean = await mqtt.connectAsync(broker.url, { clientId: "cleaned", clean: true, protocolVersion: 4 });
    await clean.endAsync();
    expect(broker.store?.persistence.queues.totals()).toEqual({ sessions: 0, messages: 0 });
    expect(await session.connect()).toBe(false);
    await Promise.all([session.disconnect(), pub.end()]);
    await broker.close();
  });

  it("a QoS 2 subscriber gets what was queued while it was away, once", async () => {
    const broker = await startEmbeddedBroker({ port: 0 });
    const session = new Session(broker.url, "qos2", ["t/sensor_data"], 2);
    await session.connect();
    await session.disconnect();
    const pub = await Publisher.connect(broker.url);
    await pub.publish("t/sensor_data", 2, 60);
    await session.connect();
    await until(() => session.got.length === 60, 5000, "60 messages");
    await new Promise((r) => setTimeout(r, 200));
    expect(session.got).toHaveLength(60);
    await until(() => broker.store?.persistence.queues.totals().messages === 0, 5000, "the queue emptied by the PUBCOMPs");
    await Promise.all([session.disconnect(), pub.end()]);
    await broker.close();
  });

  it("a folder is one broker's: a second is refused with what to do, or, for the default folder, runs in memory saying so", async () => {
    const spec = folder("locked");
    const first: EmbeddedBroker = await startEmbeddedBroker({ port: 0, store: spec });
    await expect(startEmbeddedBroker({ port: 0, store: spec })).rejects.toThrow(/is in use by another process \(another espfleet run\?\); stop it, or give this run another folder or --broker-store memory/);
    const fallback = await openBrokerStore({ spec: { ...spec, ifLocked: "memory" }, queueLimit: 10, log: () => undefined });
    expect(fallback.description).toBe("memory");
    expect(fallback.note).toMatch(/in use by another process .*keeps its sessions in memory only, lost when it stops; give it a folder of its own with --broker-store <folder>/);
    await fallback.close();
    await first.close();
  });
});

describe("SeqIndex", () => {
  it("counts, orders and forgets sequence numbers, in and out of order, each once", () => {
    const index = new SeqIndex();
    for (const seq of [1, 2, 3, 5, 4, 9]) {
      expect(index.add(seq)).toBe(true);
    }
    expect(index.add(3)).toBe(false);
    expect([index.count, index.last]).toEqual([6, 9]);
    expect(index.after(0, 10)).toEqual([1, 2, 3, 4, 5, 9]);
    expect([index.delete(4), index.delete(4), index.delete(7)]).toEqual([true, false, false]);
    expect([index.delete(1), index.delete(2)]).toEqual([true, true]);
    expect(index.after(2, 2)).toEqual([3, 5]);
    expect([index.count, index.has(3), index.has(4)]).toEqual([3, true, false]);
    expect(index.add(4)).toBe(true);
    expect(index.after(0, 10)).toEqual([3, 4, 5, 9]);
    index.clear();
    expect([index.count, index.last]).toEqual([0, undefined]);
  });

  it("stays small when a long queue is acknowledged in order", () => {
    const index = new SeqIndex();
    for (let seq = 1; seq <= 100_000; seq++) {
      index.add(seq);
    }
    for (let seq = 1; seq <= 99_990; seq++) {
      index.delete(seq);
    }
    expect([index.count, index.after(0, 3)]).toEqual([10, [99_991, 99_992, 99_993]]);
    expect((index as unknown as { seqs: number[] }).seqs.length).toBeLessThan(60_000);
  });
});
