/**
 * The time range of `espfleet query`: `--since 10m` (until now), or
 * `--from` / `--to`, each an ISO 8601 date-time (`2026-12-05T10:00:00Z`; no
 * zone = local time) or a duration ago (`2h` = two hours ago). Default: the
 * last hour.
 */
import { CliError } from "../../common/errors";
import { parseDuration } from "../../common/units";

export const DEFAULT_SINCE_MS = 3_600_000;

/** A point in time from `--from`/`--to`: ISO 8601, or a duration before `nowMs`. */
export function parseInstant(flag: string, text: string, nowMs: number): number {
  const ago = parseDuration(text);
  if (ago.ok) {
    return nowMs - ago.value;
  }
  // Date-only or date-time ISO 8601; Date.parse reads "2026-12-05" as UTC and "2026-12-05T10:00" as local time.
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/i.test(text.trim())) {
    const ms = Date.parse(text.trim().replace(" ", "T"));
    if (Number.isFinite(ms)) {
      return ms;
    }
  }
  throw new CliError(`${flag} "${text}" is neither a date-time such as 2026-12-05T10:00:00Z nor a duration ago such as 2h or 30m`, 2);
}

export function timeRange(flags: { since?: number; from?: string; to?: string }, nowMs: number): { fromMs: number; toMs: number } {
  if (flags.since !== undefined && flags.from !== undefined) {
    throw new CliError("--since and --from both say where the range starts; give one of them", 2);
  }
  const toMs = flags.to !== undefined ? parseInstant("--to", flags.to, nowMs) : nowMs + 1;
  const fromMs = flags.from !== undefined ? parseInstant("--from", flags.from, nowMs) : nowMs - (flags.since ?? DEFAULT_SINCE_MS);
  if (fromMs >= toMs) {
    throw new CliError(`the range is empty: --from (${new Date(fromMs).toISOString()}) is not before --to (${new Date(toMs).toISOString()})`, 2);
  }
  return { fromMs, toMs };
}
