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
 *    session is held off (the filter of live messages, live-filter.ts)
 *    until its queue, including what arrives meanwhile, has been sent in
 *    order; then it switches to live at the exact message where the queue
 *    ended.
 * 4. **Speed.** aedes-persistence-level does four to six LevelDB operations
 *    per message one after another; a backlog drained at ~2,400 messages/s.
 *    Here an acknowledgement is one delete in a group-committed batch and
 *    sending needs no write of its own: the packet ids in use live in
 *    memory, and a message's id follows from its number (6. below). And the
 *    queue goes out a page at a time through
 *    Client#publish, where aedes' own sender writes one message per turn of
 *    the event loop: a collector's catch-up of 600,000 took 64 s instead of
 *    91 s; the broker alone sends ~38,000 messages/s.
 * 5. **Packet ids.** MQTT has 65,535 of them, and one may not be reused while
 *    its message is unacknowledged; aedes hands them out in a circle without
 *    looking. A collector acknowledges only after its commit and may hold
 *    100,000 messages, so ids came round while in use, and the PUBACK of an
 *    old message removed a newer one from the queue: measured, a catch-up of
 *    600,000 delivered 549,000 twice. Here a queue is sent with at most
 *    MAX_INFLIGHT unacknowledged per connection, and no id is given out
 *    while it is in use.
 * 6. **The same packet id, DUP set, when sent again** (MQTT-4.4.0-1: a
 *    session resumed with clean session off gets its unacknowledged
 *    PUBLISHes again under their original packet ids, and MQTT-3.3.1-1: with
 *    DUP 1). aedes gives each send a new id from its circle, and the ids were
 *    only in this process's memory, cleared at each connection: a message
 *    sent again after a reconnect or a restart came with a new id and DUP 0,
 *    which a QoS 2 receiver takes for a new message. Writing the id down at
 *    each send would cost a write per message while the collector catches
 *    up, so here the id is the message's number: ((seq - 1) mod OWN_IDS) + 1,
 *    the same after a restart without being stored. Only when that id is in
 *    use by another unacknowledged message (numbers OWN_IDS apart both
 *    unacknowledged: rare) does the message get a free one, written into its
 *    stored copy before it goes out. aedes' own sends that never pass through
 *    here (retained messages on SUBSCRIBE) take their ids from the rest,
 *    OWN_IDS+1..65,535 (ownPacketIds), so they cannot take one of these.
 *    Whether a message may have gone out (then DUP 1 when sent again): in
 *    memory for this process (the ids of unacknowledged messages are kept
 *    across connections: a reconnect sends them again under the same ids);
 *    across a restart, from the store, again without a write per message: a
 *    message queued while its client was connected is marked so in its own
 *    write (it goes out live), and before the queue sends a page it writes
 *    one mark per page, "sent up to here", in the same group-committed
 *    batches (the page's read waits for it). Both err on the side of DUP 1,
 *    which MQTT allows ("might be re-delivery"); DUP 0 on a message already
 *    sent it does not. A PUBREL for a message the client had received goes
 *    out again with the id stored with it at the PUBREC.
 */
import { Readable } from "node:stream";
import * as liveFilter from "./live-filter";
import { SeqIndex } from "./seq-index";
import type { QueueStore, StoredMessage } from "./queue-store";

/** What the queues need of aedes' broker. */
export interface QueueBroker {
  id: string;
  clients: Record<string, unknown>;
}

/** What the queues need of an aedes client (`duplicates`: the filter of live messages by broker counter, live-filter.ts). */
export interface QueueClient {
  id: string;
  clean?: boolean;
  closed?: boolean;
  duplicates?: Record<string, number>;
  /** aedes' next packet id of its own for this client (lib/qos-packet.js); see ownPacketIds. */
  _nextId?: number;
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
  dup?: boolean;
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
/** Packet ids 1..OWN_IDS are given out here (6. above); aedes keeps the rest, for what it sends by itself. */
export const OWN_IDS = 61_440;

/** The packet id a message is sent with unless that one is in use (6. above). */
export function packetIdOf(seq: number): number {
  return ((seq - 1) % OWN_IDS) + 1;
}

class Queue {
  readonly index = new SeqIndex();
  /** Packet id -> number in the queue, of every message sent and not acknowledged, on this connection or an earlier one. */
  readonly inflight = new Map<number, number>();
  /** The reverse: number -> the packet id it was (or, after a restart, may have been) sent with. */
  readonly ids = new Map<number, number>();
  /** Numbers sent on the current connection and not acknowledged: what MAX_INFLIGHT counts. */
  readonly current = new Set<number>();
  /** The highest number this queue may have been sent up to, as last marked in the store. */
  marked = 0;
  /** The same, as found in the store at start: a message at or under it may have gone out before the restart. */
  restoredMark = 0;
  /** Sends of this queue waiting, with MAX_INFLIGHT unacknowledged, for an acknowledgement. */
  private waiting: (() => void)[] = [];

  /** Message `seq` goes out (again) under packet id `id` on the current connection. */
  track(id: number, seq: number): void {
    const old = this.ids.get(seq);
    if (old !== undefined && old !== id && this.inflight.get(old) === seq) {
      this.inflight.delete(old);
    }
    this.inflight.set(id, seq);
    this.ids.set(seq, id);
    this.current.add(seq);
  }

  /** Message `seq` is acknowledged, or gone: its packet id is free. */
  untrack(seq: number): void {
    const id = this.ids.get(seq);
    if (id !== undefined && this.inflight.get(id) === seq) {
      this.inflight.delete(id);
    }
    this.ids.delete(seq);
    this.current.delete(seq);
  }

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
    for await (const { client, kind, seq } of this.options.store.scan()) {
      const queue = this.queueOf(client);
      if (kind === "sent") {
        queue.marked = seq;
        queue.restoredMark = seq;
      } else {
        queue.index.add(seq);
      }
    }
  }

  /**
   * A broker starts on these queues (again, after a restart in the same
   * process: then the packet ids of unacknowledged messages are still known
   * and kept, 6. above). Numbers go on above every one kept or marked.
   */
  attach(broker: QueueBroker): void {
    this.broker = broker;
    this.base = 0;
    for (const queue of this.queues.values()) {
      queue.current.clear();
      this.base = Math.max(this.base, queue.index.last ?? 0, queue.marked);
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
      // Queued for a connected client: it goes out live, with no other write (6. above).
      const message = stored(packet, this.online(sub.clientId));
      writes.push(
        this.options.store.put(sub.clientId, seq, message).catch((error: unknown) => {
          queue.index.delete(seq);
          throw error;
        }),
      );
    }
    await Promise.all(writes);
  }

  /**
   * aedes' outgoingUpdate: `packet` is about to be sent (a live delivery or
   * one from the queue), with the packet id aedes gave it, replaced here by
   * the message's own (6. above); or it was received (PUBREC: now a pubrel,
   * under the id it was sent with). Throws only when every packet id is in
   * use (aedes then drops the client's connection, and it gets its queue
   * again when it reconnects).
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
    if (packet.cmd === "pubrel") {
      const messageId = packet.messageId;
      queue.track(messageId, seq);
      if (queue.index.has(seq)) {
        // Received by the client: after a restart it gets the PUBREL again, under this id, not a second PUBLISH.
        await this.options.store.put(client.id, seq, { cmd: "pubrel", messageId }).catch(() => undefined);
      }
      return;
    }
    const own = queue.ids.get(seq) ?? packetIdOf(seq);
    const holder = queue.inflight.get(own);
    if (holder === undefined || holder === seq) {
      packet.messageId = own;
      queue.track(own, seq);
      return;
    }
    // Its id is held by another unacknowledged message (5. and 6. above): a free one, written down before it goes out.
    const messageId = freeId(queue.inflight, own);
    packet.messageId = messageId;
    queue.track(messageId, seq);
    if (queue.index.has(seq)) {
      await this.options.store.put(client.id, seq, { ...stored(packet, true), messageId }).catch(() => undefined);
    }
  }

  /** aedes' outgoingClearMessageId: the client acknowledged `packet.messageId` (PUBACK, PUBCOMP). */
  clear(client: QueueClient, packet: QueuePacket): Promise<QueuePacket | undefined> {
    const queue = this.queues.get(client.id);
    const seq = packet.messageId === undefined ? undefined : queue?.inflight.get(packet.messageId);
    if (queue === undefined || seq === undefined) {
      return Promise.resolve(undefined);
    }
    queue.untrack(seq);
    if (queue.index.delete(seq)) {
      this.options.store.delete(client.id, seq);
    }
    queue.wake();
    return Promise.resolve(packet);
  }

  /** A client resumes its session (clean session off): no live message until its queue is sent (see 3. above). */
  holdLive(client: QueueClient): void {
    if (this.broker !== undefined) {
      liveFilter.holdLive(client, this.broker.id);
    }
  }

  /**
   * A client with a persistent session (clean session off), before anything
   * is sent to it: the packet ids aedes gives out by itself for it are kept
   * to OWN_IDS+1..65,535 (6. above). aedes sends some messages without
   * asking this persistence (a retained message on SUBSCRIBE), each with the
   * next id of its own circle, `client._nextId`, which it reads and then sets
   * to the next (lib/qos-packet.js); that circle now turns in its part only,
   * so such a message cannot take the id of an unacknowledged queued one
   * (whose PUBACK would then remove the wrong message).
   */
  ownPacketIds(client: QueueClient): void {
    if (typeof client._nextId !== "number") {
      return;
    }
    let next = OWN_IDS + 1;
    Object.defineProperty(client, "_nextId", {
      configurable: true,
      enumerable: true,
      get: () => next,
      set: (value: number) => {
        next = Number.isInteger(value) && value > OWN_IDS && value <= MAX_PACKET_ID ? value : OWN_IDS + 1;
      },
    });
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
      // A new connection: what the last one left unacknowledged keeps its packet id, to be sent again under it (6. above).
      queue.current.clear();
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
        const top = seqs[seqs.length - 1];
        if (top > queue.marked) {
          // Written before the page's read answers, so before any of it goes out (6. above).
          queue.marked = top;
          this.options.store.mark(client.id, top);
        }
        const messages = await this.options.store.get(client.id, seqs);
        for (let i = 0; i < seqs.length; i++) {
          const seq = seqs[i];
          last = seq;
          const message = messages[i];
          // Acknowledged meanwhile (sent on an earlier connection) or lost from the store: nothing to send.
          if (message === undefined || !queue.index.has(seq)) {
            queue.untrack(seq);
            continue;
          }
          if (message.cmd === "pubrel") {
            yield packetOf(message, seq, false);
            continue;
          }
          while (writing >= MAX_WRITING || queue.current.size + writing >= MAX_INFLIGHT) {
            await queue.nextAck(); // woken by a PUBACK and by a finished write
          }
          if (client.closed === true) {
            return;
          }
          writing++;
          publish(packetOf(message, seq, this.mayHaveGone(queue, seq, message)), written);
        }
      }
    }
    // No await since the queue was found empty: every message of this run up to `last` was sent from the queue,
    // every later one is not in it yet and goes live (live-filter.ts passes counters above this).
    if (this.broker !== undefined) {
      liveFilter.liveFrom(client, this.broker.id, Math.max(0, last - this.base));
    }
  }

  /**
   * `message` may have been sent before (then it goes out with DUP 1, under
   * the id it had: update() takes it from `queue.ids`). Known in this process;
   * from before a restart, from what was stored with it and the mark.
   */
  private mayHaveGone(queue: Queue, seq: number, message: StoredMessage): boolean {
    if (queue.ids.has(seq)) {
      return true;
    }
    if (seq > this.base || (message.sent !== true && seq > queue.restoredMark)) {
      return false;
    }
    queue.ids.set(seq, message.messageId ?? packetIdOf(seq));
    return true;
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

/** A packet id of ours (1..OWN_IDS) not in `inflight`, searched from `from` on; throws when all are in use (aedes then closes the connection). */
function freeId(inflight: Map<number, number>, from: number): number {
  for (let i = 1; i <= OWN_IDS; i++) {
    const id = ((from - 1 + i) % OWN_IDS) + 1;
    if (!inflight.has(id)) {
      return id;
    }
  }
  throw new Error(`all ${OWN_IDS} MQTT packet ids of queued messages are in use by unacknowledged messages to this client; closing its connection`);
}

/** What is stored of `packet`; `sent`: it may go out before it is read back (its client is connected). */
function stored(packet: QueuePacket, sent: boolean): StoredMessage {
  const payload = typeof packet.payload === "string" ? Buffer.from(packet.payload) : (packet.payload ?? Buffer.alloc(0));
  const message: StoredMessage = { cmd: "publish", topic: packet.topic, payload, qos: packet.qos ?? 0, retain: packet.retain === true };
  if (packet.properties !== undefined) {
    message.properties = packet.properties;
  }
  if (sent) {
    message.sent = true;
  }
  return message;
}

/**
 * A queued message to send. RETAIN is 0: it goes out because it matches a
 * subscription the session has, not because one was just made (MQTT 3.1.1
 * 3.3.1-9); aedes would also not track the acknowledgement of a retained one.
 * DUP is 1 when it may have gone out before (MQTT-3.3.1-1); aedes keeps the
 * flag through Client#publish, and update() gives it its packet id.
 */
function packetOf(message: StoredMessage, seq: number, dup: boolean): QueuePacket {
  if (message.cmd === "pubrel") {
    return { cmd: "pubrel", messageId: message.messageId, brokerId: QUEUED, brokerCounter: seq };
  }
  const packet: QueuePacket = {
    cmd: "publish",
    topic: message.topic,
    payload: message.payload,
    qos: message.qos,
    retain: false,
    dup,
    brokerId: QUEUED,
    brokerCounter: seq,
  };
  if (message.properties !== undefined) {
    packet.properties = message.properties;
  }
  return packet;
}
