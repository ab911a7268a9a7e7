/**
 * The messages the embedded broker keeps for persistent sessions (clean
 * session off, QoS 1 and 2): the `outgoing*` part of an aedes persistence,
 * written here instead of taken from aedes-persistence-level, for four
 * reasons found by measuring aedes 1.2 with aedes-persistence-level 9.2:
 *
 * 1. **A bound.** aedes keeps every message for an offline session (its
 *    `queueLimit` applies only before CONNECT). Here each session keeps at
 *    most `limit`; past it, newer messages are dropped and counted
 *    (drop-counter.ts). Newest, not oldest, as mosquitto does: what is kept
 *    is an unbroken run of the outage, so each node shows one gap where the
 *    queue filled; a full queue costs no disk write at all, where dropping
 *    the oldest would cost a seek and a delete per message just when the
 *    broker is busiest; and nothing is deleted under a client that is
 *    starting to read its queue.
 * 2. **Order across restarts.** aedes-persistence-level keys a queued
 *    message by the broker's random id and that run's counter: after a
 *    restart new messages can sort before old ones, and a will published
 *    after a restart (old broker id, new counter) can overwrite a queued
 *    message. Here a message's number is `base + counter`, `base` being the
 *    highest number kept when this broker started, so numbers only grow.
 * 3. **Order while catching up.** aedes streams a reconnected session's
 *    queue while new messages are delivered to it live, so a collector
 *    catching up received a node's seq 900 before its seq 300 (measured:
 *    15,000 of 22,000 out of order). Here live delivery to a resuming
 *    session is held off (aedes' own duplicate filter, `client.duplicates`)
 *    until its queue, including what arrives meanwhile, has been sent in
 *    order; then it switches to live at the exact message where the queue
 *    ended.
 * 4. **Speed.** aedes-persistence-level does four to six LevelDB operations
 *    per message one after another; a backlog drained at ~2,400 messages/s.
 *    Here an acknowledgement is one delete in a group-committed batch and
 *    re-sending needs no write: the message ids of the current connection
 *    live in memory (after a reconnect everything unacknowledged is sent
 *    again anyway). And the queue goes out a page at a time through
 *    Client#publish, where aedes' own sender writes one message per turn of
 *    the event loop: a collector's catch-up of 600,000 took 64 s instead of
 *    91 s; the broker alone sends ~38,000 messages/s.
 * 5. **Packet ids.** MQTT has 65,535 of them, and one may not be reused while
 *    its message is unacknowledged; aedes hands them out in a circle without
 *    looking. A collector acknowledges only after its commit and may hold
 *    100,000 messages, so ids came round while in use, and the PUBACK of an
 *    old message removed a newer one from the queue: measured, a catch-up of
 *    600,000 delivered 549,000 twice. Here a queue is sent with at most
 *    MAX_INFLIGHT unacknowledged, and an id still in use is replaced by a
 *    free one before the message goes out.
 */
import { Readable } from "node:stream";
import { SeqIndex } from "./seq-index";
import type { QueueStore, StoredMessage } from "./queue-store";

/** What the queues need of aedes' broker. */
export interface QueueBroker {
  id: string;
  clients: Record<string, unknown>;
}

/** What the queues need of an aedes client (`duplicates`: aedes' filter of live messages by broker counter). */
export interface QueueClient {
  id: string;
  clean?: boolean;
  closed?: boolean;
  duplicates?: Record<string, number>;
  /** aedes' Client#publish: send this client a message (QoS 1 and 2 respected); `done` once written. */
  publish?(packet: QueuePacket, done: (error?: Error) => void): void;
}

/** An aedes packet, as far as the queues look at it. */
export interface QueuePacket {
  cmd?: string;
  topic?: string;
  payload?: Buffer | string;
  qos?: number;
  retain?: boolean;
  messageId?: number;
  brokerId?: string | null;
  brokerCounter?: number;
  properties?: unknown;
}

