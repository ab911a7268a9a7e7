/**
 * The Store, written once in SQL, over any driver that speaks PostgreSQL:
 * PGlite in this process (pglite-store.ts) or a PostgreSQL server through
 * `pg` (pg-store.ts). Batches are bulk inserts of `unnest`ed arrays, one
 * transaction each; `ON CONFLICT DO NOTHING` on the readings' identity is the
 * backstop of the collector's in-memory dedupe, and what got past it decides
 * the node counters, which are updated in the same transaction.
 */
import { SCHEMA_SQL, SCHEMA_VERSION, SENSORS, type Sensor } from "./schema";
import type {
  Batch,
  BrokerDropsRecord,
  FleetMinute,
  HistoryQuery,
  MessagesQuery,
  NodeConfigAck,
  NodeHistory,
  NodePosition,
  NodeSummary,
  PruneResult,
  ReadingRecord,
  ReadingsQuery,
  Store,
  StoredMessage,
  StoredReading,
  WriteResult,
} from "./store";

export interface SqlResult<T> {
  rows: T[];
  /** Rows inserted, updated or deleted by the statement. */
  rowCount: number;
}

export interface SqlSession {
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<SqlResult<T>>;
}

/** What a database adapter provides: queries, transactions, a script runner. */
export interface SqlDriver extends SqlSession {
  readonly description: string;
  /** Several statements, no parameters (the schema). */
  exec(script: string): Promise<void>;
  /** BEGIN … COMMIT around `fn`; ROLLBACK and rethrow when it throws. */
  transaction<T>(fn: (session: SqlSession) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * PostgreSQL's text and jsonb refuse the NUL character, which JSON may carry
 * (`"\u0000"`): a batch holding one would fail on every retry and stall the
 * collector. It is dropped instead.
 */
const text = <T extends string | null>(value: T): T => (value === null ? value : (value.replaceAll("\u0000", "") as T));
function withoutNul(value: unknown): unknown {
  if (typeof value === "string") {
    return text(value);
  }
  if (Array.isArray(value)) {
    return value.map(withoutNul);
  }
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [text(k), withoutNul(v)]));
  }
  return value;
}
const jsonText = (value: unknown): string => JSON.stringify(withoutNul(value));

/**
 * A PostgreSQL array literal, `{1,2.5,NULL}`, of `value(item)` for each
 * item, each element written by `element`: a query parameter for
 * `$n::int[]` / `::float8[]` / `::int8[]` / `::text[]`, given as text. Both
 * drivers send a string parameter as it is; given a JS array instead, each
 * quoted every element and ran two regular expressions over it (PGlite's
 * arraySerializer, pg's arrayString): 11 arrays of 1,000 readings per
 * transaction.
 */
function arrayLiteral<T, V>(items: readonly T[], value: (item: T) => V | null, element: (v: V) => string): string {
  let out = "{";
  for (let i = 0; i < items.length; i++) {
    const v = value(items[i]);
    out += (i === 0 ? "" : ",") + (v === null ? "NULL" : element(v));
  }
  return out + "}";
}

/**
 * Numbers need no quotes: String(n) is the shortest text that reads back as
 * the same double (float8in), and the values here are finite
 * (decodeReading) or null.
 */
const numbers = <T>(items: readonly T[], value: (item: T) => number | null): string => arrayLiteral(items, value, String);

/** Text elements are quoted, `\` and `"` escaped (array input syntax). */
const texts = <T>(items: readonly T[], value: (item: T) => string | null): string =>
  arrayLiteral(items, value, (v) => `"${v.replace(/[\\"]/g, "\\$&")}"`);

/** Numbers come back as number (PGlite) or string (pg's int8); null stays null. */
const num = (value: unknown): number => Number(value);
const numOrNull = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));
const TIME_MS = (column: string): string => `(extract(epoch from ${column}) * 1000)::float8`;
const AT = (param: string): string => `to_timestamp(${param}::float8 / 1000.0)`;

