/**
 * CPU time of processes and threads, from /proc (Linux), for the benchmarks:
 * what bounds the collector's end-to-end run on a small machine is the sum
 * of what the nodes, the broker and the collector (its MQTT thread and the
 * PGlite worker together) each burn per reading; the console's share of a
 * core; the fleet's split between its main thread and V8's and libuv's.
 * Elsewhere (no /proc) the figures are left out.
 */
import { readFileSync } from "node:fs";

/** Kernel clock ticks per second (USER_HZ): 100 on Linux everywhere that matters. */
const TICKS_PER_S = 100;

/** User + system CPU seconds of a process so far (all its threads); undefined when it cannot be read. */
export function cpuSecondsOf(pid: number): number | undefined {
  return cpuSecondsIn(`/proc/${pid}/stat`);
}

/** User + system CPU seconds so far of one thread of this process (a task id of /proc/self/task); undefined when it cannot be read. */
export function threadCpuSecondsOf(task: string): number | undefined {
  return cpuSecondsIn(`/proc/self/task/${task}/stat`);
}

/** The utime and stime of a /proc stat file, in seconds. */
function cpuSecondsIn(path: string): number | undefined {
  try {
    const stat = readFileSync(path, "utf8");
    // Fields after the command name (which may hold spaces, in parentheses): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
  } catch {
    return undefined;
  }
}

export interface CpuShare {
  name: string;
  /** CPU seconds over the window. */
  seconds: number;
}

/** CPU seconds of named groups of processes between `start()` and `stop()`. */
export class CpuWindow {
  private readonly before = new Map<string, number>();

  constructor(private readonly groups: { name: string; pids: number[] }[]) {}

  private read(pids: number[]): number | undefined {
    let total = 0;
    for (const pid of pids) {
      const s = cpuSecondsOf(pid);
      if (s === undefined) {
        return undefined;
      }
      total += s;
    }
    return total;
  }

  start(): void {
    for (const g of this.groups) {
      const s = this.read(g.pids);
      if (s !== undefined) {
        this.before.set(g.name, s);
      }
    }
  }

  stop(): CpuShare[] {
    const shares: CpuShare[] = [];
    for (const g of this.groups) {
      const s = this.read(g.pids);
      const before = this.before.get(g.name);
      if (s !== undefined && before !== undefined) {
        shares.push({ name: g.name, seconds: s - before });
      }
    }
    return shares;
  }
}
