/**
 * What the collector and `espfleet query` need from a database, whichever it
 * is: the store interface, and the records that cross it. Implemented once in
 * SQL (sql-store.ts) over a small driver per database (pglite-store.ts,
 * pg-store.ts); test/ops/store-suite.ts runs the same cases against each.
 */
import type { Sensor } from "./schema";

/** One reading as the collector received it, ready to store. */
export interface ReadingRecord {
  /** The node's id as it names itself (`node-0001`). */
  node: string;
  boot: number;
  seq: number;
  /** When it was taken, ms since 1970: the node's `ts` when present, else the time the collector received it. */
  timeMs: number;
  /** Uptime, s. */
  up: number | null;
  /** The node's clock (Unix s), when synced. */
  ts: number | null;
  values: Partial<Record<Sensor, number>>;
  /** Anything else the reading carried (`failed`, `dropped`, unknown sensors); null when nothing. */
  extra: Record<string, unknown> | null;
  /** Readings missing just before this one (its seq jumped); counted as gaps if this one is stored. */
  gap: number;
  /** First reading of a new boot; counted as a reboot if stored. */
  reboot: boolean;
  /** Below the node's position in the same boot: if stored, it fills one gap counted earlier. */
  fillsGap: boolean;
}

/** A retained status (`status/<id>`). */
export interface StatusRecord {
  node: string;
  state: string;
  fw: string | null;
  timeMs: number;
}

/** An event (`event/<id>`) or a config acknowledgement (`config_ack/<id>`). */
export interface MessageRecord {
  node: string;
  kind: "event" | "ack";
  /** The event's `code`, or the ack's `result`. */
  code: string | null;
  body: Record<string, unknown>;
  timeMs: number;
}

/**
 * What the broker dropped for a collector's session (its offline queue was
 * full): the embedded broker's retained `$SYS/espfleet/dropped/<client id>`
 * (broker/dropped.ts), one row per client id, the last one wins.
 */
export interface BrokerDropsRecord {
  /** The collector's client id. */
  client: string;
  /** Messages the broker dropped for it, in all, as far as collectors have learned (summed across broker resets). */
  dropped: number;
  /** The broker's own count the last time (it only grows, until the broker's folder is wiped). */
  brokerCount: number;
  /** The broker's queue limit, messages. */
  queueLimit: number;
  lastDropMs: number;
  /** When the collector received the count. */
  seenMs: number;
}

/** What one transaction writes. */
export interface Batch {
  readings: ReadingRecord[];
  /** Per node: deliveries the collector recognised as duplicates in memory (not sent to the database). */
  duplicates: Record<string, number>;
  statuses: StatusRecord[];
  messages: MessageRecord[];
  /** The broker's drop counts received (usually none). */
  drops: BrokerDropsRecord[];
}

export interface WriteResult {
  /** Readings newly stored. */
  stored: number;
  /** Readings the database already had (the unique index's backstop), plus batch.duplicates. */
  duplicates: number;
  /**
   * Indexes (into batch.readings, ascending) of the readings not stored: the
   * database had them already (the unique index's backstop), or the batch
   * held them twice. Usually empty.
   */
  notStored: number[];
}

/** Where a node stood at the last commit: seeds the collector's dedupe after a restart. */
export interface NodePosition {
  node: string;
  boot: number;
  seq: number;
}

export interface NodeSummary {
  node: string;
  readings: number;
  gaps: number;
  duplicates: number;
  reboots: number;
  boot: number;
  seq: number;
  firstSeenMs: number | null;
  lastSeenMs: number | null;
  state: string | null;
  fw: string | null;
}

/** One stored reading, as queries return it. */
export interface StoredReading {
  node: string;
  timeMs: number;
  boot: number;
  seq: number;
  up: number | null;
  ts: number | null;
  temperature: number | null;
  humidity: number | null;
  adc: number | null;
  vdd: number | null;
  extra: Record<string, unknown> | null;
}

