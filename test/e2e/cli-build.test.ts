/**
 * The CLI runs compiled (issue 12): bin/espfleet.js starts the esbuild
 * bundle of cli/main.ts (scripts/build-cli.mjs), not the TypeScript through
 * tsx, and loads a command's code only when that command runs, so
 * `espfleet --help` loads neither tsx nor TypeScript nor any command's code
 * (mqtt, serialport, PGlite). A missing or stale build (a fresh clone, an edited source) is
 * rebuilt by bin/espfleet.js itself before it runs. Times are measured by
 * `npm run bench:cli`, not here.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..");
const TRACE = join(import.meta.dirname, "support", "trace-imports.mjs");
const work = mkdtempSync(join(ROOT, "build", "cli-test-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** `node bin/espfleet.js args` with the modules it loads traced; ESPFLEET_CLI_BUILD_DIR = `buildDir` when given. */
function espfleet(args: string[], buildDir?: string): { code: number | null; out: string; loaded: string[] } {
  const trace = join(work, `trace-${Math.random().toString(36).slice(2)}.txt`);
  const env: NodeJS.ProcessEnv = { ...process.env, ESPFLEET_TRACE_IMPORTS: trace };
  delete env.ESPFLEET_TSX;
  if (buildDir !== undefined) {
    env.ESPFLEET_CLI_BUILD_DIR = relative(ROOT, buildDir);
  }
  const run = spawnSync(process.execPath, ["--import", TRACE, join(ROOT, "bin", "espfleet.js"), ...args], { cwd: ROOT, env, encoding: "utf8", timeout: 120_000 });
  const loaded = existsSync(trace) ? readFileSync(trace, "utf8").trim().split("\n") : [];
  return { code: run.status, out: run.stdout + run.stderr, loaded };
}

describe("the compiled CLI (bin/espfleet.js, scripts/build-cli.mjs)", () => {
  it("--help runs the bundle: no tsx, no TypeScript source, none of the commands' heavy packages", () => {
    // Built first if a source changed since the last build (then esbuild is loaded, once): this test is about a run without.
    espfleet(["--version"]);
    const help = espfleet(["--help"]);
    expect(help.code).toBe(0);
    expect(help.out).toContain("Usage: espfleet");
    const files = help.loaded.filter((url) => url.startsWith("file:"));
    expect(files.some((url) => /\/build\/cli\/[^/]+\/main\.js$/.test(url))).toBe(true);
    expect(files.filter((url) => url.endsWith(".ts"))).toEqual([]);
    for (const heavy of ["tsx", "typescript", "mqtt", "serialport", "@electric-sql", "johnny-five", "esptool-js", "esbuild"]) {
      expect(files.filter((url) => url.includes(`/node_modules/${heavy}/`)), heavy).toEqual([]);
    }
    // No command's code either (mqtt is bundled into the chunks that need it: scripts/build-cli.mjs, BUNDLED).
    expect(files.filter((url) => /\/build\/cli\/[^/]+\/[a-z-]*command-\w+\.js$/.test(url))).toEqual([]);
  });

  it("a command loads its own code when it runs: config's, not run's or flash's", () => {
    espfleet(["--version"]);
    const config = espfleet(["config", "--interval", "5ms", "--all"]);
    expect(config.code).toBe(2);
    const files = config.loaded.filter((url) => url.startsWith("file:"));
    // Its own chunk (ops/config/command.ts, named after it), none of the other commands'.
    expect(files.some((url) => /\/build\/cli\/[^/]+\/command-\w+\.js$/.test(url))).toBe(true);
    expect(files.filter((url) => /\/(run-command|flash-command|bridge-command|collect-command|query-command|run-device)-\w+\.js$/.test(url))).toEqual([]);
    for (const other of ["serialport", "@electric-sql", "johnny-five", "esptool-js", "tsx", "aedes"]) {
      expect(files.filter((url) => url.includes(`/node_modules/${other}/`)), other).toEqual([]);
    }
  });

  it("builds itself when there is no build (a fresh clone) or a source is newer than the build (an edit), and not otherwise", () => {
    const dir = join(work, "cli");
    const built = (run: { loaded: string[] }): boolean => run.loaded.some((url) => url.includes("/node_modules/esbuild/"));
    expect(existsSync(join(dir, "current.json"))).toBe(false);
    const fresh = espfleet(["--version"], dir);
    expect(fresh.code).toBe(0);
    expect(built(fresh)).toBe(true);
    const current = JSON.parse(readFileSync(join(dir, "current.json"), "utf8")) as { dir: string; builtAt: number; inputs: string[] };
    expect(current.inputs).toEqual(expect.arrayContaining(["cli/main.ts", "ops/watch/command.ts", "simulator/run-command.ts", "firmware/core/config.ts"]));
    expect(fresh.loaded.some((url) => url.includes(`/${current.dir}/main.js`))).toBe(true);

    const again = espfleet(["--version"], dir);
    expect(again.code).toBe(0);
    expect(built(again)).toBe(false);

    // As if cli/main.ts had been edited after the build: the build's time goes back before its sources'.
    writeFileSync(join(dir, "current.json"), JSON.stringify({ ...current, builtAt: 0 }));
    const edited = espfleet(["--version"], dir);
    expect(edited.code).toBe(0);
    expect(built(edited)).toBe(true);
    const rebuilt = JSON.parse(readFileSync(join(dir, "current.json"), "utf8")) as { dir: string; builtAt: number };
    expect(rebuilt.dir).not.toBe(current.dir);
    expect(rebuilt.builtAt).toBeGreaterThan(0);
  });

  it("npm run build builds it, and the bundle finds the files it reads at run time in the source tree", () => {
    const build = spawnSync("npm", ["run", "--silent", "build"], { cwd: ROOT, encoding: "utf8", env: { ...process.env, ESPFLEET_CLI_BUILD_DIR: relative(ROOT, join(work, "npm")) } });
    expect(build.status, build.stdout + build.stderr).toBe(0);
    expect(build.stdout).toMatch(/build: built .* from \d+ sources in [\d.]+ s/);
    const current = JSON.parse(readFileSync(join(work, "npm", "current.json"), "utf8")) as { dir: string };
    const chunks = spawnSync("grep", ["-rhoE", '__espfleetSource(Url|Dir|Path)\\("[^"]+"\\)', join(work, "npm", current.dir)], { encoding: "utf8" }).stdout;
    // import.meta.url / dirname of these modules point at their sources, where the files they read live.
    for (const source of ['"simulator/worker-fleet.ts"', '"device/lua-vm.ts"', '"host-bridge/flash"', '"host-bridge/uploader/dist-files.ts"']) {
      expect(chunks).toContain(source);
    }
  });
});
