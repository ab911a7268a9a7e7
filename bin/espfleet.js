#!/usr/bin/env node
// `npx espfleet run|config|watch|flash|…`: runs the CLI built by `npm run build`
// (esbuild bundle of cli/main.ts in build/cli; scripts/build-cli.mjs). When the
// build is missing or a source is newer than it (a fresh clone, an edit), it is
// rebuilt first (~1 s), so what runs is always what the sources say.
// ESPFLEET_TSX=1 runs the TypeScript sources through tsx instead (no build).
//
// --env-file is Node's own flag since Node 20: Node reads it wherever it
// stands on the command line, before this file runs (and applies any
// NODE_OPTIONS in it). espfleet's settings file is --settings-file; refuse the
// old name before anything starts, so nothing runs (or is started) with what
// Node took from it. flash.sh and npm start run `node -- bin/espfleet.js`, so
// there Node leaves the arguments alone and this message is what one sees.
const envFile = process.argv.slice(2).find((arg) => arg === "--env-file" || arg.startsWith("--env-file="));
if (envFile !== undefined) {
  process.stderr.write(
    "espfleet: --env-file is Node's own option (Node 20 reads that file itself, NODE_OPTIONS included); " +
      "espfleet's settings file is --settings-file <file> (default: espfleet.local.env at the repository root)\n",
  );
  process.exit(2);
}

async function runFromSources() {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../cli/main.ts");
}

if (process.env.ESPFLEET_TSX === "1") {
  await runFromSources();
} else {
  const { buildCli, freshBuild } = await import("../scripts/build-cli.mjs");
  let build = freshBuild();
  if (build.main === undefined) {
    // Said at a terminal (it explains a pause of a second); a pipe keeps the command's own output only.
    if (process.stderr.isTTY === true) {
      process.stderr.write(`espfleet: building the CLI (${build.stale}) …\n`);
    }
    try {
      build = await buildCli();
    } catch (error) {
      build = undefined;
      process.stderr.write(`espfleet: the build failed (${String(error?.message ?? error).split("\n")[0]}); running the sources through tsx instead\n`);
    }
  }
  if (build === undefined) {
    await runFromSources();
  } else {
    const { pathToFileURL } = await import("node:url");
    await import(pathToFileURL(build.main).href);
  }
}
