/**
 * An Arduino Uno running StandardFirmata, as far as johnny-five can tell:
 * mock-firmata's MockFirmata (the IO object johnny-five's own tests use)
 * plus what it leaves out, the analog stream. `setAnalog` sets an input's
 * ADC count; like StandardFirmata the mock then streams it every 19 ms, and
 * delivers each sample the way firmata.js delivers an ANALOG_MESSAGE: to
 * every analogRead callback of the channel, then as "analog-read".
 */
import { createRequire } from "node:module";
import type { FirmataIo } from "../../../../host-bridge/johnny-five/johnny-five-api";

type AnalogCallback = (count: number) => void;
interface MockFirmataIo extends FirmataIo {
  analogRead(channel: number, callback: AnalogCallback): void;
}

const require = createRequire(import.meta.url);
const { Firmata: MockFirmata } = require("mock-firmata") as { Firmata: new () => MockFirmataIo };

/** StandardFirmata's default sampling interval, ms. */
const SAMPLING_MS = 19;

export class MockArduino {
  readonly io: MockFirmataIo = new MockFirmata();
  private readonly analogListeners = new Map<number, AnalogCallback[]>();
  private readonly counts = new Map<number, number>();
  private streamer: NodeJS.Timeout | undefined = setInterval(() => this.stream(), SAMPLING_MS);

  constructor() {
    this.io.analogRead = (channel, callback) => {
      const list = this.analogListeners.get(channel) ?? [];
      list.push(callback);
      this.analogListeners.set(channel, list);
    };
    // The handshake completes from the event loop, after the Board has subscribed.
    setImmediate(() => {
      this.io.emit("connect");
      this.io.emit("ready");
    });
  }

  /** Set A<channel>'s count and send it at once; false when nothing reads that channel. */
  setAnalog(channel: number, count: number): boolean {
    this.counts.set(channel, count);
    this.send(channel, count);
    return (this.analogListeners.get(channel) ?? []).length > 0;
  }

  /** The sketch hangs: the port stays open, no more samples. */
  freeze(): void {
    clearInterval(this.streamer);
    this.streamer = undefined;
  }

  close(): void {
    this.freeze();
  }

  private stream(): void {
    for (const [channel, count] of this.counts) {
      this.send(channel, count);
    }
  }

  private send(channel: number, count: number): void {
    for (const callback of this.analogListeners.get(channel) ?? []) {
      callback(count);
    }
    this.io.emit("analog-read", { pin: channel, value: count });
  }

  /** The USB cable pulled: firmata.js reports "disconnect". */
  unplug(): void {
    this.io.emit("disconnect");
  }
}