/** Fold the stored readings into per-minute sums (`table`: fleet_minutes, or node_minutes with `key` "node, "). */
const foldMinutes = (table: string, key: string): string => `
  INSERT INTO ${table} (${key}minute, readings, ${SENSORS.map((s) => `${s}_n, ${s}_sum, ${s}_min, ${s}_max`).join(", ")})
  SELECT ${key}date_trunc('minute', time), count(*), ${SENSORS.map((s) => `count(${s}), coalesce(sum(${s}), 0), min(${s}), max(${s})`).join(", ")}
  FROM stored GROUP BY ${key}date_trunc('minute', time)
  ON CONFLICT (${key}minute) DO UPDATE SET readings = ${table}.readings + excluded.readings, ${SENSORS.map(
    (s) =>
      `${s}_n = ${table}.${s}_n + excluded.${s}_n, ${s}_sum = ${table}.${s}_sum + excluded.${s}_sum, ` +
      `${s}_min = least(${table}.${s}_min, excluded.${s}_min), ${s}_max = greatest(${table}.${s}_max, excluded.${s}_max)`,
  ).join(", ")}`;

/**
 * Insert the readings and fold them into fleet_minutes and node_minutes.
 * Returns first a row with `n`, how many were stored; then, only when that is
 * fewer than were given ($12), the keys of those stored. Usually every one is
 * new (the collector's dedupe sends the database no duplicate it knows of):
 * then one row crosses back instead of one per reading.
 */
const INSERT_READINGS = `
WITH input AS (
  SELECT * FROM unnest($1::int[], $2::float8[], $3::int[], $4::int[], $5::int[], $6::int8[], ${SENSORS.map((_, i) => `$${7 + i}::float8[]`).join(", ")}, $11::text[])
    AS u(node, time_ms, boot, seq, up, ts, ${SENSORS.join(", ")}, extra)
), stored AS (
  INSERT INTO readings (node, time, boot, seq, up, ts, ${SENSORS.join(", ")}, extra)
  SELECT node, ${AT("time_ms")}, boot, seq, up, ts, ${SENSORS.join(", ")}, extra::jsonb FROM input
  ON CONFLICT (node, boot, seq) DO NOTHING
  RETURNING node, boot, seq, time, ${SENSORS.join(", ")}
), minutes AS (${foldMinutes("fleet_minutes", "")}
), node_mins AS (${foldMinutes("node_minutes", "node, ")}
), counted AS (SELECT count(*)::int AS n FROM stored
)
SELECT NULL::int AS node, NULL::int AS boot, NULL::int AS seq, n FROM counted
UNION ALL
SELECT node, boot, seq, NULL FROM stored WHERE (SELECT n FROM counted) < $12::int`;

const UPDATE_COUNTERS = `
UPDATE nodes SET
  readings = nodes.readings + u.readings,
  gaps = greatest(0, nodes.gaps + u.gaps),
  duplicates = nodes.duplicates + u.duplicates,
  reboots = nodes.reboots + u.reboots,
  boot = CASE WHEN (u.boot, u.seq) > (nodes.boot, nodes.seq) THEN u.boot ELSE nodes.boot END,
  seq = CASE WHEN (u.boot, u.seq) > (nodes.boot, nodes.seq) THEN u.seq ELSE nodes.seq END,
  first_seen = coalesce(nodes.first_seen, ${AT("u.first_ms")}),
  last_seen = CASE WHEN u.last_ms IS NULL THEN nodes.last_seen ELSE greatest(nodes.last_seen, ${AT("u.last_ms")}) END
FROM unnest($1::int[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int[], $7::int[], $8::float8[], $9::float8[])
  AS u(id, readings, gaps, duplicates, reboots, boot, seq, first_ms, last_ms)
WHERE nodes.id = u.id`;

const UPDATE_STATUS = `
UPDATE nodes SET state = u.state, fw = coalesce(u.fw, nodes.fw), state_at = ${AT("u.at_ms")}
FROM unnest($1::int[], $2::text[], $3::text[], $4::float8[]) AS u(id, state, fw, at_ms)
WHERE nodes.id = u.id`;

const INSERT_MESSAGES = `
INSERT INTO messages (node, time, kind, code, body)
SELECT node, ${AT("at_ms")}, kind, code, body::jsonb FROM unnest($1::int[], $2::float8[], $3::text[], $4::text[], $5::text[]) AS u(node, at_ms, kind, code, body)`;

