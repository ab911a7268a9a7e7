/** The core's Timer on Node timers (firmware/nodemcu uses `tmr`). */
import type { Timer } from "../firmware/core/platform";

/** Who runs a timer's callback: the node's platform, which keeps an exception in it to that node (issue 15). */
export interface CallbackRunner {
  invoke(where: string, fn: (this: void, a: string, b: string) => void, a?: string, b?: string): void;
}

/** Module-level, passed the timer as an argument: no closure per start (19,000 nodes, 3 timers each). */
function fire(timer: NodeTimer, fn: (this: void) => void): void {
  if (timer.runner !== undefined) {
    timer.runner.invoke(timer.where, fn);
  } else {
    fn();
  }
}

export class NodeTimer implements Timer {
  private handle: NodeJS.Timeout | undefined = undefined;

  constructor(
    readonly runner?: CallbackRunner,
    /** For the fault message: "timer sample". */
    readonly where = "timer",
  ) {}

  start(ms: number, repeat: boolean, fn: (this: void) => void): void {
    this.stop();
    // Node clamps 0 to 1 ms anyway; say so, so the value is what actually happens.
    const delay = Math.max(1, ms);
    this.handle = repeat ? setInterval(fire, delay, this, fn) : setTimeout(fire, delay, this, fn);
  }

  stop(): void {
    if (this.handle !== undefined) {
      clearTimeout(this.handle);
      this.handle = undefined;
    }
  }
}
