/**
 * Group commit with acknowledgements after the commit. Items are queued in
 * arrival order with the callback that acknowledges them to the broker; one
 * transaction at a time takes everything queued (up to `maxBatch`), so a
 * quiet fleet gets one small transaction per message and a busy one few large
 * ones, without a timer in between. Only after a commit succeeds are its
 * items' acks called, in order (MQTT 3.1.1 4.6: PUBACKs in the order the
 * PUBLISHes arrived).
 *
 * Pipelined: while a transaction commits (in the database's own thread or
 * server) the next batch fills; the moment it has committed, the next one is
 * handed to the store, and only then are the committed items acknowledged
 * and counted, so the database does not wait for the PUBACKs. Never more than
 * one commit at a time: transactions commit in arrival order, which the
 * dedupe's verdicts (made on arrival) and the PUBACK order rely on.
 *
 * A failed commit is retried, the same items, with doubling delays; nothing
 * is acknowledged meanwhile, so the broker keeps every message of the
 * persistent session until the database is back. Once `maxPending` items
 * wait, `hasRoom()` is false and the subscriber stops reading (whenRoom).
 *
 * While commits succeed, the subscriber reads ahead one transaction at most:
 * once a full `maxBatch` is queued behind the one committing, `hasRoom()` is
 * false until the next transaction takes it. Reading further gains nothing
 * (a transaction takes at most maxBatch) and costs the commits: a backlog
 * read from the broker as fast as it comes kept the collector's thread busy
 * for whole TCP reads at a time, so the store's reply (a worker thread's
 * message, or the next round trip of a PostgreSQL transaction) waited behind
 * them: the PGlite worker was idle ~45% of the first half-second of a drain,
 * and a PostgreSQL transaction of 1,000 readings took 166 instead of 20-30
 * ms. The broker holds the rest meanwhile. While commits fail, or one has
 * run for `slowCommitMs` (a slow or blocked database), the limit is
 * `maxPending` again: what is received is held, as `--max-pending` says.
 */

export interface Queued<T> {
  item: T;
  ack: () => void;
  /** performance.now() when it arrived. */
  receivedAt: number;
}

export interface BatcherOptions<T, R> {
  /** Store the items in one transaction; throw when nothing was stored. What it returns goes to onCommitted. */
  commit: (items: T[]) => Promise<R>;
  /** Most items per transaction. */
  maxBatch: number;
  /** Items held (queued or being committed) before the subscriber stops reading. */
  maxPending: number;
  /** A commit running this long is slow: the subscriber reads on up to maxPending (default 1 s; see the top). */
  slowCommitMs?: number;
  retryMinMs: number;
  retryMaxMs: number;
  /** A commit failed; the next try is in `delayMs`. */
  onRetry?: (error: Error, attempt: number, delayMs: number, waiting: number) => void;
  /** A commit succeeded after `attempts` failures, `downMs` after the first. */
  onRecovered?: (downMs: number, attempts: number) => void;
  /** Committed and acknowledged; `committedAt` is performance.now() after the commit; `result` is commit()'s. */
  onCommitted?: (items: Queued<T>[], committedAt: number, result: R) => void;
}

export class Batcher<T, R = void> {
  private readonly queue: Queued<T>[] = [];
  private inFlight = 0;
  private running = false;
  private current: Promise<void> | undefined = undefined;
  private scheduled = false;
  private waitingForRoom: (() => void)[] = [];
  private wake: (() => void) | undefined = undefined;
  private stopped = false;
  private idle: (() => void)[] = [];
  /** The last commit failed and has not succeeded since. */
  failing = false;
  /** performance.now() when the commit under way (its latest try) started; undefined between commits. */
  private committingSince: number | undefined = undefined;
  /** Wakes whenRoom's waiters once the commit under way has become slow. */
  private slowTimer: NodeJS.Timeout | undefined = undefined;

  constructor(private readonly options: BatcherOptions<T, R>) {}

  /** Items received and not yet committed. */
  get waiting(): number {
    return this.queue.length + this.inFlight;
  }

  hasRoom(): boolean {
    return this.waiting < this.options.maxPending && (this.failing || this.queue.length < this.options.maxBatch || this.slowCommitFor() <= 0);
  }

