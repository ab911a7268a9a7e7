/**
 * Text rendering for `espfleet watch`: a table of nodes (rate, last values,
 * sequence, losses) redrawn in place on a terminal, and one line per reading
 * or notice for pipes and `--lines`.
 */
import { SENSOR_UNITS } from "../../firmware/core/config";
import { formatCount } from "../../common/units";
import type { NodeWatch, WatchNotice, WatchTracker } from "./tracker";

/** Notices kept under the table. */
export const RECENT_NOTICES = 8;

function clock(ms: number): string {
  return new Date(ms).toTimeString().slice(0, 8);
}

/** "temperature 21.53 °C  humidity 48.2 %RH". */
export function formatValues(values: Record<string, number>, failed: string[]): string {
  const parts = Object.entries(values).map(([name, value]) => `${name} ${value}${unitShort(name)}`);
  for (const name of failed) {
    parts.push(`${name} FAILED`);
  }
  return parts.join("  ");
}

/** " °C" after a value; nothing for ADC counts or unknown names (a real device may send more). */
function unitShort(name: string): string {
  // Own keys only: `name` comes from a payload, and a plain object answers for `constructor`... (issue 15).
  const unit = Object.prototype.hasOwnProperty.call(SENSOR_UNITS, name) ? SENSOR_UNITS[name] : undefined;
  return name === "adc" || unit === undefined ? "" : " " + unit;
}

export function readingLine(wallMs: number, node: NodeWatch): string {
  return `${clock(wallMs)} ${node.id} #${node.seq} boot ${node.boot}  ${formatValues(node.values, node.failed)}`.trimEnd();
}

export function noticeLine(wallMs: number, notice: WatchNotice): string {
  const mark = notice.kind === "gap" ? "LOST " : notice.kind === "reboot" ? "REBOOT " : notice.kind === "offline" ? "OFFLINE " : notice.kind === "forged" ? "FORGED " : "";
  return `${clock(wallMs)} ${notice.id} ${mark}${notice.text}`;
}

/** The whole screen: totals, one row per node (as many as fit), recent notices. */
export function renderTable(tracker: WatchTracker, nowMs: number, wallMs: number, rows: number, columns: number, notices: string[], source: string): string {
  const t = tracker.totals(nowMs);
  const lines: string[] = [];
  lines.push(
    `espfleet watch ${source} — ${clock(wallMs)} — ${formatCount(t.nodes)} nodes, ${formatCount(t.online)} online, ` +
      `${t.rate.toFixed(1)} readings/s, ${formatCount(t.readings)} received, ${formatCount(t.lost)} lost, ` +
      `${formatCount(t.duplicates)} resent, ${formatCount(t.reboots)} reboots, ${formatCount(t.dropped)} dropped by nodes` +
      (tracker.forged > 0 ? `, ${formatCount(tracker.forged)} forged (ignored)` : ""),
  );
  lines.push("");
  lines.push(pad("node", 12) + pad("state", 9) + pad("rate/s", 8) + pad("seq", 9) + pad("boot", 6) + pad("lost", 7) + pad("drop", 7) + "last values");
  const nodes = [...tracker.nodes.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  // Title, blank, column heads, "… more", blank, the notices, and the cursor's line.
  const room = Math.max(3, rows - 6 - RECENT_NOTICES);
  for (const node of nodes.slice(0, room)) {
    const age = node.readings > 0 ? Math.round((nowMs - node.lastSeenMs) / 1000) : -1;
    const stale = age > 60 ? ` (${age}s ago)` : "";
    lines.push(
      pad(node.id, 12) +
        pad(node.state !== "" ? node.state : "?", 9) +
        pad(tracker.rate(node, nowMs).toFixed(2), 8) +
        pad(node.readings > 0 ? String(node.seq) : "-", 9) +
        pad(node.boot > 0 ? String(node.boot) : "-", 6) +
        pad(String(node.lost), 7) +
        pad(String(node.dropped), 7) +
        formatValues(node.values, node.failed) +
        stale,
    );
  }
  if (nodes.length > room) {
    lines.push(`… ${formatCount(nodes.length - room)} more nodes (use --node to pick some, or --lines)`);
  }
  lines.push("");
  lines.push(...notices.slice(-RECENT_NOTICES));
  // Cut, never wrap: a wrapped line would scroll the title off the screen.
  return lines.map((line) => (line.length > columns ? line.slice(0, columns - 1) + "…" : line)).join("\n");
}

function pad(text: string, width: number): string {
  return text.length >= width ? text + " " : text + " ".repeat(width - text.length);
}
