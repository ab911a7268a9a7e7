/**
 * `espfleet query`: a node's readings over a time range as CSV or JSON
 * lines, the per-node summary (readings, gaps, duplicates, reboots, last
 * seen), or the fleet's per-minute averages — from the embedded database
 * (directly, or through the collector that has it open) or PostgreSQL.
 */
import { CliError } from "../../common/errors";
import type { QuerySource } from "./control-socket";
import { dbFolder } from "./db-folder";
import { isPostgresUrl, openForQuery } from "./open-store";
import { pgliteFolderExists } from "./pglite-store";
import { formatDrops, formatReadings, formatSummary, readingsHeader, type Format } from "./query-format";
import { SENSORS } from "./schema";
import { timeRange } from "./time-range";

export interface QueryFlags {
  db: string;
  node?: string;
  since?: number;
  from?: string;
  to?: string;
  format?: Format;
  summary?: boolean;
  fleet?: boolean;
}

/** Readings fetched per request (keyset paging: memory stays flat for any range). */
const PAGE = 5000;

export async function queryCommand(flags: QueryFlags, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  if (flags.summary === true && flags.fleet === true) {
    throw new CliError("--summary and --fleet are two different queries; give one of them", 2);
  }
  if (flags.summary === true && (flags.node !== undefined || flags.since !== undefined || flags.from !== undefined || flags.to !== undefined)) {
    throw new CliError("--summary covers every node since the first reading; leave out --node, --since, --from and --to", 2);
  }
  const range = flags.summary === true ? undefined : timeRange(flags, Date.now());
  if (!isPostgresUrl(flags.db) && !pgliteFolderExists(dbFolder(flags.db).pgdata)) {
    throw new CliError(`no database in ${flags.db} yet: run \`espfleet collect\` first (or give --db the folder or postgres:// URL it writes to)`);
  }
  const note = (line: string): void => void process.stderr.write(`espfleet query: ${line}\n`);
  const opened = await openForQuery(flags.db, note);
  try {
    if (flags.summary === true) {
      const rows = await ask(opened.via, () => opened.source.summary());
      const format = flags.format ?? "table";
      out.write(formatSummary(rows, format));
      // Below the table; beside CSV or JSON lines on stderr, so their output stays one kind of row.
      for (const line of formatDrops(await ask(opened.via, () => opened.source.brokerDrops()))) {
        if (format === "table") {
          out.write(line + "\n");
        } else {
          note(line);
        }
      }
      return 0;
    }
    const { fromMs, toMs } = range as { fromMs: number; toMs: number };
    if (flags.fleet === true) {
      await printMinutes(opened.source, opened.via, fromMs, toMs, flags.format ?? "csv", out);
      return 0;
    }
    const format = flags.format ?? "csv";
    if (format === "table") {
      throw new CliError("readings come as --format csv or jsonl (table is for --summary)", 2);
    }
    out.write(readingsHeader(format));
    let after: Parameters<QuerySource["readings"]>[0]["after"] = undefined;
    let count = 0;
    for (;;) {
      const page = await ask(opened.via, () =>
        opened.source.readings({ ...(flags.node !== undefined ? { node: flags.node } : {}), fromMs, toMs, limit: PAGE, ...(after !== undefined ? { after } : {}) }),
      );
      out.write(formatReadings(page, format));
      count += page.length;
      if (page.length < PAGE) {
        break;
      }
      const last = page[page.length - 1];
      after = { timeMs: last.timeMs, node: last.node, boot: last.boot, seq: last.seq };
    }
    if (count === 0) {
      note(`no readings${flags.node !== undefined ? ` of ${flags.node}` : ""} from ${new Date(fromMs).toISOString()} to ${new Date(toMs).toISOString()} (${opened.via}); see --summary for the nodes and when each was last seen`);
    }
    return 0;
  } finally {
    await opened.close();
  }
}

async function ask<T>(via: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ECONNREFUSED") {
      throw new CliError(`cannot reach ${via}: ${code}; it may still be opening the database: try again in a few seconds`);
    }
    if (error instanceof CliError) {
      throw error;
    }
    throw new CliError(`the query failed (${via}): ${(error as Error).message}`);
  }
}

async function printMinutes(source: QuerySource, via: string, fromMs: number, toMs: number, format: Format, out: NodeJS.WritableStream): Promise<void> {
  const rows = await ask(via, () => source.fleetMinutes(fromMs, toMs));
  if (format === "jsonl") {
    for (const m of rows) {
      out.write(JSON.stringify({ minute: new Date(m.minuteMs).toISOString(), readings: m.readings, avg: m.avg, min: m.min, max: m.max }) + "\n");
    }
    return;
  }
  if (format === "table") {
    throw new CliError("--fleet comes as --format csv or jsonl", 2);
  }
  out.write(["minute", "readings", ...SENSORS.flatMap((s) => [`${s}_avg`, `${s}_min`, `${s}_max`])].join(",") + "\n");
  for (const m of rows) {
    const cells = [new Date(m.minuteMs).toISOString(), String(m.readings), ...SENSORS.flatMap((s) => [m.avg[s], m.min[s], m.max[s]].map((v) => (v === null ? "" : String(v))))];
    out.write(cells.join(",") + "\n");
  }
}