export interface QueueSubscription {
  clientId: string;
}

/**
 * Marks a packet sent from the queue: its brokerCounter is then its number
 * in the queue. No broker has this id (aedes' are UUIDs), so aedes' live
 * filter, which never sees these packets, cannot confuse them.
 */
const QUEUED = "espfleet-queue";
/** Messages read from the store at a time while a queue is sent. */
const PAGE = 500;
/**
 * Messages of a queue handed to aedes and not yet written to the socket: a
 * page goes out in one turn of the event loop (aedes' own queue sender
 * writes one message per turn: ~6,500 a second here), and the socket's
 * buffer stays bounded (~200 KB).
 */
const MAX_WRITING = 1000;
/**
 * Most messages of a queue sent and not yet acknowledged: well under the
 * 65,535 packet ids, well over what one transaction of the collector holds
 * (--batch, 1,000), so it never waits on this for long.
 */
export const MAX_INFLIGHT = 20_000;
/** MQTT packet ids are 1..65,535. */
const MAX_PACKET_ID = 65_535;

class Queue {
  readonly index = new SeqIndex();
  /** Message id on the current connection -> number in the queue. */
  readonly inflight = new Map<number, number>();
  /** Sends of this queue waiting, with MAX_INFLIGHT unacknowledged, for an acknowledgement. */
  private waiting: (() => void)[] = [];

  /** An acknowledgement came, or a new connection began (the send of the old one may end): waiting sends go on. */
  wake(): void {
    const waiting = this.waiting;
    this.waiting = [];
    waiting.forEach((resolve) => resolve());
  }

  /** Resolves at the next acknowledgement. */
  nextAck(): Promise<void> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }
}

export interface SessionQueuesOptions {
  store: QueueStore;
  /** Most messages kept for a session while its client is offline. */
  limit: number;
  /** A message not kept for this client id (its queue was full). */
  onDrop: (clientId: string) => void;
}

export class SessionQueues {
  private readonly queues = new Map<string, Queue>();
  private broker: QueueBroker | undefined = undefined;
  /** Numbers of this run's messages are base + aedes' counter. */
  private base = 0;
  /** Messages queued before their PUBACK (enqueueBeforeAck) that aedes will hand to enqueue() again. */
  private readonly queuedEarly = new Set<number>();

  constructor(private readonly options: SessionQueuesOptions) {}

  /** Read what the store kept (a folder: the queues of the last run). */
  async load(): Promise<void> {
    for await (const { client, seq } of this.options.store.scan()) {
      this.queueOf(client).index.add(seq);
    }
  }

  /** A broker starts on these queues (again, after a restart in the same process). */
  attach(broker: QueueBroker): void {
    this.broker = broker;
    this.base = 0;
    for (const queue of this.queues.values()) {
      queue.inflight.clear();
      this.base = Math.max(this.base, queue.index.last ?? 0);
    }
  }

  /** Sessions with something queued, and the messages queued for them. */
  totals(): { sessions: number; messages: number } {
    let sessions = 0;
    let messages = 0;
    for (const queue of this.queues.values()) {
      if (queue.index.count > 0) {
        sessions++;
        messages += queue.index.count;
      }
    }
    return { sessions, messages };
  }

  /**
   * A client's QoS 1 PUBLISH, before aedes acknowledges it: aedes sends the
   * PUBACK first and queues the message after (handlers/publish.js), so a
   * `kill -9` in between lost acknowledged messages (measured: the last 50
   * of 2,000). Queued here, from the publish authorisation, the PUBACK waits
   * for the write; aedes' own enqueue of it then finds it done.
   */
  async enqueueBeforeAck(subs: QueueSubscription[], packet: QueuePacket): Promise<void> {
    await this.enqueue(subs, packet);
    this.queuedEarly.add(this.base + (packet.brokerCounter ?? 0));
  }

