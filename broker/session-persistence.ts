/**
 * The aedes persistence of the embedded broker: subscriptions, retained
 * messages, wills and QoS 2 receipts from `inner` (aedes-persistence-level
 * on a folder, or aedes-persistence in memory), the messages queued for
 * persistent sessions from session-queues.ts (bounded, in order, fast; see
 * there why). aedes calls these methods without callbacks and awaits them.
 */
import type { Readable } from "node:stream";
import type { DropCounter } from "./drop-counter";
import { decodeDropCount, DROPPED_TOPIC_PREFIX, type DropCount } from "./dropped";
import { InOrder } from "./in-order";
import { forwardOnce, installLiveFilter } from "./live-filter";
import type { QueueBroker, QueueClient, QueuePacket, QueueSubscription, SessionQueues } from "./session-queues";

/** aedes' persistence methods as its callback-or-promise implementations offer them (called without a callback: a promise). */
export interface InnerPersistence {
  setup(broker: unknown): Promise<void>;
  storeRetained(packet: unknown): Promise<void>;
  createRetainedStream(pattern: string): Readable;
  createRetainedStreamCombi(patterns: string[]): Readable;
  addSubscriptions(client: unknown, subs: unknown[]): Promise<unknown>;
  removeSubscriptions(client: unknown, topics: string[]): Promise<unknown>;
  subscriptionsByClient(client: unknown): Promise<unknown>;
  countOffline(): Promise<unknown>;
  subscriptionsByTopic(pattern: string): Promise<QueueSubscription[]>;
  cleanSubscriptions(client: unknown): Promise<unknown>;
  incomingStorePacket(client: unknown, packet: unknown): Promise<void>;
  incomingGetPacket(client: unknown, packet: unknown): Promise<unknown>;
  incomingDelPacket(client: unknown, packet: unknown): Promise<void>;
  cleanIncoming?(client: unknown): Promise<void>;
  putWill(client: unknown, packet: unknown): Promise<unknown>;
  getWill(client: unknown): Promise<unknown>;
  delWill(client: unknown): Promise<unknown>;
  streamWill(brokers?: unknown): Readable;
  getClientList(topic: string): Readable;
  destroy(): Promise<void> | void;
}

/** The broker as the persistence publishes through it (drop counts) and numbers messages (aedes' `counter`, as aedes-packet does). */
export interface PublishingBroker extends QueueBroker {
  counter: number;
  publish(packet: { cmd: "publish"; topic: string; payload: Buffer; qos: 0; retain: true }, done: (error?: Error | null) => void): void;
}

/** aedes refuses a client's PUBLISH here; only the broker publishes under `$SYS/`. */
const SYS_PREFIX = "$SYS/";

export class SessionPersistence {
  private broker: PublishingBroker | undefined = undefined;
  /** Per client id: QoS 2 receipts answer in call order (see incomingStorePacket). */
  private readonly incoming = new InOrder();

  constructor(
    private readonly inner: InnerPersistence,
    readonly queues: SessionQueues,
    readonly drops: DropCounter,
  ) {}

  async setup(broker: PublishingBroker): Promise<void> {
    this.broker = broker;
    await this.inner.setup(broker);
    this.queues.attach(broker);
    this.drops.restore(await this.retainedDropCounts());
  }

  /** Publish a retained QoS 0 message through the broker (the drop counts). */
  publishRetained(topic: string, payload: Buffer): Promise<void> {
    const broker = this.broker;
    if (broker === undefined) {
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => broker.publish({ cmd: "publish", topic, payload, qos: 0, retain: true }, (error) => (error ? reject(error) : resolve())));
  }

  /**
   * aedes' preConnect hook: a client resuming its session gets its queue
   * first, in order, and reads a current drop count when it subscribes; the
   * packet ids aedes gives out by itself for it stay clear of the queue's
   * (session-queues.ts, 6.).
   */
  preConnect(client: QueueClient, packet: { clean?: boolean; clientId?: string }, done: (error: Error | null, ok: boolean) => void): void {
    if (this.broker !== undefined) {
      installLiveFilter(client, this.broker.id);
    }
    if (packet.clean !== false || packet.clientId === undefined || packet.clientId === "") {
      done(null, true);
      return;
    }
    this.queues.holdLive(client);
    this.queues.ownPacketIds(client);
    this.drops.connecting(packet.clientId).then(
      () => done(null, true),
      () => done(null, true),
    );
  }

  /**
   * aedes' authorizePublish hook: aedes' default rule (no client publishes
   * under `$SYS/`), and a QoS 1 or QoS 2 message is queued for the
   * persistent sessions here, before aedes sends its PUBACK, or writes its
   * QoS 2 receipt (session-queues.ts, enqueueBeforeAck). It gets its broker
   * id and counter now, as aedes-packet would give them a moment later, so
   * aedes' own enqueue recognises it.
   *
   * QoS 2: aedes writes the receipt and only then publishes (queues) the
   * message. A `kill -9` between the two lost it: the publisher, without a
   * PUBREC, sent it again after the restart, the receipt said "had it", and
   * the message was never queued. Queued first, a receipt now means the
   * message is queued. A message that already has a receipt (sent again,
   * with DUP) is not queued again. What is left is the other side of the
   * window: a `kill -9` after the queue write and before the receipt's
   * gives the persistent sessions that message twice (at least once, never
   * lost; test/broker/qos2-kill-window.test.ts).
   */
  authorizePublish(client: { id: string } | null, packet: QueuePacket & { topic: string }, done: (error?: Error | null) => void): void {
    if (packet.topic.startsWith(SYS_PREFIX)) {
      done(new Error(`${SYS_PREFIX} topic is reserved`));
      return;
    }
    const broker = this.broker;
    if ((packet.qos !== 1 && packet.qos !== 2) || broker === undefined) {
      done(null);
      return;
    }
    packet.brokerId = broker.id;
    packet.brokerCounter = ++broker.counter;
    if (packet.qos === 1 || client === null) {
      this.enqueueEarly(packet, done);
      return;
    }
    // (Through the same per-client order as aedes' own receipt calls: the queue keeps the order sent.)
    this.incoming.run(client.id, () => this.inner.incomingGetPacket(client, packet)).then(
      () => done(null), // a receipt: queued when it was first received
      () => this.enqueueEarly(packet, done),
    );
  }

