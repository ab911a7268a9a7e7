/**
 * Where the console reads history: the collector's database (`--db`, as
 * `espfleet query`). PostgreSQL is opened once. The embedded folder is
 * PGlite, one process at a time: while a collector holds it the console
 * asks the collector over its socket; when none does, the console opens it
 * itself for as long as the page asks, and lets go after IDLE_MS so a
 * collector started meanwhile (which waits 30 s for the folder) gets it.
 * That is how `npm start` runs both: the collector holds the folder, the
 * console asks it. A folder with no database yet is not created here.
 */
import { existsSync } from "node:fs";
import { CliError } from "../../common/errors";
import type { QuerySource } from "../collect/control-socket";
import { dbFolder, readLock, processAlive } from "../collect/db-folder";
import { isPostgresUrl, openForQuery, type OpenedSource } from "../collect/open-store";
import { pgliteFolderExists } from "../collect/pglite-store";

/** The embedded database is let go after this long without a request. */
const IDLE_MS = 10_000;

export type Resolved = { source: QuerySource; via: string } | { unavailable: string };

export class HistorySource {
  private opened: OpenedSource | undefined = undefined;
  private opening: Promise<OpenedSource> | undefined = undefined;
  private idle: NodeJS.Timeout | undefined = undefined;
  private closed = false;

  /** `db`: a folder or postgres:// URL; "none" for no history. */
  constructor(
    private readonly db: string,
    private readonly log: (line: string) => void,
  ) {}

  /** The source for one request (the caller is done with it when its promise settles). */
  async resolve(): Promise<Resolved> {
    if (this.db === "none" || this.closed) {
      return { unavailable: "no database (--db none): only what the console hears from now on" };
    }
    if (!isPostgresUrl(this.db) && this.opened === undefined) {
      const folder = dbFolder(this.db);
      const holder = readLock(folder);
      const collecting = holder?.role === "collect" && holder.socket !== undefined && processAlive(holder.pid);
      if (collecting && !existsSync(holder.socket as string)) {
        return { unavailable: `the collector (pid ${holder.pid}) is still opening ${this.db}; history comes once it answers` };
      }
      if (!collecting && !pgliteFolderExists(folder.pgdata)) {
        return { unavailable: `no database in ${this.db} yet: start \`espfleet collect\` (npm start runs it) to keep history` };
      }
    }
    try {
      this.opened ??= await (this.opening ??= openForQuery(this.db, this.log).finally(() => (this.opening = undefined)));
    } catch (error) {
      return { unavailable: error instanceof CliError ? error.message : `cannot read ${this.db}: ${(error as Error).message}` };
    }
    this.touch();
    return { source: this.opened.source, via: this.opened.via };
  }

  /** Run `query` on the source; a source that fails (the collector stopped) is dropped, so the next request looks again. */
  async run<T>(query: (source: QuerySource) => Promise<T>): Promise<{ value: T; via: string } | { unavailable: string }> {
    const resolved = await this.resolve();
    if ("unavailable" in resolved) {
      return resolved;
    }
    try {
      return { value: await query(resolved.source), via: resolved.via };
    } catch (error) {
      await this.release();
      return { unavailable: `${resolved.via} could not answer: ${(error as Error).message.split("\n")[0]}; try again` };
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.release();
  }

  private touch(): void {
    clearTimeout(this.idle);
    if (!isPostgresUrl(this.db)) {
      this.idle = setTimeout(() => void this.release(), IDLE_MS);
      this.idle.unref();
    }
  }

  private async release(): Promise<void> {
    clearTimeout(this.idle);
    const opened = this.opened;
    this.opened = undefined;
    await opened?.close().catch(() => undefined);
  }
}