/** Version 1 had no node_minutes: fill it from the readings once (a database of version 1 has no row in it). */
const BACKFILL_NODE_MINUTES = `
WITH stored AS (SELECT node, time, ${SENSORS.join(", ")} FROM readings)${foldMinutes("node_minutes", "node, ")}`;

/**
 * Up to this bucket width a node's history is aggregated from its readings;
 * from a minute on, from node_minutes: 30 days of one node at 1 Hz are 2.6
 * million readings (~10 s in PGlite) but 43,200 minutes (~0.2 s).
 */
const RAW_BUCKET_LIMIT_MS = 60_000;
/** A bucket is at least a second: readings carry whole-second times when the node's clock is synced. */
const MIN_BUCKET_MS = 1000;

/** avg, min, max of each sensor: from readings (`raw`) or from the per-minute sums. */
const bucketColumns = (raw: boolean): string =>
  SENSORS.map((s) =>
    raw ? `avg(${s}) AS ${s}_avg, min(${s}) AS ${s}_min, max(${s}) AS ${s}_max` : `sum(${s}_sum) / nullif(sum(${s}_n), 0) AS ${s}_avg, min(${s}_min) AS ${s}_min, max(${s}_max) AS ${s}_max`,
  ).join(", ");

const HISTORY_SQL = (raw: boolean): string => `
SELECT floor(extract(epoch from ${raw ? "time" : "minute"})::float8 * 1000 / $4::float8) * $4::float8 AS t, ${raw ? "count(*)" : "sum(readings)"} AS n, ${bucketColumns(raw)}
FROM ${raw ? "readings" : "node_minutes"}
WHERE node = (SELECT id FROM nodes WHERE name = $1) AND ${raw ? "time" : "minute"} >= ${AT("$2")} AND ${raw ? "time" : "minute"} < ${AT("$3")}
GROUP BY 1 ORDER BY 1`;

/** Width of a history bucket for `points` buckets over the range: whole seconds, whole minutes from a minute on. */
export function bucketWidth(fromMs: number, toMs: number, points: number): number {
  const width = Math.max(MIN_BUCKET_MS, Math.ceil((toMs - fromMs) / Math.max(1, points)));
  const unit = width >= RAW_BUCKET_LIMIT_MS ? 60_000 : 1000;
  return Math.ceil(width / unit) * unit;
}

const UPSERT_DROPS = `
INSERT INTO broker_drops (client, dropped, broker_count, queue_limit, last_drop, seen)
SELECT client, dropped, broker_count, queue_limit, ${AT("last_ms")}, ${AT("seen_ms")}
FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[], $5::float8[], $6::float8[]) AS u(client, dropped, broker_count, queue_limit, last_ms, seen_ms)
ON CONFLICT (client) DO UPDATE SET dropped = excluded.dropped, broker_count = excluded.broker_count, queue_limit = excluded.queue_limit,
  last_drop = excluded.last_drop, seen = excluded.seen`;

interface NodeDelta {
  readings: number;
  gaps: number;
  duplicates: number;
  reboots: number;
  boot: number;
  seq: number;
  firstMs: number | null;
  lastMs: number | null;
}

export class SqlStore implements Store {
  /** Node name -> id, for names whose row is committed. */
  private readonly ids = new Map<string, number>();

  private constructor(private readonly driver: SqlDriver) {}

  /** Create the tables if needed; the store is ready when this resolves. */
  static async open(driver: SqlDriver): Promise<SqlStore> {
    try {
      await driver.exec(SCHEMA_SQL);
      await migrate(driver);
    } catch (error) {
      await driver.close().catch(() => undefined);
      throw error;
    }
    return new SqlStore(driver);
  }

  get description(): string {
    return this.driver.description;
  }

  async positions(): Promise<NodePosition[]> {
    const { rows } = await this.driver.query<{ name: string; id: number; boot: number; seq: number }>(
      "SELECT name, id, boot, seq FROM nodes ORDER BY name",
    );
    for (const row of rows) {
      this.ids.set(row.name, num(row.id));
    }
    return rows.filter((r) => num(r.boot) > 0 || num(r.seq) > 0).map((r) => ({ node: r.name, boot: num(r.boot), seq: num(r.seq) }));
  }

