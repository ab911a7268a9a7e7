/**
 * Who may use the console. It changes the fleet's config, so:
 *
 * - Bound to loopback (the default) it needs no login, but it answers only
 *   requests whose Host is the loopback address (a web page elsewhere that
 *   points a DNS name at 127.0.0.1, "DNS rebinding", gets nothing).
 * - Off loopback it requires the token (--token-file or
 *   ESPFLEET_CONSOLE_TOKEN): typed in the login page, or passed once as
 *   `?token=` in the URL; either sets an HttpOnly, SameSite=Strict cookie
 *   holding a hash of the token (never the token). A token given on loopback
 *   is required there too.
 * - Whatever the binding, requests that change something (POST, the
 *   WebSocket) must come from the console's own page: a browser sends
 *   `Origin`, which must name the host the page was loaded from; another
 *   site's page cannot make the browser send the console's Host with its
 *   Origin. POSTs must be JSON, which a cross-site form cannot send.
 *
 * Plain HTTP: off loopback, put it behind TLS (README, "Console").
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { isIP } from "node:net";
import { CliError } from "../../common/errors";
import { checkRegularFile } from "../../common/input-file";

const COOKIE = "espfleet_console";
/** Failed logins from one address before it must wait. */
const MAX_FAILURES = 10;
const FAILURE_WINDOW_MS = 60_000;

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  return h === "localhost" || h === "::1" || (isIP(h) === 4 && h.startsWith("127."));
}

/** Why a token may not be used, or undefined. */
export function tokenProblem(token: string): string | undefined {
  return token.length < 12 ? `is ${token.length} characters; use at least 12 (openssl rand -hex 16 makes one)` : undefined;
}

/** The console's token: --token-file, else ESPFLEET_CONSOLE_TOKEN, else none. */
export function loadToken(file: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  let token: string | undefined;
  let source: string;
  if (file !== undefined) {
    checkRegularFile("--token-file", file);
    try {
      token = readFileSync(file, "utf8").replace(/\r?\n$/, "");
    } catch (error) {
      throw new CliError(`cannot read --token-file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}; make one with: openssl rand -hex 16 > ${file}`, 2);
    }
    source = `--token-file ${file}`;
  } else if (env.ESPFLEET_CONSOLE_TOKEN !== undefined && env.ESPFLEET_CONSOLE_TOKEN !== "") {
    token = env.ESPFLEET_CONSOLE_TOKEN;
    source = "ESPFLEET_CONSOLE_TOKEN";
  } else {
    return undefined;
  }
  const problem = tokenProblem(token);
  if (problem !== undefined) {
    throw new CliError(`the console token in ${source} ${problem}`, 2);
  }
  return token;
}

export type Verdict = "ok" | "login" | "bad-host";

export class Access {
  private readonly session: string | undefined;
  private readonly failures = new Map<string, { count: number; since: number }>();

  constructor(private readonly token: string | undefined) {
    this.session = token !== undefined ? createHmac("sha256", token).update("espfleet console session").digest("hex") : undefined;
  }

  get needsLogin(): boolean {
    return this.token !== undefined;
  }

  /** May this request see the console? */
  verdict(req: IncomingMessage): Verdict {
    if (this.token === undefined) {
      // Loopback without a token: only loopback Host names (no DNS rebinding).
      return isLoopback(hostName(req.headers.host ?? "")) ? "ok" : "bad-host";
    }
    const cookie = cookieValue(req.headers.cookie, COOKIE);
    const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? "")?.[1];
    return (cookie !== undefined && same(cookie, this.session as string)) || (bearer !== undefined && same(bearer, this.token)) ? "ok" : "login";
  }

  /**
   * Is this request from the console's own page? No Origin (curl, a script):
   * yes, its credentials decide. With one, it must name the Host (or the
   * host a reverse proxy says it forwarded: X-Forwarded-Host).
   */
  sameOrigin(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (origin === undefined) {
      return true;
    }
    let host: string;
    try {
      host = new URL(origin).host;
    } catch {
      return false;
    }
    const forwarded = (req.headers["x-forwarded-host"] as string | undefined)?.split(",")[0]?.trim();
    return host === req.headers.host || (forwarded !== undefined && host === forwarded);
  }

  /** `?token=…` in a page's URL: check it, set the cookie and send the browser on without it. True when handled. */
  tokenInUrl(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    const given = url.searchParams.get("token");
    if (given === null || this.token === undefined) {
      return false;
    }
    url.searchParams.delete("token");
    const to = url.pathname + (url.search !== "" ? url.search : "");
    if (!this.tryToken(req, given)) {
      res.writeHead(303, { location: "/login?failed=1" }).end();
      return true;
    }
    res.writeHead(303, { location: to, "set-cookie": this.cookie(req) }).end();
    return true;
  }

  /** POST /login with `token=…` (a form). */
  login(req: IncomingMessage, res: ServerResponse, body: string): void {
    const given = new URLSearchParams(body).get("token") ?? "";
    if (this.token === undefined || !this.tryToken(req, given)) {
      res.writeHead(303, { location: "/login?failed=1" }).end();
      return;
    }
    res.writeHead(303, { location: "/", "set-cookie": this.cookie(req) }).end();
  }

  /** Checked, with too many failures from one address refused outright. */
  private tryToken(req: IncomingMessage, given: string): boolean {
    const who = req.socket.remoteAddress ?? "?";
    const now = Date.now();
    const f = this.failures.get(who);
    if (f !== undefined && now - f.since > FAILURE_WINDOW_MS) {
      this.failures.delete(who);
    } else if (f !== undefined && f.count >= MAX_FAILURES) {
      return false;
    }
    if (this.token !== undefined && same(given, this.token)) {
      this.failures.delete(who);
      return true;
    }
    const next = this.failures.get(who) ?? { count: 0, since: now };
    next.count++;
    this.failures.set(who, next);
    return false;
  }

  private cookie(req: IncomingMessage): string {
    // Secure when the page came over TLS (a reverse proxy says so), so the cookie never travels in clear.
    const tls = (req.headers["x-forwarded-proto"] as string | undefined)?.startsWith("https") === true;
    return `${COOKIE}=${this.session}; Path=/; HttpOnly; SameSite=Strict${tls ? "; Secure" : ""}`;
  }
}

function hostName(host: string): string {
  return host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.split(":")[0];
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) {
      return v.join("=");
    }
  }
  return undefined;
}

/** Equal, in time that does not depend on where they differ. */
function same(a: string, b: string): boolean {
  const x = createHmac("sha256", "compare").update(a).digest();
  const y = createHmac("sha256", "compare").update(b).digest();
  return timingSafeEqual(x, y);
}
