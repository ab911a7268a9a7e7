/** Count the readings with SQL: rows, and distinct (node, boot, seq) among them; in a closed PGlite folder, or in PostgreSQL. */
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";

const COUNT = "SELECT count(*)::int AS rows, count(DISTINCT (node, boot, seq))::int AS distinct FROM readings";

export async function countRows(dataDir: string): Promise<{ rows: number; distinct: number }> {
  const db = await PGlite.create({ dataDir });
  try {
    const { rows } = await db.query<{ rows: number; distinct: number }>(COUNT);
    return rows[0];
  } finally {
    await db.close();
  }
}

export async function countPgRows(url: string): Promise<{ rows: number; distinct: number }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ rows: number; distinct: number }>(COUNT);
    return rows[0];
  } finally {
    await client.end();
  }
}