  /** Resolves once hasRoom() is true. */
  whenRoom(): Promise<void> {
    if (this.hasRoom()) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.waitingForRoom.push(resolve);
      this.armSlowTimer();
    });
  }

  /** Ms until the commit under way counts as slow (0 or less: it does); Infinity between commits. */
  private slowCommitFor(): number {
    return this.committingSince === undefined ? Number.POSITIVE_INFINITY : this.committingSince + (this.options.slowCommitMs ?? 1000) - performance.now();
  }

  private armSlowTimer(): void {
    const ms = this.slowCommitFor();
    if (this.slowTimer !== undefined || ms === Number.POSITIVE_INFINITY) {
      return;
    }
    this.slowTimer = setTimeout(
      () => {
        this.slowTimer = undefined;
        this.releaseRoom();
        // Fired for a commit that has ended since: the next one's turn.
        if (this.waitingForRoom.length > 0) {
          this.armSlowTimer();
        }
      },
      Math.max(0, ms),
    );
    this.slowTimer.unref();
  }

  add(item: T, ack: () => void, receivedAt = performance.now()): void {
    this.queue.push({ item, ack, receivedAt });
    if (!this.running && !this.scheduled) {
      // After the current burst of packets: they join this batch.
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.start();
      });
    }
  }

  /**
   * Commit what waits, for at most `timeoutMs` (retries included); stop
   * retrying after that. True when everything was committed.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    if (this.waiting > 0) {
      const done = new Promise<void>((resolve) => this.idle.push(resolve));
      this.start();
      let timer: NodeJS.Timeout | undefined = undefined;
      await Promise.race([done, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
      clearTimeout(timer);
    }
    this.stopped = true;
    this.wake?.();
    // A commit under way is let finish (its items are acknowledged if it succeeds).
    await this.current;
    return this.waiting === 0;
  }

  private start(): void {
    if (!this.running && !this.stopped) {
      this.current = this.run();
    }
  }

  /** The next transaction's items (now in flight), or undefined when nothing waits or the batcher stopped. */
  private take(): Queued<T>[] | undefined {
    if (this.queue.length === 0 || this.stopped) {
      return undefined;
    }
    const batch = this.queue.splice(0, this.options.maxBatch);
    this.inFlight = batch.length;
    return batch;
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      let batch = this.take();
      let committing = batch === undefined ? undefined : this.commitWithRetry(batch);
      // The queue was taken (and handed to the store, synchronously): the subscriber may read on.
      this.releaseRoom();
      while (batch !== undefined && committing !== undefined) {
        const outcome = await committing;
        this.inFlight = 0;
        this.committingSince = undefined;
        if (!outcome.ok) {
          // Stopped while failing: put the items back for whoever looks at `waiting`.
          this.queue.unshift(...batch);
          break;
        }
        const committedAt = performance.now();
        const committed = batch;
        // The next transaction starts before this one's acks (commit() hands it to the store synchronously).
        batch = this.take();
        committing = batch === undefined ? undefined : this.commitWithRetry(batch);
        for (const q of committed) {
          q.ack();
        }
        this.options.onCommitted?.(committed, committedAt, outcome.result);
        this.releaseRoom();
      }
    } finally {
      this.running = false;
      if (this.queue.length === 0 || this.stopped) {
        for (const resolve of this.idle.splice(0)) {
          resolve();
        }
      }
    }
  }

  /** ok: committed (with commit()'s result); not ok: the batcher was stopped while the commit kept failing. */
  private async commitWithRetry(batch: Queued<T>[]): Promise<{ ok: true; result: R } | { ok: false }> {
    let attempt = 0;
    let firstFailure = 0;
    for (;;) {
      try {
        this.committingSince = performance.now();
        const result = await this.options.commit(batch.map((q) => q.item));
        if (attempt > 0) {
          this.failing = false;
          this.options.onRecovered?.(performance.now() - firstFailure, attempt);
        }
        return { ok: true, result };
      } catch (error) {
        attempt++;
        if (attempt === 1) {
          firstFailure = performance.now();
        }
        this.failing = true;
        // Failing, the subscriber may read on up to maxPending (see hasRoom).
        this.releaseRoom();
        const delay = Math.min(this.options.retryMaxMs, this.options.retryMinMs * 2 ** (attempt - 1));
        this.options.onRetry?.(error as Error, attempt, delay, this.waiting);
        if (this.stopped) {
          return { ok: false };
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
        if (this.stopped) {
          return { ok: false };
        }
      }
    }
  }

  private releaseRoom(): void {
    while (this.hasRoom() && this.waitingForRoom.length > 0) {
      this.waitingForRoom.shift()?.();
    }
  }
}
