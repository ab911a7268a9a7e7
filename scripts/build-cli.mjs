#!/usr/bin/env node
/**
 * `npm run build` (and `prepare`, so `npm install`/`npm ci` run it): bundle
 * the CLI (cli/main.ts and everything it imports) with esbuild into
 * build/cli/<id>/, so bin/espfleet.js starts plain JavaScript instead of
 * compiling TypeScript at every start (tsx: 1-3 s; the bundle: ~0.2 s).
 *
 * - Code splitting: each command's work is imported when it runs (cli/),
 *   so `espfleet --help` loads commander and the option tables only.
 * - A second entry, fleet-worker.js: the worker process of `run --workers N`,
 *   sharing the CLI's chunks (the sources' fleet-worker-entry.js, which
 *   loads tsx, is left for ESPFLEET_TSX=1 and the tests); and likewise
 *   pglite-worker.js, the collector's PGlite worker thread.
 * - npm packages stay outside the bundle (resolved from node_modules),
 *   but for the few in BUNDLED, which load much faster bundled.
 * - Paths a module finds at run time next to its source (import.meta.url /
 *   import.meta.dirname: device/lua/*.lua, firmware/dist,
 *   simulator/fleet-worker-entry.js, espfleet.local.env) keep pointing into
 *   the source tree: those expressions are rewritten to the module's own
 *   source location, relative to the bundle.
 * - Every build goes to a folder of its own and build/cli/current.json names
 *   the newest (written by rename): a process running an older build keeps
 *   its chunks, and two builds at once do not mix.
 * - current.json lists the build's inputs: bin/espfleet.js rebuilds when one
 *   is newer than the build (or gone), so a fresh clone and a developer who
 *   just edited a source both run what the sources say.
 *
 * Plain JavaScript: bin/espfleet.js imports it before anything is compiled.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** Bump when the build's shape changes: older builds are then rebuilt. (2: the fleet worker entry.) */
const FORMAT = 2;
/** Older builds are removed this long after a newer one replaced them (a process may still be loading their chunks). */
const KEEP_OLD_MS = 60 * 60_000;
const ENTRY = "cli/main.ts";
/**
 * The worker process of `run --workers N` (simulator/worker-fleet.ts forks
 * it): built too, sharing the CLI's chunks, so a worker starts plain
 * JavaScript as the CLI does instead of compiling TypeScript through tsx.
 */
const WORKER_ENTRY = "simulator/fleet-worker.ts";
/**
 * The collector's PGlite worker thread (ops/collect/pglite-worker-store.ts
 * starts it): built as well, for the same reason (and tsx is only a
 * development dependency).
 */
const PGLITE_WORKER_ENTRY = "ops/collect/pglite-worker.ts";
/**
 * npm packages bundled in, not loaded from node_modules at run time: mqtt
 * costs 150-400 ms to load as its hundred CommonJS files, ~15 ms bundled.
 * The others stay outside (native bindings, wasm and data files found next
 * to their code, or only needed by one command).
 */
const BUNDLED = ["mqtt", "commander"];

/** Where builds go: build/cli, or ESPFLEET_CLI_BUILD_DIR (inside the repository: the bundle finds node_modules from there). */
export function buildRoot(env = process.env) {
  const dir = resolve(ROOT, env.ESPFLEET_CLI_BUILD_DIR ?? join("build", "cli"));
  const rel = relative(ROOT, dir);
  if (rel === "" || rel.startsWith("..") || rel.startsWith(sep)) {
    throw new Error(`ESPFLEET_CLI_BUILD_DIR must be a folder inside ${ROOT} (npm packages are found from there); got ${dir}`);
  }
  return dir;
}

