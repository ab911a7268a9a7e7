/**
 * What `espfleet watch` knows about each node, from what it hears on the
 * wire: readings (`sensor_data`, or `sensor_data/<id>` with the per-node
 * layout), the retained status (`status/<id>`) and events (`event/<id>`).
 * Pure bookkeeping, no I/O, so it is unit-tested and works the same for
 * simulated nodes and real ESP8266s.
 *
 * A reading's node is its payload `id`. When its topic carries an id too
 * (`sensor_data/<id>`, which a per-node broker ACL lets only that node
 * write), a payload naming another node is forged: counted, never shown.
 *
 * Sequence rules (firmware/core/node.ts): `seq` counts readings from 1 per
 * boot; `boot` counts boots. A jump in `seq` within one boot is lost readings;
 * a new `boot` is a reboot, not a loss; a repeated `seq` is a QoS 1 resend.
 */

import { SlidingRate } from "../../common/sliding-rate";

/** Rates are readings per second over this sliding window (the last 10 s); shared with `run`'s live summary. */
export { RATE_WINDOW_MS } from "../../common/sliding-rate";

/** Reading fields that are not sensor values. */
const META_KEYS = new Set(["id", "seq", "boot", "up", "ts", "failed", "dropped"]);

export interface NodeWatch {
  id: string;
  /** From the retained status: "online", "offline", or "" before any status was seen. */
  state: string;
  fw: string;
  boot: number;
  /** Highest seq seen in the current boot (0: none yet). */
  seq: number;
  readings: number;
  /** Readings missing from the sequence (seq jumps within a boot). */
  lost: number;
  /** Readings received twice (QoS 1 resends after a lost PUBACK). */
  duplicates: number;
  reboots: number;
  /** The node's own count of readings its full buffer dropped (`dropped` field / readings_dropped). */
  dropped: number;
  values: Record<string, number>;
  failed: string[];
  lastSeenMs: number;
  firstSeenMs: number;
  events: number;
  /** Arrivals of the readings of the last RATE_WINDOW_MS, and always of the last two (for slow nodes). */
  recent: SlidingRate;
  /** The last config acknowledgement heard (config_ack/<id>). */
  lastAck?: { result: string; req: string; atMs: number };
  acks: number;
}

export type WatchNoticeKind = "gap" | "reboot" | "online" | "offline" | "event" | "ack" | "malformed" | "forged";

/** Something worth a line of its own in the watch output. */
export interface WatchNotice {
  kind: WatchNoticeKind;
  id: string;
  text: string;
}

export class WatchTracker {
  readonly nodes = new Map<string, NodeWatch>();
  malformed = 0;
  /** Readings whose payload id is not the id their topic carries (ignored). */
  forged = 0;

  /**
   * A message on a readings topic; `topicId` is the id the topic carries
   * (`sensor_data/<id>`), undefined on a shared topic (`sensor_data`).
   */
  reading(payload: string, nowMs: number, topicId?: string): WatchNotice[] {
    const body = parseObject(payload);
    if (body === undefined || typeof body.id !== "string" || typeof body.seq !== "number") {
      this.malformed++;
      return [{ kind: "malformed", id: topicId ?? "?", text: `not a reading: ${payload.slice(0, 80)}` }];
    }
    if (topicId !== undefined && body.id !== topicId) {
      this.forged++;
      return [{ kind: "forged", id: topicId, text: `a reading on its topic claims to be from ${JSON.stringify(body.id).slice(0, 40)}; ignored` }];
    }
    const node = this.node(body.id);
    const boot = typeof body.boot === "number" ? body.boot : 0;
    const seq = body.seq;
    const notices: WatchNotice[] = [];
    if (node.readings > 0 && boot < node.boot) {
      // A late resend from before a reboot: not news, not a loss.
      node.duplicates++;
      return notices;
    }
    if (node.readings > 0 && boot > node.boot) {
      node.reboots++;
      notices.push({ kind: "reboot", id: node.id, text: `rebooted (boot ${node.boot} -> ${boot}); seq restarts at 1, not a loss` });
      node.seq = 0;
    }
    // The first reading heard from a node sets the baseline: earlier ones were before we listened.
    if (node.readings > 0) {
      if (seq <= node.seq) {
        node.duplicates++;
        return notices;
      }
      const missing = seq - node.seq - 1;
      if (missing > 0) {
        node.lost += missing;
        const what = missing === 1 ? `seq ${node.seq + 1}` : `seq ${node.seq + 1}-${seq - 1}`;
        notices.push({ kind: "gap", id: node.id, text: `lost ${missing} reading${missing === 1 ? "" : "s"} (${what}, boot ${boot})` });
      }
    }
    node.boot = boot;
    node.seq = seq;
    if (node.readings === 0) {
      node.firstSeenMs = nowMs;
    }
    node.readings++;
    node.lastSeenMs = nowMs;
    node.recent.event(nowMs);
    node.failed = Array.isArray(body.failed) ? body.failed.filter((f): f is string => typeof f === "string") : [];
    if (typeof body.dropped === "number" && body.dropped > node.dropped) {
      node.dropped = body.dropped;
    }
    for (const [key, value] of Object.entries(body)) {
      if (!META_KEYS.has(key) && typeof value === "number") {
        node.values[key] = value;
      }
    }
    return notices;
  }

