/**
 * `--keep 30d`: readings, per-minute sums and events older than that are
 * deleted, at start and then periodically (a tenth of the period, between
 * 10 s and 1 h). Default: keep everything.
 */
import { formatCount, formatDuration } from "../../common/units";
import type { Store } from "./store";

export function retentionEveryMs(keepMs: number): number {
  return Math.min(3_600_000, Math.max(10_000, Math.round(keepMs / 10)));
}

export function startRetention(store: Store, keepMs: number, log: (line: string) => void, isBusy: () => boolean): { stop(): Promise<void> } {
  let running: Promise<void> | undefined = undefined;
  const prune = (): void => {
    if (running !== undefined || isBusy()) {
      return; // the database is failing or a prune still runs: next time
    }
    running = store
      .prune(Date.now() - keepMs)
      .then(
        (r) => {
          if (r.readings + r.messages > 0) {
            log(`retention: deleted ${formatCount(r.readings)} readings, ${formatCount(r.messages)} events and acks, ${formatCount(r.minutes)} minutes older than ${formatDuration(keepMs)}`);
          }
        },
        (error: Error) => log(`retention: could not delete old readings: ${error.message.split("\n")[0]}; trying again later`),
      )
      .finally(() => {
        running = undefined;
      });
  };
  prune();
  const timer = setInterval(prune, retentionEveryMs(keepMs));
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
