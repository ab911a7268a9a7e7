/**
 * The Store, written once in SQL, over any driver that speaks PostgreSQL:
 * PGlite in this process (pglite-store.ts) or a PostgreSQL server through
 * `pg` (pg-store.ts). Batches are bulk inserts of `unnest`ed arrays, one
 * transaction each; `ON CONFLICT DO NOTHING` on the readings' identity is the
 * backstop of the collector's in-memory dedupe, and what got past it decides
 * the node counters, which are updated in the same transaction.
 */
import { SCHEMA_SQL, SENSORS, type Sensor } from "./schema";
import type {
  Batch,
  FleetMinute,
  NodePosition,
  NodeSummary,
  PruneResult,
  ReadingRecord,
  ReadingsQuery,
  Store,
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

/** Numbers come back as number (PGlite) or string (pg's int8); null stays null. */
const num = (value: unknown): number => Number(value);
const numOrNull = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));
const TIME_MS = (column: string): string => `(extract(epoch from ${column}) * 1000)::float8`;
const AT = (param: string): string => `to_timestamp(${param}::float8 / 1000.0)`;

/** Insert the readings and fold them into fleet_minutes; returns the keys that were new. */
const INSERT_READINGS = `
WITH input AS (
  SELECT * FROM unnest($1::int[], $2::float8[], $3::int[], $4::int[], $5::int[], $6::int8[], ${SENSORS.map((_, i) => `$${7 + i}::float8[]`).join(", ")}, $11::text[])
    AS u(node, time_ms, boot, seq, up, ts, ${SENSORS.join(", ")}, extra)
), stored AS (
  INSERT INTO readings (node, time, boot, seq, up, ts, ${SENSORS.join(", ")}, extra)
  SELECT node, ${AT("time_ms")}, boot, seq, up, ts, ${SENSORS.join(", ")}, extra::jsonb FROM input
  ON CONFLICT (node, boot, seq) DO NOTHING
  RETURNING node, boot, seq, time, ${SENSORS.join(", ")}
), minutes AS (
  INSERT INTO fleet_minutes (minute, readings, ${SENSORS.map((s) => `${s}_n, ${s}_sum, ${s}_min, ${s}_max`).join(", ")})
  SELECT date_trunc('minute', time), count(*), ${SENSORS.map((s) => `count(${s}), coalesce(sum(${s}), 0), min(${s}), max(${s})`).join(", ")}
  FROM stored GROUP BY 1
  ON CONFLICT (minute) DO UPDATE SET readings = fleet_minutes.readings + excluded.readings, ${SENSORS.map(
    (s) =>
      `${s}_n = fleet_minutes.${s}_n + excluded.${s}_n, ${s}_sum = fleet_minutes.${s}_sum + excluded.${s}_sum, ` +
      `${s}_min = least(fleet_minutes.${s}_min, excluded.${s}_min), ${s}_max = greatest(fleet_minutes.${s}_max, excluded.${s}_max)`,
  ).join(", ")}
)
SELECT node, boot, seq FROM stored`;

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
    const stored = new Set<string>();
    const key = (node: number, boot: number, seq: number): string => `${node}/${boot}/${seq}`;
    if (readings.length > 0) {
      const { rows } = await tx.query<{ node: number; boot: number; seq: number }>(INSERT_READINGS, [
        readings.map((r) => idOf(r.node)),
        readings.map((r) => Math.round(r.timeMs)),
        readings.map((r) => r.boot),
        readings.map((r) => r.seq),
        readings.map((r) => (r.up === null ? null : Math.round(r.up))),
        readings.map((r) => (r.ts === null ? null : Math.round(r.ts))),
        ...SENSORS.map((s) => readings.map((r) => r.values[s] ?? null)),
        readings.map((r) => (r.extra === null ? null : jsonText(r.extra))),
      ]);
      for (const row of rows) {
        stored.add(key(num(row.node), num(row.boot), num(row.seq)));
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
    const storedKeys: WriteResult["storedKeys"] = [];
    let duplicates = 0;
    const seen = new Set<string>();
    for (const r of readings) {
      const d = delta(r.node);
      d.lastMs = Math.max(d.lastMs ?? 0, r.timeMs);
      const k = key(idOf(r.node), r.boot, r.seq);
      // A key stored by this batch counts once, even if the batch held it twice.
      if (stored.has(k) && !seen.has(k)) {
        seen.add(k);
        storedKeys.push({ node: r.node, boot: r.boot, seq: r.seq });
        countStored(d, r);
      } else {
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
        list.map(([id]) => id),
        list.map(([, d]) => d.readings),
        list.map(([, d]) => d.gaps),
        list.map(([, d]) => d.duplicates),
        list.map(([, d]) => d.reboots),
        list.map(([, d]) => d.boot),
        list.map(([, d]) => d.seq),
        list.map(([, d]) => d.firstMs),
        list.map(([, d]) => d.lastMs),
      ]);
    }
    return { stored: storedKeys.length, duplicates, storedKeys };
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

  async prune(beforeMs: number): Promise<PruneResult> {
    return this.driver.transaction(async (tx) => {
      const readings = await tx.query(`DELETE FROM readings WHERE time < ${AT("$1")}`, [beforeMs]);
      // A minute is deleted once it has wholly passed the limit.
      const minutes = await tx.query(`DELETE FROM fleet_minutes WHERE minute + interval '1 minute' <= ${AT("$1")}`, [beforeMs]);
      const messages = await tx.query(`DELETE FROM messages WHERE time < ${AT("$1")}`, [beforeMs]);
      return { readings: readings.rowCount, minutes: minutes.rowCount, messages: messages.rowCount };
    });
  }

  close(): Promise<void> {
    return this.driver.close();
  }
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
