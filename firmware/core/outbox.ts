/**
 * The offline buffer: a bounded FIFO of encoded readings (strings, not tables:
 * one Lua string per reading is the cheapest thing to keep on the heap).
 * A ring over a fixed-size array, because `shift`/`splice` are O(n) in Lua.
 * When full, the oldest entry makes room and is counted as dropped.
 */
export class Outbox {
  private items: (string | undefined)[] = [];
  private head = 0;
  private count = 0;
  /** Readings dropped since boot because the buffer was full. */
  dropped = 0;
  /** Of `dropped`, how many the node has announced (readings_dropped events). */
  reported = 0;
  /** The entry the node took for sending and that awaits its acknowledgement; it puts it back if the session dies. */
  inFlight: string | undefined;

  constructor(private capacity: number) {}

  size(): number {
    return this.count;
  }

  /** Append the newest entry; drops the oldest when full (capacity 0 drops it at once). */
  push(entry: string): void {
    if (this.capacity === 0) {
      this.dropped++;
      return;
    }
    if (this.count === this.capacity) {
      this.items[this.head] = undefined;
      this.head = (this.head + 1) % this.capacity;
      this.count--;
      this.dropped++;
    }
    this.items[(this.head + this.count) % this.capacity] = entry;
    this.count++;
  }

  /** Put back an entry that was taken but not acknowledged, in front (it is the oldest). */
  pushFront(entry: string): void {
    if (this.count === this.capacity) {
      this.dropped++;
      if (this.count > 0) {
        // Full: the oldest buffered entry, never sent, makes room. Not `entry`:
        // it may have reached the broker (only its PUBACK was lost), and
        // counting a delivered reading as dropped would make the count inexact.
        this.items[this.head] = entry;
      }
      return;
    }
    this.head = (this.head + this.capacity - 1) % this.capacity;
    this.items[this.head] = entry;
    this.count++;
  }

  /** Remove and return the oldest entry, or undefined when empty. */
  take(): string | undefined {
    if (this.count === 0) {
      return undefined;
    }
    const entry = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.count--;
    return entry;
  }

  /** Change the capacity, keeping the newest entries; the rest count as dropped. */
  resize(capacity: number): void {
    const kept: string[] = [];
    while (this.count > 0) {
      kept.push(this.take() as string);
    }
    this.items = [];
    this.head = 0;
    this.capacity = capacity;
    for (const entry of kept) {
      this.push(entry);
    }
  }
}
