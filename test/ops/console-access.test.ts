/**
 * Who may use the console (ops/console/access.ts), over real HTTP
 * (http-server.ts): loopback without a token answers only loopback Host
 * names; with a token, nothing without it (login form, ?token=, Bearer);
 * POSTs and the WebSocket only from the console's own page; and the CLI
 * refuses to listen off loopback without a token.
 */
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Access, isLoopback } from "../../ops/console/access";
import { startHttpServer, type ConsoleHttp } from "../../ops/console/http-server";
import { StaticFiles } from "../../ops/console/static-files";
import { runCli } from "../e2e/support/cli-process";

const TOKEN = "0123456789abcdef-token";

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function http(port: number, path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method: options.method ?? "GET", headers: { host: `127.0.0.1:${port}`, ...options.headers } }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end(options.body);
  });
}

/** The HTTP status of a WebSocket upgrade. */
function upgrade(port: number, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: "127.0.0.1",
      port,
      path: "/ws",
      headers: { host: `127.0.0.1:${port}`, connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", ...headers },
    });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on("response", (res) => resolve(res.statusCode ?? 0));
    req.on("error", reject);
    req.end();
  });
}

const files = StaticFiles.load();
const api = { "POST /api/config/check": async () => ({ errors: [] }), "GET /api/status": async () => ({ ok: true }) };
let open: ConsoleHttp;
let guarded: ConsoleHttp;

beforeAll(async () => {
  open = await startHttpServer({ access: new Access(undefined), files, api, onSocket: (ws) => ws.close() }, "127.0.0.1", 0);
  guarded = await startHttpServer({ access: new Access(TOKEN), files, api, onSocket: (ws) => ws.close() }, "127.0.0.1", 0);
});
afterAll(async () => {
  await open?.close();
  await guarded?.close();
});

describe("on loopback without a token", () => {
  it("serves the page and the API to loopback Host names only (no DNS rebinding)", async () => {
    expect((await http(open.port, "/")).status).toBe(200);
    expect((await http(open.port, "/api/status", { headers: { host: `localhost:${open.port}` } })).status).toBe(200);
    const rebound = await http(open.port, "/api/status", { headers: { host: `attacker.example:${open.port}` } });
    expect([rebound.status, JSON.parse(rebound.body).error]).toEqual([403, expect.stringContaining("answers only to 127.0.0.1 or localhost")]);
  });

  it("takes POSTs only as JSON and only from its own page; the WebSocket likewise", async () => {
    const post = (headers: Record<string, string>) => http(open.port, "/api/config/check", { method: "POST", headers, body: "{}" });
    expect((await post({ "content-type": "application/json" })).status).toBe(200);
    expect((await post({ "content-type": "application/json", origin: `http://127.0.0.1:${open.port}` })).status).toBe(200);
    expect((await post({ "content-type": "application/json", origin: "http://evil.example" })).status).toBe(403);
    // A form on another site can send text/plain without asking first: refused.
    expect((await post({ "content-type": "text/plain" })).status).toBe(415);
    expect(await upgrade(open.port, { origin: `http://127.0.0.1:${open.port}` })).toBe(101);
    expect(await upgrade(open.port, { origin: "http://evil.example" })).toBe(403);
  });

  it("serves the page gzipped, with a CSP, and a 304 for what the browser has", async () => {
    const first = await http(open.port, "/app.js", { headers: { "accept-encoding": "gzip" } });
    expect([first.status, first.headers["content-encoding"]]).toEqual([200, "gzip"]);
    const again = await http(open.port, "/app.js", { headers: { "if-none-match": String(first.headers.etag) } });
    expect(again.status).toBe(304);
    expect((await http(open.port, "/")).headers["content-security-policy"]).toContain("default-src 'self'");
    expect((await http(open.port, "/vendor/uPlot.iife.min.js")).status).toBe(200);
  });
});

describe("with a token", () => {
  it("sends a browser to the login page, and a script away with 401", async () => {
    const page = await http(guarded.port, "/");
    expect([page.status, page.headers.location]).toEqual([303, "/login"]);
    expect((await http(guarded.port, "/login")).body).toContain('name="token"');
    expect((await http(guarded.port, "/api/status")).status).toBe(401);
    expect(await upgrade(guarded.port, {})).toBe(403);
  });

  it("a right token (form, ?token= or Bearer) opens it; the cookie holds no token; a wrong one does not", async () => {
    const wrong = await http(guarded.port, "/login", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "token=nope" });
    expect([wrong.status, wrong.headers.location, wrong.headers["set-cookie"]]).toEqual([303, "/login?failed=1", undefined]);
    const right = await http(guarded.port, "/login", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: `token=${TOKEN}` });
    const cookie = String(right.headers["set-cookie"]).split(";")[0];
    expect(String(right.headers["set-cookie"])).toMatch(/HttpOnly; SameSite=Strict/);
    expect(cookie).not.toContain(TOKEN);
    expect((await http(guarded.port, "/api/status", { headers: { cookie } })).status).toBe(200);
    expect(await upgrade(guarded.port, { cookie })).toBe(101);
    const link = await http(guarded.port, `/?token=${TOKEN}`);
    expect([link.status, link.headers.location]).toEqual([303, "/"]);
    expect((await http(guarded.port, "/api/status", { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
  });

  it("answers any Host (a reverse proxy's name), since the token guards it", async () => {
    expect((await http(guarded.port, "/api/status", { headers: { host: "console.example.org", authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
  });
});

describe("binding", () => {
  it("knows loopback addresses", () => {
    expect(["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"].every(isLoopback)).toBe(true);
    expect(["0.0.0.0", "192.168.1.5", "::", "example.org"].some(isLoopback)).toBe(false);
  });

  it("espfleet console refuses --listen 0.0.0.0 without a token, and says how to make one", async () => {
    const { code, out } = await runCli(["console", "--listen", "0.0.0.0", "--db", "none"]);
    expect(code).toBe(2);
    expect(out).toContain("--listen 0.0.0.0 would let anyone who reaches this machine change the fleet's config");
    expect(out).toContain("openssl rand -hex 16");
  });
});