  /** aedes' outgoingEnqueueCombi: `packet` for every persistent session subscribed to it. */
  async enqueue(subs: QueueSubscription[], packet: QueuePacket): Promise<void> {
    const seq = this.base + (packet.brokerCounter ?? 0);
    // Queued already: before its PUBACK, or it is being sent from the queue (Client#publish queues what it sends).
    if (packet.brokerId === QUEUED || this.queuedEarly.delete(seq)) {
      return;
    }
    const writes: Promise<void>[] = [];
    for (const sub of subs) {
      const queue = this.queueOf(sub.clientId);
      if (queue.index.has(seq)) {
        continue; // two subscriptions of one session matched: one copy
      }
      if (queue.index.count >= this.options.limit && !this.online(sub.clientId)) {
        this.options.onDrop(sub.clientId);
        continue;
      }
      queue.index.add(seq);
      writes.push(
        this.options.store.put(sub.clientId, seq, stored(packet)).catch((error: unknown) => {
          queue.index.delete(seq);
          throw error;
        }),
      );
    }
    await Promise.all(writes);
  }

  /**
   * aedes' outgoingUpdate: `packet` is being sent with a message id (a live
   * delivery or one from the queue), or was received (PUBREC: now a pubrel).
   * Throws only when every packet id is in use (aedes then drops the
   * client's connection, and it gets its queue again when it reconnects).
   */
  async update(client: QueueClient, packet: QueuePacket): Promise<void> {
    const queue = this.queueOf(client.id);
    if (packet.messageId === undefined) {
      return;
    }
    const seq =
      packet.brokerId === QUEUED
        ? packet.brokerCounter
        : packet.brokerId !== undefined && packet.brokerId !== null && packet.brokerCounter !== undefined
          ? this.base + packet.brokerCounter
          : queue.inflight.get(packet.messageId);
    if (seq === undefined) {
      return;
    }
    if (packet.cmd !== "pubrel" && queue.inflight.has(packet.messageId) && queue.inflight.get(packet.messageId) !== seq) {
      // aedes gave out an id that is still in use (see 5. above): this message goes out with a free one.
      packet.messageId = freeId(queue.inflight, packet.messageId);
    }
    const messageId = packet.messageId;
    queue.inflight.set(messageId, seq);
    if (packet.cmd === "pubrel" && queue.index.has(seq)) {
      // Received by the client: after a restart it gets the PUBREL again, not a second PUBLISH.
      await this.options.store.put(client.id, seq, { cmd: "pubrel", messageId }).catch(() => undefined);
    }
  }

  /** aedes' outgoingClearMessageId: the client acknowledged `packet.messageId` (PUBACK, PUBCOMP). */
  clear(client: QueueClient, packet: QueuePacket): Promise<QueuePacket | undefined> {
    const queue = this.queues.get(client.id);
    const seq = packet.messageId === undefined ? undefined : queue?.inflight.get(packet.messageId);
    if (queue === undefined || seq === undefined) {
      return Promise.resolve(undefined);
    }
    queue.inflight.delete(packet.messageId as number);
    if (queue.index.delete(seq)) {
      this.options.store.delete(client.id, seq);
    }
    queue.wake();
    return Promise.resolve(packet);
  }

  /** A client resumes its session (clean session off): no live message until its queue is sent (see 3. above). */
  holdLive(client: QueueClient): void {
    if (this.broker !== undefined && client.duplicates !== undefined) {
      client.duplicates[this.broker.id] = Number.POSITIVE_INFINITY;
    }
  }

  /**
   * aedes' outgoingStream: what is queued for `client`, in order, then live
   * delivery from where it ended. The messages go out through
   * Client#publish, a page at a time; the stream itself carries only the
   * PUBRELs of QoS 2 messages (their packet id must stay), and ends when the
   * queue is sent (aedes then finishes the CONNECT).
   */
  stream(client: QueueClient): Readable {
    return Readable.from(this.drain(client));
  }

