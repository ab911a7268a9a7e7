/** The core's Timer on Node timers (firmware/nodemcu uses `tmr`). */
import type { Timer } from "../firmware/core/platform";

export class NodeTimer implements Timer {
  private handle: NodeJS.Timeout | undefined = undefined;

  start(ms: number, repeat: boolean, fn: (this: void) => void): void {
    this.stop();
    // Node clamps 0 to 1 ms anyway; say so, so the value is what actually happens.
    const delay = Math.max(1, ms);
    this.handle = repeat ? setInterval(fn, delay) : setTimeout(fn, delay);
  }

  stop(): void {
    if (this.handle !== undefined) {
      clearTimeout(this.handle);
      this.handle = undefined;
    }
  }
}