  async write(batch: Batch): Promise<WriteResult> {
    const names = new Set<string>([
      ...batch.readings.map((r) => r.node),
      ...Object.keys(batch.duplicates),
      ...batch.statuses.map((s) => s.node),
      ...batch.messages.map((m) => m.node),
    ]);
    const { ids, result } = await this.driver.transaction(async (tx) => {
      const ids = await this.resolveIds(tx, names);
      const result = await this.writeReadings(tx, ids, batch);
      await this.writeStatuses(tx, ids, batch);
      await this.writeMessages(tx, ids, batch);
      await this.writeDrops(tx, batch);
      return { ids, result };
    });
    // Only now are the new nodes' rows committed.
    for (const [name, id] of ids) {
      this.ids.set(name, id);
    }
    return result;
  }

  /** Ids of `names`, creating rows for new nodes (only those: a conflicting insert would still use up an identity value). */
  private async resolveIds(tx: SqlSession, names: Set<string>): Promise<Map<string, number>> {
    const ids = new Map<string, number>();
    const unknown: string[] = [];
    for (const name of names) {
      const id = this.ids.get(name);
      if (id !== undefined) {
        ids.set(name, id);
      } else {
        unknown.push(name);
      }
    }
    if (unknown.length > 0) {
      const clean = unknown.map(text);
      await tx.query("INSERT INTO nodes (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING", [clean]);
      const { rows } = await tx.query<{ id: number; name: string }>("SELECT id, name FROM nodes WHERE name = ANY($1::text[])", [clean]);
      const byClean = new Map(rows.map((row) => [row.name, num(row.id)]));
      for (const name of unknown) {
        ids.set(name, byClean.get(text(name)) as number);
      }
    }
    return ids;
  }

  private async writeReadings(tx: SqlSession, ids: Map<string, number>, batch: Batch): Promise<WriteResult> {
    const readings = batch.readings;
    const idOf = (name: string): number => ids.get(name) as number;
    /** The keys stored, when not all were; undefined: every reading was stored. */
    let stored: Set<string> | undefined = undefined;
    const key = (node: number, boot: number, seq: number): string => `${node}/${boot}/${seq}`;
    if (readings.length > 0) {
      const { rows } = await tx.query<{ node: number | null; boot: number; seq: number; n: number | null }>(INSERT_READINGS, [
        numbers(readings, (r) => idOf(r.node)),
        numbers(readings, (r) => Math.round(r.timeMs)),
        numbers(readings, (r) => r.boot),
        numbers(readings, (r) => r.seq),
        numbers(readings, (r) => (r.up === null ? null : Math.round(r.up))),
        numbers(readings, (r) => (r.ts === null ? null : Math.round(r.ts))),
        ...SENSORS.map((s) => numbers(readings, (r) => r.values[s] ?? null)),
        texts(readings, (r) => (r.extra === null ? null : jsonText(r.extra))),
        readings.length,
      ]);
      if (num(rows[0].n) < readings.length) {
        stored = new Set(rows.slice(1).map((row) => key(num(row.node), num(row.boot), num(row.seq))));
      }
    }
    const deltas = new Map<number, NodeDelta>();
    const delta = (name: string): NodeDelta => {
      const id = idOf(name);
      let d = deltas.get(id);
      if (d === undefined) {
        d = { readings: 0, gaps: 0, duplicates: 0, reboots: 0, boot: 0, seq: 0, firstMs: null, lastMs: null };
        deltas.set(id, d);
      }
      return d;
    };
    const notStored: number[] = [];
    let duplicates = 0;
    const seen = new Set<string>();
    for (let i = 0; i < readings.length; i++) {
      const r = readings[i];
      const d = delta(r.node);
      d.lastMs = Math.max(d.lastMs ?? 0, r.timeMs);
      let isNew = true;
      if (stored !== undefined) {
        const k = key(idOf(r.node), r.boot, r.seq);
        // A key stored by this batch counts once, even if the batch held it twice.
        isNew = stored.has(k) && !seen.has(k);
        seen.add(k);
      }
      if (isNew) {
        countStored(d, r);
      } else {
        notStored.push(i);
        d.duplicates++;
        duplicates++;
      }
    }
    for (const [name, count] of Object.entries(batch.duplicates)) {
      delta(name).duplicates += count;
      duplicates += count;
    }
    if (deltas.size > 0) {
      const list = [...deltas.entries()];
      await tx.query(UPDATE_COUNTERS, [
        numbers(list, ([id]) => id),
        numbers(list, ([, d]) => d.readings),
        numbers(list, ([, d]) => d.gaps),
        numbers(list, ([, d]) => d.duplicates),
        numbers(list, ([, d]) => d.reboots),
        numbers(list, ([, d]) => d.boot),
        numbers(list, ([, d]) => d.seq),
        numbers(list, ([, d]) => d.firstMs),
        numbers(list, ([, d]) => d.lastMs),
      ]);
    }
    return { stored: readings.length - notStored.length, duplicates, notStored };
  }