  /** A clean session replaces the stored one: its queue goes with it. */
  async forget(clientId: string): Promise<void> {
    const queue = this.queues.get(clientId);
    if (queue === undefined) {
      return;
    }
    this.queues.delete(clientId);
    await this.options.store.clear(clientId);
  }

  private async *drain(client: QueueClient): AsyncGenerator<QueuePacket> {
    const queue = this.queues.get(client.id);
    const publish = client.publish?.bind(client);
    let last = 0;
    if (queue !== undefined && publish !== undefined) {
      queue.inflight.clear();
      queue.wake();
      let writing = 0;
      const written = (): void => {
        writing--;
        queue.wake();
      };
      for (;;) {
        // Re-read each time: what was queued while the last page was sent is sent too.
        const seqs = queue.index.after(last, PAGE);
        if (seqs.length === 0) {
          if (writing === 0) {
            break;
          }
          // The last writes first: then the queue is looked at again (no await between that look and the switch to live).
          await queue.nextAck();
          continue;
        }
        const messages = await this.options.store.get(client.id, seqs);
        for (let i = 0; i < seqs.length; i++) {
          last = seqs[i];
          const message = messages[i];
          // Acknowledged meanwhile (sent on an earlier connection) or lost from the store: nothing to send.
          if (message === undefined || !queue.index.has(seqs[i])) {
            continue;
          }
          if (message.cmd === "pubrel") {
            yield packetOf(message, seqs[i]);
            continue;
          }
          while (writing >= MAX_WRITING || queue.inflight.size + writing >= MAX_INFLIGHT) {
            await queue.nextAck(); // woken by a PUBACK and by a finished write
          }
          if (client.closed === true) {
            return;
          }
          writing++;
          publish(packetOf(message, seqs[i]), written);
        }
      }
    }
    // No await since the queue was found empty: every message of this run up to `last` was sent from the queue,
    // every later one is not in it yet and goes live (aedes' filter passes counters above this).
    if (this.broker !== undefined && client.duplicates !== undefined) {
      client.duplicates[this.broker.id] = Math.max(0, last - this.base);
    }
  }

  private queueOf(clientId: string): Queue {
    let queue = this.queues.get(clientId);
    if (queue === undefined) {
      queue = new Queue();
      this.queues.set(clientId, queue);
    }
    return queue;
  }

  private online(clientId: string): boolean {
    return this.broker?.clients[clientId] !== undefined;
  }
}

/** A packet id (1..65,535) not in `inflight`, searched from `from` on; throws when all are in use (aedes then closes the connection). */
function freeId(inflight: Map<number, number>, from: number): number {
  for (let i = 1; i <= MAX_PACKET_ID; i++) {
    const id = ((from - 1 + i) % MAX_PACKET_ID) + 1;
    if (!inflight.has(id)) {
      return id;
    }
  }
  throw new Error(`all ${MAX_PACKET_ID} MQTT packet ids are in use by unacknowledged messages to this client; closing its connection`);
}

function stored(packet: QueuePacket): StoredMessage {
  const payload = typeof packet.payload === "string" ? Buffer.from(packet.payload) : (packet.payload ?? Buffer.alloc(0));
  const message: StoredMessage = { cmd: "publish", topic: packet.topic, payload, qos: packet.qos ?? 0, retain: packet.retain === true };
  if (packet.properties !== undefined) {
    message.properties = packet.properties;
  }
  return message;
}

/**
 * A queued message to send. RETAIN is 0: it goes out because it matches a
 * subscription the session has, not because one was just made (MQTT 3.1.1
 * 3.3.1-9); aedes would also not track the acknowledgement of a retained one.
 */
function packetOf(message: StoredMessage, seq: number): QueuePacket {
  return { ...message, retain: false, brokerId: QUEUED, brokerCounter: seq };
}
