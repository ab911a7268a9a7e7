/**
 * What the page is told over its WebSocket: never every reading, but once a
 * second what changed in the fleet's table, as columns; the live readings
 * of the one node a page is looking at; its events and acks as they come;
 * and the progress of config changes (acks batched every ACK_FLUSH_MS).
 *
 * Fleet messages (`type: "fleet"`): a page gets the whole table when it
 * connects (`full: true`), then deltas. Rows are addressed by index (the
 * order nodes were first heard); per column only the rows whose value
 * changed since the previous push are sent, as two arrays: the row indexes
 * as differences from the previous one (mostly 1: short to send), and the
 * values. Texts (firmware, config, last ack) are interned: a table of
 * strings grows as new ones appear, columns carry their numbers. At 10,000
 * nodes at 1 Hz a push is ~40 KB, mostly the "last seen" column.
 */
import type { WebSocket } from "ws";
import type { StoredMessage } from "../collect/store";
import type { ChangeSummary, ConfigChanges } from "./config-changes";
import { COLUMNS, type FleetState } from "./fleet-state";
import type { RecentReadings } from "./recent-readings";

export const TEXT_COLUMNS = ["fw", "config", "ackReq", "ack"] as const;
const ACK_FLUSH_MS = 200;
const SEEN = COLUMNS.indexOf("seen");
/** A page this far behind (bytes queued) is dropped; it reconnects and gets a fresh table. */
const MAX_BUFFERED = 8 * 1024 * 1024;

interface Client {
  ws: WebSocket;
  watch: string | undefined;
  cursor: number;
}

type Encoded = [number[], number[]];

export class PushHub {
  private readonly clients = new Set<Client>();
  private readonly strings = new Map<string, number>();
  private readonly stringList: string[] = [];
  private newStrings: [number, string][] = [];
  private sentNumbers: Float64Array[] = COLUMNS.map(() => new Float64Array(0));
  private sentTexts: Int32Array[] = TEXT_COLUMNS.map(() => new Int32Array(0));
  private readonly pendingChanges = new Set<string>();
  private ackTimer: NodeJS.Timeout | undefined = undefined;

  constructor(
    private readonly fleet: FleetState,
    private readonly recent: RecentReadings,
    private readonly changes: ConfigChanges,
    /** Sent first to every page: the schema, the signing, where history comes from… */
    private readonly hello: () => Record<string, unknown>,
  ) {
    this.intern(""); // string 0: nothing
  }

  get pages(): number {
    return this.clients.size;
  }

  add(ws: WebSocket): void {
    const client: Client = { ws, watch: undefined, cursor: 0 };
    this.clients.add(client);
    ws.on("close", () => this.clients.delete(client));
    ws.on("error", () => ws.terminate());
    ws.on("message", (data) => {
      let message: { type?: unknown; node?: unknown };
      try {
        message = JSON.parse(String(data)) as typeof message;
      } catch {
        return;
      }
      if (message.type === "watch") {
        client.watch = typeof message.node === "string" ? message.node : undefined;
        client.cursor = 0;
        this.sendLive(client);
      }
    });
    this.send(client, { type: "hello", ...this.hello() });
    this.send(client, this.full());
    this.send(client, { type: "changes", changes: this.changes.recent() });
  }

  /** Once a second: the fleet's changes to every page, each page's live readings. */
  tick(nowMs = Date.now()): void {
    this.fleet.tick();
    const changes = this.fleet.takeChanges();
    this.grow();
    // A row (re)appearing is sent whole: reset what was sent for it.
    for (const i of changes.added) {
      this.sentNumbers.forEach((sent) => (sent[i] = Number.NaN));
      this.sentTexts.forEach((sent) => (sent[i] = -1));
    }
    const rows = union(changes.rows, changes.added).filter((i) => this.fleet.removed[i] === 0);
    const picked: number[][] = COLUMNS.map(() => []);
    const values: number[][] = COLUMNS.map(() => []);
    const numbers = new Array<number>(COLUMNS.length);
    for (const i of rows) {
      this.fleet.numbers(i, nowMs, numbers);
      for (let c = 0; c < COLUMNS.length; c++) {
        // "seen" is sent as seconds ago, but compared as the second it happened: unchanged while no reading comes.
        const key = c === SEEN ? Math.round(this.fleet.seenMs[i] / 1000) : numbers[c];
        if (this.sentNumbers[c][i] !== key) {
          this.sentNumbers[c][i] = key;
          picked[c].push(i);
          values[c].push(numbers[c]);
        }
      }
    }
    const cols: Record<string, Encoded> = {};
    COLUMNS.forEach((name, c) => {
      if (picked[c].length > 0) {
        cols[name] = [deltas(picked[c]), values[c]];
      }
    });
    const texts = this.textColumns(union(changes.texts, changes.added).filter((i) => this.fleet.removed[i] === 0), true);
    const message = {
      type: "fleet",
      now: nowMs,
      ids: changes.added.map((i) => [i, this.fleet.ids[i]]),
      removed: changes.removed,
      strings: this.newStrings.splice(0),
      cols,
      texts,
      totals: this.fleet.totals(),
    };
    if (this.clients.size === 0) {
      return;
    }
    const text = JSON.stringify(message);
    for (const client of this.clients) {
      this.sendText(client, text);
      this.sendLive(client);
    }
  }