  private async writeStatuses(tx: SqlSession, ids: Map<string, number>, batch: Batch): Promise<void> {
    // The last status of each node in the batch is its state.
    const last = new Map<string, Batch["statuses"][number]>();
    for (const s of batch.statuses) {
      last.set(s.node, s);
    }
    if (last.size === 0) {
      return;
    }
    const list = [...last.values()];
    await tx.query(UPDATE_STATUS, [list.map((s) => ids.get(s.node)), list.map((s) => text(s.state)), list.map((s) => text(s.fw)), list.map((s) => Math.round(s.timeMs))]);
  }

  private async writeMessages(tx: SqlSession, ids: Map<string, number>, batch: Batch): Promise<void> {
    const list = batch.messages;
    if (list.length === 0) {
      return;
    }
    await tx.query(INSERT_MESSAGES, [
      list.map((m) => ids.get(m.node)),
      list.map((m) => Math.round(m.timeMs)),
      list.map((m) => m.kind),
      list.map((m) => text(m.code)),
      list.map((m) => jsonText(m.body)),
    ]);
  }

  private async writeDrops(tx: SqlSession, batch: Batch): Promise<void> {
    // The last count of each client in the batch is its count.
    const last = new Map<string, BrokerDropsRecord>();
    for (const d of batch.drops) {
      last.set(d.client, d);
    }
    if (last.size === 0) {
      return;
    }
    const list = [...last.values()];
    await tx.query(UPSERT_DROPS, [
      list.map((d) => text(d.client)),
      list.map((d) => d.dropped),
      list.map((d) => d.brokerCount),
      list.map((d) => d.queueLimit),
      list.map((d) => Math.round(d.lastDropMs)),
      list.map((d) => Math.round(d.seenMs)),
    ]);
  }

  async brokerDrops(): Promise<BrokerDropsRecord[]> {
    const { rows } = await this.driver.query<Record<string, unknown>>(
      `SELECT client, dropped, broker_count, queue_limit, ${TIME_MS("last_drop")} AS last_ms, ${TIME_MS("seen")} AS seen_ms FROM broker_drops ORDER BY client`,
    );
    return rows.map((row) => ({
      client: row.client as string,
      dropped: num(row.dropped),
      brokerCount: num(row.broker_count),
      queueLimit: num(row.queue_limit),
      lastDropMs: num(row.last_ms),
      seenMs: num(row.seen_ms),
    }));
  }

