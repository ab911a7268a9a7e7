/**
 * How `espfleet query` reads the embedded database while a collector has it
 * open (PGlite allows one process per folder): the collector answers a few
 * read-only HTTP requests on a Unix socket in the database folder (mode 0600:
 * only its user), and the query command uses them through the same
 * interface as a store it opened itself.
 *
 *   GET /summary                          -> NodeSummary[]
 *   GET /readings?q=<ReadingsQuery JSON>  -> StoredReading[]
 *   GET /minutes?from=<ms>&to=<ms>        -> FleetMinute[]
 *   GET /history?q=<HistoryQuery JSON>    -> NodeHistory (the console's charts)
 *   GET /messages?q=<MessagesQuery JSON>  -> StoredMessage[]
 *   GET /configs                          -> NodeConfigAck[]
 *   GET /drops                            -> BrokerDropsRecord[]
 */
import { chmodSync, rmSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import type { HistoryQuery, MessagesQuery, ReadingsQuery, Store } from "./store";

/** What queries (and the console) need from a store: met by a Store and by a running collector. */
export type QuerySource = Pick<Store, "readings" | "summary" | "fleetMinutes" | "nodeHistory" | "nodeMessages" | "lastConfigs" | "brokerDrops">;

export interface QueryServer {
  close(): Promise<void>;
}

export async function serveQueries(store: QuerySource, socketPath: string): Promise<QueryServer> {
  rmSync(socketPath, { force: true });
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://collector");
    const answer = async (): Promise<unknown> => {
      switch (url.pathname) {
        case "/summary":
          return store.summary();
        case "/readings":
          return store.readings(JSON.parse(url.searchParams.get("q") ?? "{}") as ReadingsQuery);
        case "/minutes":
          return store.fleetMinutes(Number(url.searchParams.get("from")), Number(url.searchParams.get("to")));
        case "/history":
          return store.nodeHistory(JSON.parse(url.searchParams.get("q") ?? "{}") as HistoryQuery);
        case "/messages":
          return store.nodeMessages(JSON.parse(url.searchParams.get("q") ?? "{}") as MessagesQuery);
        case "/configs":
          return store.lastConfigs();
        case "/drops":
          return store.brokerDrops();
        default:
          throw Object.assign(new Error(`unknown request ${url.pathname}`), { status: 404 });
      }
    };
    answer().then(
      (value) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(value));
      },
      (error: Error & { status?: number }) => {
        res.writeHead(error.status ?? 500, { "content-type": "text/plain" });
        res.end(error.message);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => {
      server.removeListener("error", reject);
      resolve();
    });
  });
  chmodSync(socketPath, 0o600);
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        rmSync(socketPath, { force: true });
      }),
  };
}

function get<T>(socketPath: string, path: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: "GET" }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        if (res.statusCode === 200) {
          resolve(JSON.parse(text) as T);
        } else {
          reject(new Error(`the collector answered ${res.statusCode}: ${text}`));
        }
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/** A running collector's database, read through its socket. */
export function collectorSource(socketPath: string): QuerySource {
  return {
    summary: () => get(socketPath, "/summary"),
    readings: (query) => get(socketPath, `/readings?q=${encodeURIComponent(JSON.stringify(query))}`),
    fleetMinutes: (fromMs, toMs) => get(socketPath, `/minutes?from=${fromMs}&to=${toMs}`),
    nodeHistory: (query) => get(socketPath, `/history?q=${encodeURIComponent(JSON.stringify(query))}`),
    nodeMessages: (query) => get(socketPath, `/messages?q=${encodeURIComponent(JSON.stringify(query))}`),
    lastConfigs: () => get(socketPath, "/configs"),
    brokerDrops: () => get(socketPath, "/drops"),
  };
}