  /** A retained `status/<id>` message. */
  status(id: string, payload: string): WatchNotice[] {
    const body = parseObject(payload);
    if (body === undefined || typeof body.state !== "string") {
      // An empty retained message clears the status (someone deleted it).
      return [];
    }
    const node = this.node(id);
    const changed = node.state !== body.state;
    node.state = body.state;
    if (typeof body.fw === "string") {
      node.fw = body.fw;
    }
    if (!changed) {
      return [];
    }
    const kind = body.state === "online" ? "online" : "offline";
    const boot = typeof body.boot === "number" ? ` (boot ${body.boot})` : "";
    return [{ kind, id, text: `${body.state}${boot}` }];
  }

  /** An `event/<id>` message (readings_dropped, sensor_read_failed, …). */
  event(id: string, payload: string): WatchNotice[] {
    const body = parseObject(payload);
    const node = this.node(id);
    node.events++;
    if (body === undefined) {
      return [{ kind: "event", id, text: payload.slice(0, 120) }];
    }
    if (body.code === "readings_dropped" && typeof body.total === "number" && body.total > node.dropped) {
      node.dropped = body.total;
    }
    const details = Object.entries(body)
      .filter(([key]) => key !== "id" && key !== "code" && key !== "level")
      .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
      .join(" ");
    const level = typeof body.level === "string" ? body.level + " " : "";
    return [{ kind: "event", id, text: `${level}${String(body.code ?? "event")} ${details}`.trim() }];
  }

  /** A `config_ack/<id>` message: the node applied or rejected a config_change. */
  ack(id: string, payload: string, nowMs: number): WatchNotice[] {
    const body = parseObject(payload);
    if (body === undefined || (body.result !== "applied" && body.result !== "rejected")) {
      return [{ kind: "malformed", id, text: `not an ack: ${payload.slice(0, 80)}` }];
    }
    const node = this.node(id);
    const req = typeof body.req === "string" ? body.req : "";
    node.acks++;
    node.lastAck = { result: body.result, req, atMs: nowMs };
    if (body.result === "rejected") {
      const errors = Array.isArray(body.errors) ? body.errors : [];
      const reasons = errors
        .map((e) => (typeof e === "object" && e !== null ? `${String((e as Record<string, unknown>).key ?? "")} ${String((e as Record<string, unknown>).reason ?? "")}`.trim() : ""))
        .filter((r) => r !== "")
        .join("; ");
      return [{ kind: "ack", id, text: `config REJECTED (req ${req}): ${reasons || "no reason given"}` }];
    }
    const config = typeof body.config === "object" && body.config !== null ? (body.config as Record<string, unknown>) : {};
    const shown = ["interval_ms", "sensitivity", "heartbeat_ms", "sensors"]
      .filter((key) => Object.prototype.hasOwnProperty.call(config, key))
      .map((key) => `${key}=${JSON.stringify(config[key])}`)
      .join(" ");
    return [{ kind: "ack", id, text: `config applied (req ${req})${shown !== "" ? ": " + shown : ""}` }];
  }

  /** Readings per second over the last RATE_WINDOW_MS (10 s), sliding (SlidingRate: decays to 0 when a node stops). */
  rate(node: NodeWatch, nowMs: number): number {
    return node.recent.rate(nowMs);
  }

  totals(nowMs: number): { nodes: number; online: number; readings: number; lost: number; duplicates: number; reboots: number; dropped: number; rate: number } {
    let online = 0;
    let readings = 0;
    let lost = 0;
    let duplicates = 0;
    let reboots = 0;
    let dropped = 0;
    let rate = 0;
    for (const node of this.nodes.values()) {
      online += node.state === "online" ? 1 : 0;
      readings += node.readings;
      lost += node.lost;
      duplicates += node.duplicates;
      reboots += node.reboots;
      dropped += node.dropped;
      rate += this.rate(node, nowMs);
    }
    return { nodes: this.nodes.size, online, readings, lost, duplicates, reboots, dropped, rate };
  }

  private node(id: string): NodeWatch {
    let node = this.nodes.get(id);
    if (node === undefined) {
      node = {
        id,
        state: "",
        fw: "",
        boot: 0,
        seq: 0,
        readings: 0,
        lost: 0,
        duplicates: 0,
        reboots: 0,
        dropped: 0,
        values: {},
        failed: [],
        lastSeenMs: 0,
        firstSeenMs: 0,
        events: 0,
        recent: new SlidingRate(),
        acks: 0,
      };
      this.nodes.set(id, node);
    }
    return node;
  }
}

function parseObject(payload: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(payload) as unknown;
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