  async readings(query: ReadingsQuery): Promise<StoredReading[]> {
    const params: unknown[] = [query.fromMs, query.toMs, query.limit];
    const where = [`r.time >= ${AT("$1")}`, `r.time < ${AT("$2")}`];
    if (query.node !== undefined) {
      params.push(query.node);
      where.push(`r.node = (SELECT id FROM nodes WHERE name = $${params.length})`);
    }
    if (query.after !== undefined) {
      const a = query.after;
      params.push(a.timeMs, a.node, a.boot, a.seq);
      const n = params.length;
      where.push(`(r.time, n.name, r.boot, r.seq) > (${AT(`$${n - 3}`)}, $${n - 2}::text, $${n - 1}::int, $${n}::int)`);
    }
    const { rows } = await this.driver.query<Record<string, unknown>>(
      `SELECT n.name, ${TIME_MS("r.time")} AS time_ms, r.boot, r.seq, r.up, r.ts, ${SENSORS.map((s) => `r.${s}`).join(", ")}, r.extra
       FROM readings r JOIN nodes n ON n.id = r.node
       WHERE ${where.join(" AND ")}
       ORDER BY r.time, n.name, r.boot, r.seq
       LIMIT $3`,
      params,
    );
    return rows.map((row) => ({
      node: row.name as string,
      timeMs: num(row.time_ms),
      boot: num(row.boot),
      seq: num(row.seq),
      up: numOrNull(row.up),
      ts: numOrNull(row.ts),
      temperature: numOrNull(row.temperature),
      humidity: numOrNull(row.humidity),
      adc: numOrNull(row.adc),
      vdd: numOrNull(row.vdd),
      extra: (row.extra as Record<string, unknown> | null) ?? null,
    }));
  }

  async summary(): Promise<NodeSummary[]> {
    const { rows } = await this.driver.query<Record<string, unknown>>(
      `SELECT name, readings, gaps, duplicates, reboots, boot, seq, ${TIME_MS("first_seen")} AS first_ms, ${TIME_MS("last_seen")} AS last_ms, state, fw
       FROM nodes ORDER BY name`,
    );
    return rows.map((row) => ({
      node: row.name as string,
      readings: num(row.readings),
      gaps: num(row.gaps),
      duplicates: num(row.duplicates),
      reboots: num(row.reboots),
      boot: num(row.boot),
      seq: num(row.seq),
      firstSeenMs: numOrNull(row.first_ms),
      lastSeenMs: numOrNull(row.last_ms),
      state: (row.state as string | null) ?? null,
      fw: (row.fw as string | null) ?? null,
    }));
  }

  async fleetMinutes(fromMs: number, toMs: number): Promise<FleetMinute[]> {
    const { rows } = await this.driver.query<Record<string, unknown>>(
      `SELECT ${TIME_MS("minute")} AS minute_ms, readings, ${SENSORS.map((s) => `${s}_n, ${s}_sum, ${s}_min, ${s}_max`).join(", ")}
       FROM fleet_minutes WHERE minute >= ${AT("$1")} AND minute < ${AT("$2")} ORDER BY minute`,
      [fromMs, toMs],
    );
    return rows.map((row) => {
      const avg = {} as Record<Sensor, number | null>;
      const min = {} as Record<Sensor, number | null>;
      const max = {} as Record<Sensor, number | null>;
      for (const s of SENSORS) {
        const n = num(row[`${s}_n`]);
        avg[s] = n > 0 ? num(row[`${s}_sum`]) / n : null;
        min[s] = numOrNull(row[`${s}_min`]);
        max[s] = numOrNull(row[`${s}_max`]);
      }
      return { minuteMs: num(row.minute_ms), readings: num(row.readings), avg, min, max };
    });
  }

  async nodeHistory(query: HistoryQuery): Promise<NodeHistory> {
    const bucketMs = bucketWidth(query.fromMs, query.toMs, query.points);
    const raw = bucketMs < RAW_BUCKET_LIMIT_MS;
    // Whole minutes from node_minutes: the minute holding fromMs is in.
    const fromMs = raw ? query.fromMs : Math.floor(query.fromMs / 60_000) * 60_000;
    const { rows } = await this.driver.query<Record<string, unknown>>(HISTORY_SQL(raw), [query.node, fromMs, query.toMs, bucketMs]);
    const column = (): Record<Sensor, (number | null)[]> => Object.fromEntries(SENSORS.map((s) => [s, [] as (number | null)[]])) as Record<Sensor, (number | null)[]>;
    const history: NodeHistory = { node: query.node, fromMs: query.fromMs, toMs: query.toMs, bucketMs, source: raw ? "readings" : "minutes", t: [], n: [], avg: column(), min: column(), max: column() };
    for (const row of rows) {
      history.t.push(num(row.t));
      history.n.push(num(row.n));
      for (const s of SENSORS) {
        history.avg[s].push(numOrNull(row[`${s}_avg`]));
        history.min[s].push(numOrNull(row[`${s}_min`]));
        history.max[s].push(numOrNull(row[`${s}_max`]));
      }
    }
    return history;
  }