  /** An ack answered change `req`: the pages hear of it within ACK_FLUSH_MS. */
  changeUpdated(req: string): void {
    this.pendingChanges.add(req);
    this.ackTimer ??= setTimeout(() => {
      this.ackTimer = undefined;
      for (const r of this.pendingChanges) {
        const summary = this.changes.get(r);
        if (summary !== undefined) {
          this.broadcast({ type: "change", change: summary });
        }
      }
      this.pendingChanges.clear();
    }, ACK_FLUSH_MS);
  }

  changeSent(summary: ChangeSummary): void {
    this.broadcast({ type: "change", change: summary });
  }

  /** A status, event or ack of a node: to the pages looking at that node. */
  nodeMessage(message: StoredMessage): void {
    for (const client of this.clients) {
      if (client.watch === message.node) {
        this.send(client, { type: "event", ...message });
      }
    }
  }

  broadcast(message: Record<string, unknown>): void {
    const text = JSON.stringify(message);
    for (const client of this.clients) {
      this.sendText(client, text);
    }
  }

  close(): void {
    clearTimeout(this.ackTimer);
    for (const client of this.clients) {
      client.ws.close(1001, "the console is stopping");
    }
  }

  /** The whole table, as a page needs it when it connects. */
  private full(nowMs = Date.now()): Record<string, unknown> {
    const n = this.fleet.size;
    const all = Array.from({ length: n }, (_, i) => i).filter((i) => this.fleet.removed[i] === 0);
    const cols: Record<string, Encoded> = {};
    const rowDeltas = deltas(all);
    const values: number[][] = COLUMNS.map(() => []);
    const numbers = new Array<number>(COLUMNS.length);
    for (const i of all) {
      this.fleet.numbers(i, nowMs, numbers);
      numbers.forEach((v, c) => values[c].push(v));
    }
    COLUMNS.forEach((name, c) => {
      cols[name] = [rowDeltas, values[c]];
    });
    const texts = this.textColumns(all, false);
    return {
      type: "fleet",
      full: true,
      now: nowMs,
      ids: all.map((i) => [i, this.fleet.ids[i]]),
      removed: [],
      strings: this.stringList.map((s, i) => [i, s]),
      cols,
      texts,
      totals: this.fleet.totals(),
    };
  }

  /** Text columns of `rows`; `onlyChanged`: only values not sent before (the delta). */
  private textColumns(rows: number[], onlyChanged: boolean): Record<string, Encoded> {
    const out: Record<string, Encoded> = {};
    this.grow();
    TEXT_COLUMNS.forEach((name, c) => {
      const sent = this.sentTexts[c];
      const picked: number[] = [];
      const values: number[] = [];
      for (const i of rows) {
        const v = this.intern(this.text(i, name));
        if (!onlyChanged || sent[i] !== v) {
          if (onlyChanged) {
            sent[i] = v;
          }
          picked.push(i);
          values.push(v);
        }
      }
      if (picked.length > 0) {
        out[name] = [deltas(picked), values];
      }
    });
    return out;
  }

  private text(i: number, column: (typeof TEXT_COLUMNS)[number]): string {
    switch (column) {
      case "fw":
        return this.fleet.fw[i];
      case "config": {
        const config = this.fleet.config[i];
        return config !== undefined ? JSON.stringify(config) : "";
      }
      case "ackReq":
        return this.fleet.lastAck[i]?.req ?? "";
      default: {
        const ack = this.fleet.lastAck[i];
        return ack === undefined ? "" : ack.result === "applied" ? "applied" : `rejected: ${ack.reasons}`;
      }
    }
  }

  private intern(text: string): number {
    let id = this.strings.get(text);
    if (id === undefined) {
      id = this.stringList.length;
      this.stringList.push(text);
      this.strings.set(text, id);
      this.newStrings.push([id, text]);
    }
    return id;
  }

  /** The sent-value arrays follow the fleet's row count (new rows start as never sent). */
  private grow(): void {
    const n = this.fleet.size;
    if (this.sentNumbers[0].length >= n) {
      return;
    }
    const size = Math.max(64, n * 2);
    this.sentNumbers = this.sentNumbers.map((old) => {
      const next = new Float64Array(size).fill(Number.NaN);
      next.set(old);
      return next;
    });
    this.sentTexts = this.sentTexts.map((old) => {
      const next = new Int32Array(size).fill(-1);
      next.set(old);
      return next;
    });
  }

  private sendLive(client: Client): void {
    if (client.watch === undefined) {
      return;
    }
    const row = this.fleet.indexOf(client.watch);
    if (row === undefined) {
      return;
    }
    const { columns, cursor } = this.recent.since(row, client.cursor);
    client.cursor = cursor;
    if (columns.t.length > 0) {
      this.send(client, { type: "live", node: client.watch, t: columns.t, values: columns.values });
    }
  }

  private send(client: Client, message: Record<string, unknown>): void {
    this.sendText(client, JSON.stringify(message));
  }

  private sendText(client: Client, text: string): void {
    if (client.ws.readyState !== client.ws.OPEN) {
      return;
    }
    if (client.ws.bufferedAmount > MAX_BUFFERED) {
      client.ws.terminate();
      return;
    }
    client.ws.send(text);
  }
}

/** Two ascending lists as one, without repeats. */
function union(a: number[], b: number[]): number[] {
  if (b.length === 0) {
    return a;
  }
  return [...new Set([...a, ...b])].sort((x, y) => x - y);
}

/** Ascending row indexes as differences from the previous (the first from 0). */
function deltas(rows: number[]): number[] {
  const out = new Array<number>(rows.length);
  let previous = 0;
  for (let k = 0; k < rows.length; k++) {
    out[k] = rows[k] - previous;
    previous = rows[k];
  }
  return out;
}
