/**
 * Where the embedded broker keeps the messages queued for persistent
 * sessions: in a LevelDB folder (kept across a restart of espfleet and a
 * `kill -9`) or in memory (lost when espfleet stops). session-queues.ts
 * decides what is queued and in which order; this only stores it.
 *
 * The folder writes in batches: every put and delete asked for while the
 * previous batch was being written goes into the next one (group commit),
 * so a thousand publishes cost a few writes instead of a thousand. A put
 * resolves once its batch is written: LevelDB has appended it to its log
 * with write(2), so it survives the process being killed (not a power cut or
 * an operating-system crash: there is no fsync, see the README). Deletes are
 * not awaited: a delete lost in a crash means a message delivered again
 * (the collector stores it once), never one lost.
 */
import { deserialize, serialize } from "node:v8";

/** One queued message as stored: what it takes to send it again. */
export interface StoredMessage {
  /** "pubrel": a QoS 2 message the client has received (PUBREC), waiting for PUBCOMP. */
  cmd: "publish" | "pubrel";
  topic?: string;
  payload?: Buffer;
  qos?: number;
  retain?: boolean;
  /**
   * The packet id it was sent with: always for a pubrel; for a publish only
   * when that was not the one its number gives (session-queues.ts, 6.).
   */
  messageId?: number;
  /** It may have gone out already: queued while its client was connected (then it is sent live), or sent with `messageId`. */
  sent?: boolean;
  /** MQTT 5 properties of the publish, when it had any. */
  properties?: unknown;
}

/**
 * What a store holds, as found at open: a queued message (its number), or a
 * client's mark, the highest number its queue may have been sent up to.
 */
export interface ScanEntry {
  client: string;
  kind: "message" | "sent";
  seq: number;
}

export interface QueueStore {
  /** For people: "memory" or the folder. */
  readonly description: string;
  /** Every queued message's client id and sequence number, and every client's mark, as found at open. */
  scan(): AsyncIterable<ScanEntry>;
  /** Keep `message` as number `seq` of `client`; resolves once written. */
  put(client: string, seq: number, message: StoredMessage): Promise<void>;
  /**
   * `client`'s queue may be sent up to `seq` from now on: written with the
   * next batch, before any later get() answers (not awaited on its own).
   */
  mark(client: string, seq: number): void;
  /** Forget it, after every earlier put (not awaited; see above). */
  delete(client: string, seq: number): void;
  /** Forget everything queued for `client`. */
  clear(client: string): Promise<void>;
  /** The messages `seqs` of `client` (undefined where gone), reflecting every earlier write. */
  get(client: string, seqs: number[]): Promise<(StoredMessage | undefined)[]>;
  close(): Promise<void>;
}

export class MemoryQueueStore implements QueueStore {
  readonly description = "memory";
  private readonly queues = new Map<string, Map<number, StoredMessage>>();
  private readonly marks = new Map<string, number>();

  async *scan(): AsyncIterable<ScanEntry> {
    for (const [client, queue] of this.queues) {
      for (const seq of queue.keys()) {
        yield { client, kind: "message", seq };
      }
    }
    for (const [client, seq] of this.marks) {
      yield { client, kind: "sent", seq };
    }
  }

  mark(client: string, seq: number): void {
    this.marks.set(client, seq);
  }

  put(client: string, seq: number, message: StoredMessage): Promise<void> {
    let queue = this.queues.get(client);
    if (queue === undefined) {
      queue = new Map();
      this.queues.set(client, queue);
    }
    // A copy: the payload aedes hands over is a slice of the socket's read buffer, which it would keep alive whole.
    queue.set(seq, message.payload !== undefined ? { ...message, payload: Buffer.from(message.payload) } : message);
    return Promise.resolve();
  }

  delete(client: string, seq: number): void {
    this.queues.get(client)?.delete(seq);
  }

  clear(client: string): Promise<void> {
    this.queues.delete(client);
    this.marks.delete(client);
    return Promise.resolve();
  }

