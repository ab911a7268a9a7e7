/**
 * The console's HTTP side, node:http and ws only: the page's files, a small
 * JSON API, the WebSocket (/ws) of the live table, and the access checks
 * (access.ts) in front of all of it.
 *
 *   GET  /api/history?node=&from=&to=&points=   a node's readings downsampled in the database, and its events and acks
 *   POST /api/config/check  {settings}          the schema's objections ([] when none)
 *   POST /api/config        {settings, target}  send a change: its summary, or 400 with the objections
 *   GET  /api/changes                           the last changes and their acks
 *   POST /api/nodes/remove  {node}              clear the node's retained status: gone from the table (and Home Assistant)
 *   GET  /api/status                            nodes, pages, broker link, where history comes from
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { CliError } from "../../common/errors";
import type { Access } from "./access";
import type { StaticFiles } from "./static-files";

/** Largest request body accepted (a change names at most a few thousand nodes). */
const MAX_BODY = 1024 * 1024;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export type ApiHandler = (body: unknown, url: URL) => Promise<unknown>;

export interface HttpServerOptions {
  access: Access;
  files: StaticFiles;
  /** "GET /api/history" -> handler. */
  api: Record<string, ApiHandler>;
  onSocket: (ws: WebSocket) => void;
}

export interface ConsoleHttp {
  server: Server;
  port: number;
  close(): Promise<void>;
}

export async function startHttpServer(options: HttpServerOptions, host: string, port: number): Promise<ConsoleHttp> {
  const { access } = options;
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  const server = createServer((req, res) => {
    handle(req, res, options).catch((error: Error) => {
      const status = error instanceof HttpError ? error.status : 500;
      if (!res.headersSent) {
        res.writeHead(status, { "content-type": "application/json" });
      }
      res.end(JSON.stringify({ error: error.message }));
    });
  });
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? "/", "http://console");
    if (url.pathname !== "/ws" || access.verdict(req) !== "ok" || !access.sameOrigin(req)) {
      socket.end("HTTP/1.1 403 Forbidden\r\nconnection: close\r\n\r\n");
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => options.onSocket(ws));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => {
      reject(
        error.code === "EADDRINUSE"
          ? new CliError(`cannot serve the console on ${host}:${port}: the port is in use (another console?); pass --http-port <free port>`)
          : error.code === "EADDRNOTAVAIL"
            ? new CliError(`cannot serve the console on ${host}: this machine has no such address; --listen takes one of its addresses, or 0.0.0.0 for all`, 2)
            : new CliError(`cannot serve the console on ${host}:${port}: ${error.message}`),
      );
    });
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  return {
    server,
    port: typeof address === "object" && address !== null ? address.port : port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of wss.clients) {
          ws.terminate();
        }
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, options: HttpServerOptions): Promise<void> {
  const { access, files } = options;
  const url = new URL(req.url ?? "/", "http://console");
  if (url.pathname === "/login") {
    if (req.method === "POST") {
      access.login(req, res, await readBody(req));
    } else {
      files.serve("/login.html", req, res);
    }
    return;
  }
  if (url.pathname === "/favicon.ico") {
    res.writeHead(204).end(); // no icon: saves the browser a 404 per page
    return;
  }
  if (url.pathname === "/style.css") {
    files.serve(url.pathname, req, res);
    return;
  }
  if (access.tokenInUrl(req, res, url)) {
    return;
  }
  const verdict = access.verdict(req);
  if (verdict === "bad-host") {
    throw new HttpError(403, "this console has no token, so it answers only to 127.0.0.1 or localhost; open it by that name, or give it --token-file");
  }
  if (verdict === "login") {
    if (req.method === "GET" && !url.pathname.startsWith("/api/")) {
      res.writeHead(303, { location: "/login" }).end();
      return;
    }
    throw new HttpError(401, "log in first: the console needs its token (POST /login, or Authorization: Bearer <token>)");
  }
  if (req.method === "GET" || req.method === "HEAD") {
    if (files.has(url.pathname)) {
      files.serve(url.pathname, req, res);
      return;
    }
  }
  const handler = options.api[`${req.method} ${url.pathname}`];
  if (handler === undefined) {
    throw new HttpError(404, `no ${req.method} ${url.pathname} here`);
  }
  let body: unknown = undefined;
  if (req.method === "POST") {
    if (!access.sameOrigin(req)) {
      throw new HttpError(403, "a request from another site's page: refused");
    }
    if (!/^application\/json\b/i.test(req.headers["content-type"] ?? "")) {
      throw new HttpError(415, "send JSON (content-type: application/json)");
    }
    try {
      body = JSON.parse(await readBody(req)) as unknown;
    } catch (error) {
      throw error instanceof HttpError ? error : new HttpError(400, "the body is not JSON");
    }
  }
  const answer = await handler(body, url);
  res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(JSON.stringify(answer));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new HttpError(413, `the body is over ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}