function readCurrent(root) {
  try {
    const current = JSON.parse(readFileSync(join(root, "current.json"), "utf8"));
    return current.format === FORMAT ? current : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The entry file of a build that is up to date with its sources, or why
 * there is none ({ stale: "reason" }). Costs one stat per source file.
 */
export function freshBuild(root = buildRoot()) {
  const current = readCurrent(root);
  if (current === undefined) {
    return { stale: "no build yet" };
  }
  const main = join(root, current.dir, "main.js");
  for (const input of [...current.inputs, "scripts/build-cli.mjs"]) {
    let mtime;
    try {
      mtime = statSync(join(ROOT, input)).mtimeMs;
    } catch {
      return { stale: `${input} is gone` };
    }
    if (mtime > current.builtAt) {
      return { stale: `${input} changed` };
    }
  }
  try {
    statSync(main);
  } catch {
    return { stale: "the build was removed" };
  }
  return { main };
}

/**
 * Rewrites import.meta.url / import.meta.dirname of a source file into its
 * own location, computed from the output file's import.meta.url (every output
 * file sits directly in the build folder).
 */
function sourcePathsPlugin(outdir) {
  const toRoot = relative(outdir, ROOT).split(sep).join("/") + "/";
  return {
    name: "espfleet-source-paths",
    setup(build) {
      build.onLoad({ filter: /\.(ts|js|mjs)$/ }, (args) => {
        if (args.path.includes(`${sep}node_modules${sep}`)) {
          return undefined;
        }
        const text = readFileSync(args.path, "utf8");
        if (!text.includes("import.meta")) {
          return undefined;
        }
        const file = relative(ROOT, args.path).split(sep).join("/");
        const dir = relative(ROOT, dirname(args.path)).split(sep).join("/");
        const contents = text
          .replaceAll("import.meta.url", `__espfleetSourceUrl(${JSON.stringify(file)})`)
          .replaceAll("import.meta.dirname", `__espfleetSourceDir(${JSON.stringify(dir)})`)
          .replaceAll("import.meta.filename", `__espfleetSourcePath(${JSON.stringify(file)})`);
        return { contents, loader: args.path.endsWith(".ts") ? "ts" : "js" };
      });
    },
    banner:
      `import { fileURLToPath as __espfleetToPath } from "node:url";\n` +
      // For the CommonJS packages bundled in (BUNDLED): their require() of Node's own modules.
      `import { createRequire as __espfleetCreateRequire } from "node:module";\n` +
      `const require = __espfleetCreateRequire(import.meta.url);\n` +
      `const __espfleetRoot = new URL(${JSON.stringify(toRoot)}, import.meta.url);\n` +
      `const __espfleetSourceUrl = (file) => new URL(file, __espfleetRoot).href;\n` +
      `const __espfleetSourcePath = (file) => __espfleetToPath(new URL(file, __espfleetRoot));\n` +
      `const __espfleetSourceDir = (dir) => __espfleetToPath(new URL(dir === "" ? "." : dir, __espfleetRoot)).replace(/[\\\\/]$/, "");\n` +
      // The build folder, for code that starts another built entry (worker-fleet.ts: fleet-worker.js); absent when run from the sources.
      `const __espfleetBundleUrl = import.meta.url;\n`,
  };
}

/** Every dependency of package.json but BUNDLED, as esbuild externals (with their subpaths). */
function externalPackages() {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  const names = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies }).filter((name) => !BUNDLED.includes(name));
  return names.flatMap((name) => [name, `${name}/*`]);
}

/** Build the CLI; returns the entry file and how long it took. */
export async function buildCli({ root = buildRoot(), log = () => undefined } = {}) {
  const started = performance.now();
  const { build } = await import("esbuild");
  const id = `${Date.now().toString(36)}-${process.pid}`;
  const outdir = join(root, id);
  mkdirSync(root, { recursive: true });
  const builtAt = Date.now();
  const { banner, ...plugin } = sourcePathsPlugin(outdir);
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: { main: ENTRY, "fleet-worker": WORKER_ENTRY, "pglite-worker": PGLITE_WORKER_ENTRY },
    outdir,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    external: externalPackages(),
    sourcemap: "linked",
    metafile: true,
    logLevel: "warning",
    banner: { js: banner },
    plugins: [plugin],
  });
  const inputs = Object.keys(result.metafile.inputs).filter((path) => !path.startsWith("node_modules/"));
  const current = { format: FORMAT, dir: id, builtAt, inputs };
  const tmp = join(root, `.current-${id}.json`);
  writeFileSync(tmp, JSON.stringify(current, null, 1) + "\n");
  renameSync(tmp, join(root, "current.json"));
  removeOldBuilds(root, id);
  const ms = performance.now() - started;
  log(`built ${relative(ROOT, outdir)} from ${inputs.length} sources in ${(ms / 1000).toFixed(1)} s`);
  return { main: join(outdir, "main.js"), ms };
}

function removeOldBuilds(root, keep) {
  for (const name of readdirSync(root)) {
    if (name === keep || name === "current.json") {
      continue;
    }
    const path = join(root, name);
    try {
      if (Date.now() - statSync(path).mtimeMs > KEEP_OLD_MS) {
        rmSync(path, { recursive: true, force: true });
      }
    } catch {
      // Removed by another build meanwhile.
    }
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    await buildCli({ log: (line) => process.stdout.write(`build: ${line}\n`) });
  } catch (error) {
    // esbuild has printed the errors (file:line) already.
    process.stderr.write(`build: the CLI did not build: ${error.message.split("\n")[0]}\n`);
    // At install (npm's prepare) a failed build must not fail the install: bin/espfleet.js builds again at its first run.
    if (process.argv.includes("--at-install")) {
      process.stderr.write("build: bin/espfleet.js tries again at its first run\n");
    } else {
      process.exit(1);
    }
  }
}
