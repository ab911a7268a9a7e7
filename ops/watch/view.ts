/**
 * Text rendering for `espfleet watch`: a table of nodes (rate, last values,
 * sequence, losses, the last config ack) redrawn in place on a terminal, one
 * line per reading or notice for pipes and `--lines`, `topic payload` lines
 * for `--raw` and JSON lines for `--json`. Colours only where the caller
 * says (common/colour.ts: a terminal, no NO_COLOR).
 */
import { SENSOR_UNITS } from "../../firmware/core/config";
import { paint, type Paint } from "../../common/colour";
import { formatCount } from "../../common/units";
import { type NodeWatch, RATE_WINDOW_MS, type WatchNotice, type WatchTracker } from "./tracker";

const PLAIN = paint(false);

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

export function readingLine(wallMs: number, node: NodeWatch, p: Paint = PLAIN): string {
  return `${p.dim(clock(wallMs))} ${p.cyan(node.id)} #${node.seq} boot ${node.boot}  ${formatValues(node.values, node.failed)}`.trimEnd();
}

export function noticeLine(wallMs: number, notice: WatchNotice, p: Paint = PLAIN): string {
  const mark = notice.kind === "gap" ? "LOST " : notice.kind === "reboot" ? "REBOOT " : notice.kind === "offline" ? "OFFLINE " : notice.kind === "forged" ? "FORGED " : "";
  const text = `${notice.id} ${mark}${notice.text}`;
  const bad = notice.kind === "gap" || notice.kind === "forged" || notice.kind === "offline" || notice.kind === "malformed" || notice.text.includes("REJECTED");
  const coloured = bad ? p.red(text) : notice.kind === "reboot" || notice.kind === "event" ? p.yellow(text) : notice.kind === "online" || notice.kind === "ack" ? p.green(text) : text;
  return `${p.dim(clock(wallMs))} ${coloured}`;
}

/** `--raw`: what mosquitto_sub -v prints, the topic and the payload as received. */
export function rawLine(topic: string, payload: Buffer): string {
  return `${topic} ${payload.toString("utf8")}`;
}

export type WatchMessageKind = "reading" | "status" | "event" | "ack";

/** `--json`: one message as a JSON object (the payload parsed when it is JSON, else the text). */
export function messageJson(wallMs: number, kind: WatchMessageKind, topic: string, id: string | undefined, payload: string): string {
  let body: unknown = payload;
  try {
    body = JSON.parse(payload);
  } catch {
    // Not JSON: kept as text.
  }
  return JSON.stringify({ ts: new Date(wallMs).toISOString(), kind, topic, id: id ?? null, payload: body });
}

/** `--json`: a notice (lost readings, a reboot, a forged reading, …) as a JSON object. */
export function noticeJson(wallMs: number, notice: WatchNotice): string {
  return JSON.stringify({ ts: new Date(wallMs).toISOString(), kind: "notice", notice: notice.kind, id: notice.id, text: notice.text });
}

/** The whole screen: totals, one row per node (as many as fit), recent notices. */
export function renderTable(
  tracker: WatchTracker,
  nowMs: number,
  wallMs: number,
  rows: number,
  columns: number,
  notices: string[],
  source: string,
  p: Paint = PLAIN,
): string {
  const t = tracker.totals(nowMs);
  const acks = [...tracker.nodes.values()].reduce((n, node) => n + node.acks, 0);
  // Each line is built plain (to be cut to the screen's width) and coloured after.
  const lines: [text: string, colour: (text: string) => string][] = [];
  const line = (text: string, colour: (text: string) => string = (x) => x): void => {
    lines.push([text, colour]);
  };
  line(
    `espfleet watch ${source} — ${clock(wallMs)} — ${formatCount(t.nodes)} nodes, ${formatCount(t.online)} online, ` +
      `${t.rate.toFixed(1)} readings/s (last ${RATE_WINDOW_MS / 1000} s), ${formatCount(t.readings)} received, ${formatCount(t.lost)} lost, ` +
      `${formatCount(t.duplicates)} resent, ${formatCount(t.reboots)} reboots, ${formatCount(t.dropped)} dropped by nodes, ${formatCount(acks)} config acks` +
      (tracker.forged > 0 ? `, ${formatCount(tracker.forged)} forged (ignored)` : ""),
    p.bold,
  );
  line("");
  line(pad("node", 12) + pad("state", 9) + pad("rate/s", 8) + pad("seq", 9) + pad("boot", 6) + pad("lost", 7) + pad("drop", 7) + pad("config", 18) + "last values", p.dim);
  const nodes = [...tracker.nodes.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  // Title, blank, column heads, "… more", blank, the notices' title and lines, and the cursor's line.
  const room = Math.max(3, rows - 7 - RECENT_NOTICES);
  for (const node of nodes.slice(0, room)) {
    const age = node.readings > 0 ? Math.round((nowMs - node.lastSeenMs) / 1000) : -1;
    const stale = age > 60 ? ` (${age}s ago)` : "";
    const ack = node.lastAck !== undefined ? `${node.lastAck.result} ${clock(wallMs - (nowMs - node.lastAck.atMs))}` : "-";
    const trouble = node.state === "offline" || node.lost > 0 || node.lastAck?.result === "rejected" || node.failed.length > 0;
    line(
      pad(node.id, 12) +
        pad(node.state !== "" ? node.state : "?", 9) +
        pad(tracker.rate(node, nowMs).toFixed(2), 8) +
        pad(node.readings > 0 ? String(node.seq) : "-", 9) +
        pad(node.boot > 0 ? String(node.boot) : "-", 6) +
        pad(String(node.lost), 7) +
        pad(String(node.dropped), 7) +
        pad(ack, 18) +
        formatValues(node.values, node.failed) +
        stale,
      trouble ? p.red : stale !== "" ? p.yellow : (x) => x,
    );
  }
  if (nodes.length > room) {
    line(`… ${formatCount(nodes.length - room)} more nodes (use --node to pick some, or --lines)`);
  }
  line("");
  line(`recent acks and events (--lines shows every one):`, p.dim);
  for (const notice of notices.slice(-RECENT_NOTICES)) {
    line(notice);
  }
  // Cut, never wrap: a wrapped line would scroll the title off the screen. Notices come coloured already: cut by their text.
  return lines.map(([text, colour]) => cut(text, columns, colour)).join("\n");
}

/** `text` cut to `columns` visible characters (ANSI codes do not count), then coloured. */
function cut(text: string, columns: number, colour: (text: string) => string): string {
  // eslint-disable-next-line no-control-regex -- ANSI colour codes start with ESC
  const visible = text.replace(/\x1b\[[0-9;]*m/g, "");
  if (visible.length <= columns) {
    return colour(text);
  }
  return colour(visible.slice(0, columns - 1) + "…");
}

function pad(text: string, width: number): string {
  return text.length >= width ? text + " " : text + " ".repeat(width - text.length);
}
