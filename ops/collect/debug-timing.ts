/**
 * ESPFLEET_COLLECT_DEBUG=1: timing lines on stderr for finding the
 * collector's stalls (a commit that takes seconds at 10,000 readings/s):
 * per thread, every second, the event loop's worst delay and the garbage
 * collector's pauses; per PGlite transaction that took long, whether a
 * checkpoint ran meanwhile. Off (nothing measured) without the variable.
 */
import fs from "node:fs";
import { monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks";

export const COLLECT_DEBUG = process.env.ESPFLEET_COLLECT_DEBUG === "1";

/** A debug line, with the wall clock to line it up with the other thread's. */
export function debugLine(line: string): void {
  process.stderr.write(`[collect-debug ${new Date().toISOString().slice(11, 23)}] ${line}\n`);
}

/** Synchronous file writes of this thread (PGlite's files go through fs.writeSync), per second. */
const writes = { count: 0, bytes: 0, ms: 0, slowest: 0, opens: 0, watched: false };

/**
 * Time this thread's fs.writeSync and fs.openSync calls (PGlite's NODEFS
 * makes them through the fs module object, so wrapping its methods sees
 * them): a write stalled by the disk would show here. Debug only.
 */
export function watchFileWrites(): void {
  if (writes.watched) {
    return;
  }
  writes.watched = true;
  const writeSync = fs.writeSync.bind(fs) as (...args: unknown[]) => number;
  const openSync = fs.openSync.bind(fs) as (...args: unknown[]) => number;
  (fs as unknown as Record<string, unknown>).writeSync = (...args: unknown[]): number => {
    const started = performance.now();
    const n = writeSync(...args);
    const ms = performance.now() - started;
    writes.count++;
    writes.bytes += n;
    writes.ms += ms;
    writes.slowest = Math.max(writes.slowest, ms);
    return n;
  };
  (fs as unknown as Record<string, unknown>).openSync = (...args: unknown[]): number => {
    writes.opens++;
    return openSync(...args);
  };
}

/** Every second: this thread's worst event-loop delay and its GC pauses. Returns a stop function. */
export function startLoopMonitor(thread: string): () => void {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  let gcMs = 0;
  let gcMax = 0;
  let gcCount = 0;
  const gc = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gcMs += entry.duration;
      gcMax = Math.max(gcMax, entry.duration);
      gcCount++;
    }
  });
  gc.observe({ entryTypes: ["gc"] });
  const timer = setInterval(() => {
    debugLine(
      `${thread}: loop delay max ${(delay.max / 1e6).toFixed(0)} ms p99 ${(delay.percentile(99) / 1e6).toFixed(0)} ms; ` +
        `gc ${gcCount} pauses ${gcMs.toFixed(0)} ms, longest ${gcMax.toFixed(0)} ms` +
        (writes.watched
          ? `; file writes ${writes.count} (${(writes.bytes / 1e6).toFixed(1)} MB) ${writes.ms.toFixed(0)} ms, slowest ${writes.slowest.toFixed(0)} ms, ${writes.opens} opens`
          : ""),
    );
    Object.assign(writes, { count: 0, bytes: 0, ms: 0, slowest: 0, opens: 0 });
    delay.reset();
    gcMs = 0;
    gcMax = 0;
    gcCount = 0;
  }, 1000);
  timer.unref();
  return () => {
    clearInterval(timer);
    delay.disable();
    gc.disconnect();
  };
}
