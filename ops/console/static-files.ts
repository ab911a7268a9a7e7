/**
 * The page's files (ops/console/page/) and uPlot (node_modules), read and
 * gzipped once at start: served from memory with an ETag, so a reload costs
 * a 304 per file. No build step: the page is plain ES modules.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { extname, join } from "node:path";
import { gzipSync } from "node:zlib";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};

interface StaticFile {
  type: string;
  body: Buffer;
  gzip: Buffer;
  etag: string;
}

export class StaticFiles {
  private readonly files = new Map<string, StaticFile>();

  /** Page files under /, uPlot under /vendor/. */
  static load(): StaticFiles {
    const files = new StaticFiles();
    const page = join(import.meta.dirname, "page");
    for (const name of readdirSync(page)) {
      if (TYPES[extname(name)] !== undefined) {
        files.add(`/${name}`, readFileSync(join(page, name)));
      }
    }
    const require = createRequire(import.meta.url);
    files.add("/vendor/uPlot.iife.min.js", readFileSync(require.resolve("uplot/dist/uPlot.iife.min.js")));
    files.add("/vendor/uPlot.min.css", readFileSync(require.resolve("uplot/dist/uPlot.min.css")));
    files.files.set("/", files.files.get("/index.html") as StaticFile);
    return files;
  }

  has(path: string): boolean {
    return this.files.has(path);
  }

  /** Bytes on the wire of every file (gzipped), for the page-weight figure. */
  weight(): { files: number; bytes: number; gzipped: number } {
    let bytes = 0;
    let gzipped = 0;
    for (const [path, f] of this.files) {
      if (path !== "/") {
        bytes += f.body.length;
        gzipped += f.gzip.length;
      }
    }
    return { files: this.files.size - 1, bytes, gzipped };
  }

  serve(path: string, req: IncomingMessage, res: ServerResponse): void {
    const file = this.files.get(path) as StaticFile;
    const headers: Record<string, string> = {
      "content-type": file.type,
      etag: file.etag,
      // Revalidate every time (a 304 is cheap): a new version of the console is never mixed with an old page.
      "cache-control": "no-cache",
      "x-content-type-options": "nosniff",
      vary: "accept-encoding",
    };
    if (file.type.startsWith("text/html")) {
      // The page loads only its own scripts and styles, and is never framed by another site.
      headers["content-security-policy"] = "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'";
    }
    if (req.headers["if-none-match"] === file.etag) {
      res.writeHead(304, headers).end();
      return;
    }
    const gzip = /\bgzip\b/.test(String(req.headers["accept-encoding"] ?? ""));
    res.writeHead(200, { ...headers, ...(gzip ? { "content-encoding": "gzip" } : {}), "content-length": String(gzip ? file.gzip.length : file.body.length) });
    res.end(req.method === "HEAD" ? undefined : gzip ? file.gzip : file.body);
  }

  private add(path: string, body: Buffer): void {
    this.files.set(path, {
      type: TYPES[extname(path)] ?? "application/octet-stream",
      body,
      gzip: gzipSync(body, { level: 9 }),
      etag: `"${createHash("sha256").update(body).digest("hex").slice(0, 16)}"`,
    });
  }
}
