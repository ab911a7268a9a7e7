/**
 * Log lines of thousands of nodes, made readable: when the broker goes away,
 * 10,000 nodes say the same thing. The first line of each kind is printed
 * with its node id; repeats from other nodes are counted and summed up once
 * per period ("… and 9,999 more like it"). `verbose` prints everything.
 */
import type { LogLevel } from "../firmware/core/platform";
import { formatCount } from "../common/units";

const LEVEL_ORDER: Record<LogLevel, number> = { info: 0, warn: 1, error: 2 };
const SUMMARY_PERIOD_MS = 5000;

export interface FleetLogOptions {
  /** Lowest level printed (default warn: a node's "connected" is in the summary line already). */
  level: LogLevel;
  /** Print every line, no grouping. */
  verbose: boolean;
  /** Where lines go (the live view prints them above its status line). */
  print: (line: string) => void;
}

export class FleetLog {
  /** Repeats per kind since the kind was first printed in this period. */
  private repeats = new Map<string, { count: number; sample: string }>();
  private timer: NodeJS.Timeout | undefined = undefined;

  constructor(private readonly options: FleetLogOptions) {}

  write(nodeId: string, level: LogLevel, text: string): void {
    if (LEVEL_ORDER[level] < LEVEL_ORDER[this.options.level]) {
      return;
    }
    const line = `${nodeId} ${level}: ${text}`;
    if (this.options.verbose) {
      this.options.print(line);
      return;
    }
    // One kind per message shape: node ids, numbers and addresses vary between nodes.
    const kind = level + " " + text.replace(/node-\d+/g, "#").replace(/\d+(\.\d+)*/g, "#");
    const seen = this.repeats.get(kind);
    if (seen === undefined) {
      this.repeats.set(kind, { count: 0, sample: text });
      this.options.print(line);
      this.timer ??= setInterval(() => this.summarise(), SUMMARY_PERIOD_MS).unref();
    } else {
      seen.count++;
    }
  }

  /** Print the counts of repeated lines and start a new period. */
  summarise(): void {
    for (const [kind, { count, sample }] of this.repeats) {
      if (count > 0) {
        this.options.print(`  … and ${formatCount(count)} more like "${shorten(sample)}" (${kind.split(" ")[0]})`);
      }
    }
    this.repeats = new Map();
    if (this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

function shorten(text: string): string {
  return text.length > 60 ? text.slice(0, 57) + "..." : text;
}
