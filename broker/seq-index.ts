/**
 * The sequence numbers of one session's queued messages, in order, in
 * memory: how many are queued (the bound), whether one still is (so an
 * acknowledgement that arrives twice, or for a message never kept, changes
 * nothing), and which come after a given one (the order of delivery).
 *
 * Messages are added almost always in increasing order and acknowledged
 * almost always in the order they were sent, so this is a sorted array with
 * a moving head; the rare removal from the middle is a tombstone. 8 bytes
 * per queued message: a million cost 8 MB.
 */
export class SeqIndex {
  private seqs: number[] = [];
  private head = 0;
  private readonly removed = new Set<number>();

  get count(): number {
    return this.seqs.length - this.head - this.removed.size;
  }

  /** The highest sequence number queued, or undefined. */
  get last(): number | undefined {
    for (let i = this.seqs.length - 1; i >= this.head; i--) {
      if (!this.removed.has(this.seqs[i])) {
        return this.seqs[i];
      }
    }
    return undefined;
  }

  /** Add `seq`; false when it is queued already. */
  add(seq: number): boolean {
    const n = this.seqs.length;
    if (n === this.head || seq > this.seqs[n - 1]) {
      this.seqs.push(seq);
      return true;
    }
    const at = this.search(seq);
    if (at < n && this.seqs[at] === seq) {
      // Removed earlier (a tombstone): queued again.
      return this.removed.delete(seq);
    }
    this.seqs.splice(at, 0, seq);
    return true;
  }

  has(seq: number): boolean {
    const at = this.search(seq);
    return at < this.seqs.length && this.seqs[at] === seq && !this.removed.has(seq);
  }

  /** Remove `seq`; false when it was not queued. */
  delete(seq: number): boolean {
    if (!this.has(seq)) {
      return false;
    }
    if (this.seqs[this.head] === seq) {
      this.head++;
      // Tombstones that reach the head are gone for good.
      while (this.head < this.seqs.length && this.removed.delete(this.seqs[this.head])) {
        this.head++;
      }
      this.compact();
    } else {
      this.removed.add(seq);
    }
    return true;
  }

  /** Up to `limit` queued sequence numbers above `after`, in order. */
  after(after: number, limit: number): number[] {
    const out: number[] = [];
    for (let i = this.search(after + 1); i < this.seqs.length && out.length < limit; i++) {
      if (!this.removed.has(this.seqs[i])) {
        out.push(this.seqs[i]);
      }
    }
    return out;
  }

  clear(): void {
    this.seqs = [];
    this.head = 0;
    this.removed.clear();
  }

  /** First index at or after head whose value is >= seq. */
  private search(seq: number): number {
    let lo = this.head;
    let hi = this.seqs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.seqs[mid] < seq) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }

  /** Drop the consumed head once it is most of the array, so memory follows what is queued. */
  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.seqs.length) {
      this.seqs = this.seqs.slice(this.head);
      this.head = 0;
    }
  }
}