  /** Queue `packet` for the persistent sessions subscribed to its topic, then call `done` (enqueueBeforeAck). */
  private enqueueEarly(packet: QueuePacket & { topic: string }, done: (error?: Error | null) => void): void {
    this.inner.subscriptionsByTopic(packet.topic).then(
      (subs) => this.queues.enqueueBeforeAck(subs, packet).then(() => done(null), done),
      done,
    );
  }

  /** aedes' authorizeForward hook: one copy of a message per client (live-filter.ts). */
  authorizeForward<P extends QueuePacket>(client: QueueClient, packet: P): P | null {
    return forwardOnce(client, packet);
  }

  outgoingEnqueue(sub: QueueSubscription, packet: QueuePacket): Promise<void> {
    return this.queues.enqueue([sub], packet);
  }

  outgoingEnqueueCombi(subs: QueueSubscription[] | undefined, packet: QueuePacket): Promise<void> {
    return this.queues.enqueue(subs ?? [], packet);
  }

  outgoingUpdate(client: QueueClient, packet: QueuePacket): Promise<void> {
    return this.queues.update(client, packet);
  }

  outgoingClearMessageId(client: QueueClient, packet: QueuePacket): Promise<QueuePacket | undefined> {
    return this.queues.clear(client, packet);
  }

  outgoingStream(client: QueueClient): Readable {
    return this.queues.stream(client);
  }

  /** A clean session (or the end of one): its subscriptions and its queue go. */
  async cleanSubscriptions(client: QueueClient): Promise<unknown> {
    const result = await this.inner.cleanSubscriptions(client);
    await this.queues.forget(client.id);
    return result;
  }

  storeRetained(packet: unknown): Promise<void> {
    return this.inner.storeRetained(packet);
  }

  createRetainedStream(pattern: string): Readable {
    return this.inner.createRetainedStream(pattern);
  }

  createRetainedStreamCombi(patterns: string[]): Readable {
    return this.inner.createRetainedStreamCombi(patterns);
  }

  addSubscriptions(client: unknown, subs: unknown[]): Promise<unknown> {
    return this.inner.addSubscriptions(client, subs);
  }

  removeSubscriptions(client: unknown, topics: string[]): Promise<unknown> {
    return this.inner.removeSubscriptions(client, topics);
  }

  subscriptionsByClient(client: unknown): Promise<unknown> {
    return this.inner.subscriptionsByClient(client);
  }

  countOffline(): Promise<unknown> {
    return this.inner.countOffline();
  }

  subscriptionsByTopic(pattern: string): Promise<QueueSubscription[]> {
    return this.inner.subscriptionsByTopic(pattern);
  }

  /*
   * The QoS 2 receipts of a client answer in the order aedes asked for them
   * (in-order.ts: on a folder, LevelDB answered out of order and aedes
   * numbered a publisher's QoS 2 messages in that order). Still one write
   * before the PUBREC: the receipt survives a restart, so a PUBLISH sent
   * again after one is recognised (MQTT-4.3.3-2) and a PUBREL answered.
   */
  incomingStorePacket(client: { id: string }, packet: unknown): Promise<void> {
    return this.incoming.run(client.id, () => this.inner.incomingStorePacket(client, packet));
  }

  incomingGetPacket(client: { id: string }, packet: unknown): Promise<unknown> {
    return this.incoming.run(client.id, () => this.inner.incomingGetPacket(client, packet));
  }

  incomingDelPacket(client: { id: string }, packet: unknown): Promise<void> {
    return this.incoming.run(client.id, () => this.inner.incomingDelPacket(client, packet));
  }

  async cleanIncoming(client: unknown): Promise<void> {
    await this.inner.cleanIncoming?.(client);
  }

  putWill(client: unknown, packet: unknown): Promise<unknown> {
    return this.inner.putWill(client, packet);
  }

  getWill(client: unknown): Promise<unknown> {
    return this.inner.getWill(client);
  }

  delWill(client: unknown): Promise<unknown> {
    return this.inner.delWill(client);
  }

  streamWill(brokers?: unknown): Readable {
    return this.inner.streamWill(brokers);
  }

  getClientList(topic: string): Readable {
    return this.inner.getClientList(topic);
  }

  /** aedes never calls it; the store's owner closes the folder (broker-store.ts). */
  async destroy(): Promise<void> {}

  private async retainedDropCounts(): Promise<DropCount[]> {
    const counts: DropCount[] = [];
    for await (const packet of this.inner.createRetainedStream(DROPPED_TOPIC_PREFIX + "+")) {
      const { topic, payload } = packet as { topic: string; payload: Buffer };
      const count = decodeDropCount(topic, Buffer.from(payload));
      if (count !== undefined) {
        counts.push(count);
      }
    }
    return counts;
  }
}
