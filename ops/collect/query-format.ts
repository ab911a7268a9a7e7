/**
 * How `espfleet query` prints: readings as CSV (a header, then one line per
 * reading; empty = no value) or JSON lines; the summary as a table for
 * people, or CSV / JSON lines. Times are ISO 8601 in UTC.
 */
import { formatCount } from "../../common/units";
import type { BrokerDropsRecord, NodeSummary, StoredReading } from "./store";

export type Format = "csv" | "jsonl" | "table";

const READING_COLUMNS = ["time", "node", "boot", "seq", "up", "ts", "temperature", "humidity", "adc", "vdd", "extra"] as const;
const SUMMARY_COLUMNS = ["node", "readings", "gaps", "duplicates", "reboots", "boot", "seq", "first_seen", "last_seen", "state", "fw"] as const;

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function csvField(value: unknown): string {
  if (value === null || value === undefined) {
    return "";
  }
  const text = typeof value === "string" ? value : typeof value === "object" ? JSON.stringify(value) : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function readingRow(r: StoredReading): Record<(typeof READING_COLUMNS)[number], unknown> {
  return {
    time: iso(r.timeMs),
    node: r.node,
    boot: r.boot,
    seq: r.seq,
    up: r.up,
    ts: r.ts,
    temperature: r.temperature,
    humidity: r.humidity,
    adc: r.adc,
    vdd: r.vdd,
    extra: r.extra,
  };
}

export function readingsHeader(format: Format): string {
  return format === "jsonl" ? "" : READING_COLUMNS.join(",") + "\n";
}

export function formatReadings(rows: StoredReading[], format: Format): string {
  let out = "";
  for (const r of rows) {
    const row = readingRow(r);
    if (format === "jsonl") {
      // Absent values are left out, as a node leaves them out of its reading.
      out += JSON.stringify(Object.fromEntries(Object.entries(row).filter(([, v]) => v !== null))) + "\n";
    } else {
      out += READING_COLUMNS.map((c) => csvField(row[c])).join(",") + "\n";
    }
  }
  return out;
}

function summaryRow(s: NodeSummary): Record<(typeof SUMMARY_COLUMNS)[number], unknown> {
  return {
    node: s.node,
    readings: s.readings,
    gaps: s.gaps,
    duplicates: s.duplicates,
    reboots: s.reboots,
    boot: s.boot,
    seq: s.seq,
    first_seen: iso(s.firstSeenMs),
    last_seen: iso(s.lastSeenMs),
    state: s.state,
    fw: s.fw,
  };
}

function ago(ms: number | null, nowMs: number): string {
  if (ms === null) {
    return "-";
  }
  const s = Math.max(0, Math.round((nowMs - ms) / 1000));
  return s < 120 ? `${s} s ago` : s < 7200 ? `${Math.round(s / 60)} min ago` : s < 172_800 ? `${Math.round(s / 3600)} h ago` : `${Math.round(s / 86_400)} d ago`;
}

export function formatSummary(rows: NodeSummary[], format: Format, nowMs = Date.now()): string {
  if (format === "jsonl") {
    return rows.map((s) => JSON.stringify(summaryRow(s)) + "\n").join("");
  }
  if (format === "csv") {
    return SUMMARY_COLUMNS.join(",") + "\n" + rows.map((s) => SUMMARY_COLUMNS.map((c) => csvField(summaryRow(s)[c])).join(",") + "\n").join("");
  }
  const header = ["node", "readings", "gaps", "duplicates", "reboots", "boot", "seq", "last seen", "state"];
  const body = rows.map((s) => [s.node, String(s.readings), String(s.gaps), String(s.duplicates), String(s.reboots), String(s.boot), String(s.seq), ago(s.lastSeenMs, nowMs), s.state ?? "-"]);
  const total = (key: "readings" | "gaps" | "duplicates" | "reboots"): string => String(rows.reduce((n, s) => n + s[key], 0));
  body.push([`${rows.length} nodes`, total("readings"), total("gaps"), total("duplicates"), total("reboots"), "", "", "", ""]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 || i >= 7 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ").trimEnd() + "\n";
  return line(header) + body.map(line).join("");
}

/** Under the summary: what brokers dropped for collectors' sessions (their queues were full), one line per client id that lost any. */
export function formatDrops(drops: BrokerDropsRecord[], nowMs = Date.now()): string[] {
  return drops
    .filter((d) => d.dropped > 0)
    .map(
      (d) =>
        `the broker dropped ${formatCount(d.dropped)} messages for the session ${d.client} (its queue was full at ${formatCount(d.queueLimit)} messages; ` +
        `the last ${ago(d.lastDropMs, nowMs)}): the readings among them are lost and counted in gaps`,
    );
}
