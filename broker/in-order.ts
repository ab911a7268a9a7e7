/**
 * Answers in the order they were asked for, per key, while the work itself
 * runs at once: each call's promise settles only after every earlier call
 * with the same key has settled. The work is not queued (a slow LevelDB read
 * does not hold the next one back from starting), only its answer is.
 *
 * Why the embedded broker needs it: aedes 1.2 handles every packet of one
 * socket read at once (lib/client.js, enqueue), and numbers a QoS 2 PUBLISH
 * (brokerCounter, the order subscribers get it in) only when its
 * incomingGetPacket and then incomingStorePacket have answered
 * (handlers/publish.js). On a folder those are two LevelDB calls each in
 * libuv's thread pool, which answer in whatever order they finish, so a
 * publisher's back-to-back QoS 2 messages reached subscribers out of order
 * (measured: 7-29 of 200). With the answers per client in call order, the
 * reads answer in the order the PUBLISHes arrived, so the writes are asked
 * for in that order, answer in it, and aedes numbers the messages in it.
 *
 * The settling is synchronous, one after the other, so the callbacks aedes
 * chained on them run in the same order too.
 */
interface Waiting {
  done: boolean;
  settle: () => void;
}

export class InOrder {
  private readonly lines = new Map<string, Waiting[]>();

  /** `work()`'s outcome, once every earlier call for `key` has had its own. */
  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    let line = this.lines.get(key);
    if (line === undefined) {
      line = [];
      this.lines.set(key, line);
    }
    const waiting: Waiting = { done: false, settle: () => undefined };
    line.push(waiting);
    return new Promise<T>((resolve, reject) => {
      const finish = (settle: () => void): void => {
        waiting.settle = settle;
        waiting.done = true;
        this.release(key);
      };
      let started: Promise<T>;
      try {
        started = work();
      } catch (error) {
        started = Promise.reject(error as Error);
      }
      started.then(
        (value) => finish(() => resolve(value)),
        (error: unknown) => finish(() => reject(error as Error)),
      );
    });
  }

  /** Keys with calls not yet answered (for tests: nothing may be left behind). */
  get pending(): number {
    return this.lines.size;
  }

  /** Settle the finished calls at the head of `key`'s line, in order. */
  private release(key: string): void {
    const line = this.lines.get(key);
    if (line === undefined) {
      return;
    }
    let head = 0;
    while (head < line.length && line[head].done) {
      line[head].settle();
      head++;
    }
    if (head === line.length) {
      this.lines.delete(key);
    } else if (head > 0) {
      line.splice(0, head);
    }
  }
}