  get(client: string, seqs: number[]): Promise<(StoredMessage | undefined)[]> {
    const queue = this.queues.get(client);
    return Promise.resolve(seqs.map((seq) => queue?.get(seq)));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

type Operation = { type: "put"; key: string; value: Buffer } | { type: "del"; key: string };

/** What the folder store uses of a Level sublevel (string keys, Buffer values). */
export interface QueueLevel {
  keys(): AsyncIterable<string>;
  batch(operations: Operation[]): Promise<void>;
  getMany(keys: string[]): Promise<(Buffer | undefined)[]>;
  clear(range: { gte: string; lt: string }): Promise<void>;
}

/** Sequence numbers padded so that keys sort in sequence order (up to 2^53). */
const SEQ_DIGITS = 16;
/** The key of a client's mark ends in this instead of a number: inside the client's range (cleared with it), after its messages. */
const MARK = "sent";

export class LevelQueueStore implements QueueStore {
  private pending: Operation[] = [];
  private waiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  private writing: Promise<void> | undefined = undefined;

  /**
   * @param db a sublevel of the broker's folder, holding only the queues.
   * @param onError a delete that could not be written (the message will be delivered again), or a mark (session-queues.ts, 6.).
   */
  constructor(
    private readonly db: QueueLevel,
    readonly description: string,
    private readonly onError: (error: Error) => void,
  ) {}

  async *scan(): AsyncIterable<ScanEntry> {
    // Keys only (a million take ~4 s); the few marks' values are read after.
    const marks: { client: string; key: string }[] = [];
    for await (const key of this.db.keys()) {
      const at = key.lastIndexOf(":");
      const client = decodeURIComponent(key.slice(0, at));
      if (key.slice(at + 1) === MARK) {
        marks.push({ client, key });
        continue;
      }
      yield { client, kind: "message", seq: Number(key.slice(at + 1)) };
    }
    const values = marks.length === 0 ? [] : await this.db.getMany(marks.map((m) => m.key));
    for (let i = 0; i < marks.length; i++) {
      const seq = Number(values[i]?.toString() ?? "");
      if (Number.isSafeInteger(seq)) {
        yield { client: marks[i].client, kind: "sent", seq };
      }
    }
  }

  put(client: string, seq: number, message: StoredMessage): Promise<void> {
    this.pending.push({ type: "put", key: keyOf(client, seq), value: serialize(message) });
    return this.flushed();
  }

  mark(client: string, seq: number): void {
    this.pending.push({ type: "put", key: `${encodeURIComponent(client)}:${MARK}`, value: Buffer.from(String(seq)) });
    this.flushed().catch(this.onError);
  }

  delete(client: string, seq: number): void {
    this.pending.push({ type: "del", key: keyOf(client, seq) });
    this.flushed().catch(this.onError);
  }

  async clear(client: string): Promise<void> {
    await this.flushed();
    const prefix = encodeURIComponent(client) + ":";
    // ";" is the byte after ":": the range is exactly this client's keys (encodeURIComponent escapes both).
    await this.db.clear({ gte: prefix, lt: prefix.slice(0, -1) + ";" });
  }

  async get(client: string, seqs: number[]): Promise<(StoredMessage | undefined)[]> {
    await this.flushed();
    const values = await this.db.getMany(seqs.map((seq) => keyOf(client, seq)));
    return values.map((value) => (value === undefined ? undefined : (deserialize(value) as StoredMessage)));
  }

  async close(): Promise<void> {
    await this.flushed().catch(() => undefined);
  }

  /** Resolves when every operation asked for so far is written. */
  private flushed(): Promise<void> {
    if (this.pending.length === 0) {
      return this.writing ?? Promise.resolve();
    }
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.writing ??= this.writeLoop();
    return done;
  }

  /** Write batches until nothing is pending; each batch takes whatever was asked for while the last one was written. */
  private async writeLoop(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const batch = this.pending;
        const waiters = this.waiters;
        this.pending = [];
        this.waiters = [];
        try {
          await this.db.batch(batch);
          waiters.forEach((w) => w.resolve());
        } catch (error) {
          waiters.forEach((w) => w.reject(error as Error));
        }
      }
    } finally {
      this.writing = undefined;
    }
  }
}

function keyOf(client: string, seq: number): string {
  return `${encodeURIComponent(client)}:${String(seq).padStart(SEQ_DIGITS, "0")}`;
}