/** Readings of one node (or every node) in [fromMs, toMs), ordered by time, boot, seq; paged. */
export interface ReadingsQuery {
  node?: string;
  fromMs: number;
  toMs: number;
  limit: number;
  /** Continue after this row (the last of the previous page). */
  after?: { timeMs: number; node: string; boot: number; seq: number };
}

/** The fleet over one minute, from fleet_minutes. */
export interface FleetMinute {
  minuteMs: number;
  readings: number;
  /** Average of each sensor over the readings that had it; null when none had. */
  avg: Record<Sensor, number | null>;
  min: Record<Sensor, number | null>;
  max: Record<Sensor, number | null>;
}

/** One node's readings over [fromMs, toMs), in about `points` time buckets (the console's charts). */
export interface HistoryQuery {
  node: string;
  fromMs: number;
  toMs: number;
  /** How many buckets the range is cut into, at most (a chart's width in pixels, say). */
  points: number;
}

/**
 * A node's history as column arrays, one entry per bucket that holds
 * readings: bucket `i` covers [t[i], t[i] + bucketMs) and holds n[i]
 * readings; per sensor their average, minimum and maximum (null: none of
 * them had that sensor). Buckets start at multiples of bucketMs since 1970,
 * so two queries over overlapping ranges cut time the same way.
 */
export interface NodeHistory {
  node: string;
  fromMs: number;
  toMs: number;
  bucketMs: number;
  /** "readings": aggregated from the readings; "minutes": from node_minutes (buckets of whole minutes, long ranges). */
  source: "readings" | "minutes";
  t: number[];
  n: number[];
  avg: Record<Sensor, (number | null)[]>;
  min: Record<Sensor, (number | null)[]>;
  max: Record<Sensor, (number | null)[]>;
}

/** Events and acks of one node in [fromMs, toMs): the last `limit` of them, in time order. */
export interface MessagesQuery {
  node: string;
  fromMs: number;
  toMs: number;
  limit: number;
}

/** A stored event or ack, as queries return it. */
export interface StoredMessage {
  node: string;
  timeMs: number;
  kind: "event" | "ack";
  code: string | null;
  body: Record<string, unknown>;
}

/** The config a node reported in its last `applied` ack. */
export interface NodeConfigAck {
  node: string;
  timeMs: number;
  config: Record<string, unknown>;
}

export interface PruneResult {
  readings: number;
  minutes: number;
  messages: number;
}

export interface Store {
  /** For people: "PGlite in .espfleet/db" or "postgres://user@host:5432/db" (never a password). */
  readonly description: string;
  /**
   * Settles with the reason when the store stopped by itself and can commit
   * nothing more (its worker thread died); never settles for a store that
   * cannot die that way or that close() stopped. The collector then stops
   * with status 1: nothing uncommitted was acknowledged, so the broker still
   * has it for the next start.
   */
  readonly lost?: Promise<Error>;
  positions(): Promise<NodePosition[]>;
  /** One transaction: all of it is stored, or none of it (then it throws). */
  write(batch: Batch): Promise<WriteResult>;
  readings(query: ReadingsQuery): Promise<StoredReading[]>;
  summary(): Promise<NodeSummary[]>;
  /** What brokers dropped for collectors' sessions, per client id. */
  brokerDrops(): Promise<BrokerDropsRecord[]>;
  fleetMinutes(fromMs: number, toMs: number): Promise<FleetMinute[]>;
  /** One node's readings, downsampled in the database (never more than `points` rows cross it). */
  nodeHistory(query: HistoryQuery): Promise<NodeHistory>;
  nodeMessages(query: MessagesQuery): Promise<StoredMessage[]>;
  /** Every node's last applied config (from its last `applied` ack), by name. */
  lastConfigs(): Promise<NodeConfigAck[]>;
  /** Delete readings, minutes and messages older than `beforeMs`. */
  prune(beforeMs: number): Promise<PruneResult>;
  close(): Promise<void>;
}

export function emptyBatch(): Batch {
  return { readings: [], duplicates: {}, statuses: [], messages: [], drops: [] };
}
