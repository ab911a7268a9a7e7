/**
 * `npm ci` on a fresh clone, for `npm start` and `npm test` (issue 12): a
 * first run spends most of a minute here, so it says what it does, that it
 * is once only, and how far it is: packages unpacked out of the lockfile's,
 * and the time so far. Every line npm prints is passed on as it comes
 * (warnings and errors included: nothing is hidden); on a terminal above one
 * status line redrawn in place, in a pipe with a status line every 15 s.
 *
 * The install scripts npm 11 asks about (`install-scripts … not yet covered
 * by allowScripts`) are reviewed in package.json's `allowScripts`, not here.
 *
 * Plain JavaScript: it runs before any npm package is installed.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { clearInterval, setInterval } from "node:timers";

/** In a pipe, a status line this often. */
const PLAIN_EVERY_MS = 15_000;

/** True when node_modules holds an install npm completed (it writes .package-lock.json last). */
export function packagesInstalled(root) {
  return existsSync(join(root, "node_modules", ".package-lock.json"));
}

/**
 * The lockfile's packages npm must install (optional ones left out: other
 * platforms' binaries and what only they need are never unpacked here), as
 * node_modules paths: the measure of the progress line.
 */
export function expectedPackages(root) {
  let lock;
  try {
    lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8"));
  } catch {
    return [];
  }
  const glibc = process.report?.getReport?.().header?.glibcVersionRuntime !== undefined;
  const fits = (list, value) => !Array.isArray(list) || list.some((v) => v === value || (v.startsWith("!") && v.slice(1) !== value));
  return Object.entries(lock.packages ?? {})
    .filter(([path, meta]) => path.startsWith("node_modules/") && meta.link !== true && meta.optional !== true)
    .filter(([, meta]) => fits(meta.os, process.platform) && fits(meta.cpu, process.arch) && fits(meta.libc, glibc ? "glibc" : "musl"))
    .map(([path]) => path);
}

/**
 * Run `npm ci` in `root`, saying so as `who`; resolves true when it
 * succeeded. `npm` and `out` are for tests.
 */
export function installPackages({ root, who, npm = process.platform === "win32" ? "npm.cmd" : "npm", out = process.stdout }) {
  const expected = expectedPackages(root);
  const interactive = out.isTTY === true;
  const started = Date.now();
  const about = expected.length > 0 ? `${expected.length} packages, ` : "";
  out.write(`${who}: first run: installing the npm packages (npm ci: ${about}about a minute; later runs skip this)…\n`);

  let statusShown = false;
  const status = () => {
    const seconds = Math.round((Date.now() - started) / 1000);
    const unpacked = expected.filter((path) => existsSync(join(root, path, "package.json"))).length;
    if (expected.length === 0) {
      return `npm ci: ${seconds} s`;
    }
    // All unpacked: npm runs the install scripts (native builds of serialport and classic-level, esbuild's check), then `prepare`.
    const phase = unpacked < expected.length ? `${unpacked}/${expected.length} packages unpacked` : "running install scripts and building the CLI";
    return `npm ci: ${phase}, ${seconds} s`;
  };
  const clear = () => {
    if (statusShown) {
      out.write("\r\x1b[2K");
      statusShown = false;
    }
  };
  const draw = () => {
    // A terminal that reports no size (0 columns: `script`, some CI ptys) is taken as wide.
    const width = out.columns > 0 ? out.columns : 200;
    out.write(`\r\x1b[2K${status().slice(0, width - 1)}`);
    statusShown = true;
  };
  // npm's own lines, whole, above the status line.
  const pass = (stream) => {
    let partial = "";
    stream.on("data", (chunk) => {
      const text = partial + chunk.toString();
      const end = text.lastIndexOf("\n") + 1;
      partial = text.slice(end);
      if (end > 0) {
        clear();
        out.write(text.slice(0, end));
        if (interactive) {
          draw();
        }
      }
    });
    stream.on("end", () => {
      if (partial !== "") {
        clear();
        out.write(partial + "\n");
      }
    });
  };

  return new Promise((resolve) => {
    const child = spawn(npm, ["ci", "--no-audit", "--no-fund"], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    pass(child.stdout);
    pass(child.stderr);
    const ticker = interactive ? setInterval(draw, 500) : setInterval(() => out.write(`${who}: still installing: ${status()}\n`), PLAIN_EVERY_MS);
    if (interactive) {
      draw();
    }
    let done = false;
    const finish = (ok, why) => {
      // A spawn error may be followed by "close": one verdict.
      if (done) {
        return;
      }
      done = true;
      clearInterval(ticker);
      clear();
      const seconds = ((Date.now() - started) / 1000).toFixed(0);
      out.write(ok ? `${who}: npm packages installed in ${seconds} s\n` : `${who}: npm ci failed (${why}) after ${seconds} s; npm's own messages are above\n`);
      resolve(ok);
    };
    child.on("error", (error) => finish(false, error.code === "ENOENT" ? `${npm} is not on the PATH` : error.message));
    child.on("close", (code, signal) => finish(code === 0, signal !== null ? signal : `exit code ${code}`));
  });
}
