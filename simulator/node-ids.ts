/**
 * Node numbering and shards. Node n (1-based) is `node-0001` … (at least
 * four digits, more past 9999), so ids sort in number order and stay within
 * the 23-character client id that MQTT 3.1.1 brokers must accept.
 * A shard K/N owns a contiguous slice, so N processes or hosts started with
 * 1/N … N/N run every node of the fleet exactly once.
 */
import type { Parsed } from "../common/units";

export function nodeId(n: number): string {
  return "node-" + String(n).padStart(4, "0");
}

/** 1-based node number of an id made by nodeId(), or undefined. */
export function nodeNumber(id: string): number | undefined {
  const match = /^node-(\d{4,})$/.exec(id);
  return match !== null ? Number(match[1]) : undefined;
}

export interface Shard {
  /** 1-based index of this shard. */
  index: number;
  count: number;
}

export function parseShard(text: string): Parsed<Shard> {
  const match = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const index = match !== null ? Number(match[1]) : 0;
  const count = match !== null ? Number(match[2]) : 0;
  if (match === null || count < 1 || index < 1 || index > count) {
    return { ok: false, error: `--shard must be K/N with 1 <= K <= N, e.g. 2/4 for the second of four slices; got "${text}"` };
  }
  return { ok: true, value: { index, count } };
}

/** The node numbers [first, first + count) a shard of a fleet of `total` nodes runs. */
export function shardRange(total: number, shard: Shard): { first: number; count: number } {
  const start = Math.floor((total * (shard.index - 1)) / shard.count);
  const end = Math.floor((total * shard.index) / shard.count);
  return { first: start + 1, count: end - start };
}

/** Split `count` nodes starting at `first` into `parts` contiguous ranges (for worker processes). */
export function splitRange(first: number, count: number, parts: number): { first: number; count: number }[] {
  const ranges: { first: number; count: number }[] = [];
  for (let i = 0; i < parts; i++) {
    const start = Math.floor((count * i) / parts);
    const end = Math.floor((count * (i + 1)) / parts);
    if (end > start) {
      ranges.push({ first: first + start, count: end - start });
    }
  }
  return ranges;
}
