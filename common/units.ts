/**
 * Human units on the command line ("2s", "500ms", "1m") and the contract's
 * units on the wire (milliseconds). Bare numbers are refused for durations:
 * `--interval 2` could mean 2 ms or 2 s, and guessing wrong is silent.
 */

const DURATION_UNITS_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** The result of parsing user input: a value, or a message saying what to type instead. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** "2s" -> 2000, "1m30s" -> 90000, "1.5s" -> 1500, "0" -> 0. */
export function parseDuration(text: string): Parsed<number> {
  const input = text.trim().toLowerCase();
  if (input === "0") {
    return { ok: true, value: 0 };
  }
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;
  let total = 0;
  let at = 0;
  while (at < input.length) {
    part.lastIndex = at;
    const match = part.exec(input);
    if (match === null) {
      const hint = /^\d+(\.\d+)?$/.test(input) ? `; add a unit: ${input}ms, ${input}s or ${input}m` : "";
      return { ok: false, error: `"${text}" is not a duration such as 500ms, 2s, 1m or 1h${hint}` };
    }
    total += Number(match[1]) * DURATION_UNITS_MS[match[2]];
    at = part.lastIndex;
  }
  if (input.length === 0) {
    return { ok: false, error: "empty duration; use e.g. 500ms, 2s, 1m" };
  }
  return { ok: true, value: Math.round(total) };
}

/** 90000 -> "1m30s", 1500 -> "1.5s", 250 -> "250ms": the shortest exact spelling. */
export function formatDuration(ms: number): string {
  if (ms < 1000) {
    return `${ms}ms`;
  }
  if (ms % 1000 !== 0 || ms < 60_000) {
    return `${ms / 1000}s`;
  }
  const parts: string[] = [];
  let rest = ms;
  for (const [unit, size] of [
    ["d", 86_400_000],
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1000],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join("");
}

/** A finite number, e.g. for --sensitivity. */
export function parseNumber(text: string, what: string): Parsed<number> {
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value)) {
    return { ok: false, error: `${what} must be a number, got "${text}"` };
  }
  return { ok: true, value };
}

/** A whole number within [min, max], e.g. for --nodes. */
export function parseCount(text: string, what: string, min: number, max: number): Parsed<number> {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    return { ok: false, error: `${what} must be a whole number from ${min} to ${max}, got "${text}"` };
  }
  return { ok: true, value };
}

/** "20/s" or "20" -> 20 per second; "600/m" -> 10 per second. */
export function parseRate(text: string, what: string): Parsed<number> {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*(s|m))?\s*$/.exec(text.toLowerCase());
  if (match === null || Number(match[1]) <= 0) {
    return { ok: false, error: `${what} must be a positive rate such as 500/s or 600/m, got "${text}"` };
  }
  const perSecond = match[2] === "m" ? Number(match[1]) / 60 : Number(match[1]);
  return { ok: true, value: perSecond };
}

/** 1234567 -> "1,234,567" (the terminal views print counts this way). */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** Bytes as KB/MB with one decimal. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024 * 1024) {
    return `${(bytes / 1024).toFixed(1)} KB`;
  }
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** "1 node", "2 nodes", "1,000 nodes": a count with its noun. */
export function countOf(n: number, noun: string): string {
  return `${formatCount(n)} ${noun}${n === 1 ? "" : "s"}`;
}
