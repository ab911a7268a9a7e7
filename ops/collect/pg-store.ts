/**
 * The PostgreSQL store: the same SQL as the embedded one (sql-store.ts),
 * through `pg` to a server given as `--db postgres://user:password@host/db`.
 * A small pool: a connection that breaks (server restarted) is dropped and
 * the next query opens another, so the collector's retries reconnect.
 */
import pg from "pg";
import { maskUrlPassword } from "../../common/secrets";
import { SqlStore, type SqlDriver, type SqlResult, type SqlSession } from "./sql-store";

export interface PgStoreOptions {
  /** postgres://user:password@host:5432/database (libpq URL; ?sslmode=require for TLS). */
  url: string;
  /** How long to wait for a connection before the operation fails, ms. */
  connectTimeoutMs?: number;
}

function session(client: pg.Pool | pg.PoolClient): SqlSession {
  return {
    async query<T>(text: string, params?: unknown[]): Promise<SqlResult<T>> {
      const r = await client.query(text, params);
      return { rows: r.rows as T[], rowCount: r.rowCount ?? 0 };
    },
  };
}

export function pgDriver(pool: pg.Pool, description: string): SqlDriver {
  const plain = session(pool);
  return {
    description,
    query: (text, params) => plain.query(text, params),
    async exec(script) {
      await pool.query(script);
    },
    async transaction(fn) {
      const client = await pool.connect();
      let broken: Error | undefined = undefined;
      try {
        await client.query("BEGIN");
        const value = await fn(session(client));
        await client.query("COMMIT");
        return value;
      } catch (error) {
        await client.query("ROLLBACK").catch((rollbackError: Error) => {
          // The connection itself is gone: do not give it back to the pool.
          broken = rollbackError;
        });
        throw error;
      } finally {
        client.release(broken);
      }
    },
    close: () => pool.end(),
  };
}

export async function openPgStore(options: PgStoreOptions): Promise<SqlStore> {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: 4,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle connection the server closed (restart, outage): the pool drops it; the next query says what failed.
  pool.on("error", () => undefined);
  return SqlStore.open(pgDriver(pool, maskUrlPassword(options.url)));
}