  async nodeMessages(query: MessagesQuery): Promise<StoredMessage[]> {
    const { rows } = await this.driver.query<Record<string, unknown>>(
      `SELECT ${TIME_MS("m.time")} AS time_ms, m.kind, m.code, m.body FROM messages m
       WHERE m.node = (SELECT id FROM nodes WHERE name = $1) AND m.time >= ${AT("$2")} AND m.time < ${AT("$3")}
       ORDER BY m.time DESC LIMIT $4`,
      [query.node, query.fromMs, query.toMs, query.limit],
    );
    return rows.reverse().map((row) => ({
      node: query.node,
      timeMs: num(row.time_ms),
      kind: row.kind === "ack" ? "ack" : "event",
      code: (row.code as string | null) ?? null,
      body: (row.body as Record<string, unknown> | null) ?? {},
    }));
  }

  async lastConfigs(): Promise<NodeConfigAck[]> {
    // Per node, its newest applied ack through the (node, time) index, newest first: it stops at the first.
    const { rows } = await this.driver.query<Record<string, unknown>>(
      `SELECT n.name, a.time_ms, a.body FROM nodes n CROSS JOIN LATERAL (
         SELECT ${TIME_MS("m.time")} AS time_ms, m.body FROM messages m
         WHERE m.node = n.id AND m.kind = 'ack' AND m.code = 'applied' ORDER BY m.time DESC LIMIT 1) a
       ORDER BY n.name`,
    );
    const configs: NodeConfigAck[] = [];
    for (const row of rows) {
      const config = (row.body as Record<string, unknown> | null)?.config;
      if (typeof config === "object" && config !== null && !Array.isArray(config)) {
        configs.push({ node: row.name as string, timeMs: num(row.time_ms), config: config as Record<string, unknown> });
      }
    }
    return configs;
  }

  async prune(beforeMs: number): Promise<PruneResult> {
    return this.driver.transaction(async (tx) => {
      const readings = await tx.query(`DELETE FROM readings WHERE time < ${AT("$1")}`, [beforeMs]);
      // A minute is deleted once it has wholly passed the limit.
      const minutes = await tx.query(`DELETE FROM fleet_minutes WHERE minute + interval '1 minute' <= ${AT("$1")}`, [beforeMs]);
      // Per-node minutes go with them (not counted: `minutes` is the fleet's, as --keep reports it).
      await tx.query(`DELETE FROM node_minutes WHERE minute + interval '1 minute' <= ${AT("$1")}`, [beforeMs]);
      const messages = await tx.query(`DELETE FROM messages WHERE time < ${AT("$1")}`, [beforeMs]);
      return { readings: readings.rowCount, minutes: minutes.rowCount, messages: messages.rowCount };
    });
  }

  close(): Promise<void> {
    return this.driver.close();
  }
}

/** Bring a database made by an older version up to SCHEMA_VERSION, in one transaction. */
async function migrate(driver: SqlDriver): Promise<void> {
  const { rows } = await driver.query<{ version: number }>("SELECT version FROM espfleet_schema");
  const version = rows.length > 0 ? num(rows[0].version) : SCHEMA_VERSION;
  if (version >= SCHEMA_VERSION) {
    return;
  }
  await driver.transaction(async (tx) => {
    if (version < 2) {
      await tx.query(BACKFILL_NODE_MINUTES);
    }
    await tx.query("UPDATE espfleet_schema SET version = $1", [SCHEMA_VERSION]);
  });
}

function countStored(d: NodeDelta, r: ReadingRecord): void {
  d.readings++;
  d.gaps += r.gap - (r.fillsGap ? 1 : 0);
  d.reboots += r.reboot ? 1 : 0;
  if (r.boot > d.boot || (r.boot === d.boot && r.seq > d.seq)) {
    d.boot = r.boot;
    d.seq = r.seq;
  }
  d.firstMs = d.firstMs === null ? r.timeMs : Math.min(d.firstMs, r.timeMs);
}
