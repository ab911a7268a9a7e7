#!/usr/bin/env node
// `npx espfleet run|config|watch|flash|…`: the CLI is TypeScript (cli/main.ts), run through tsx.
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

const { register } = await import("tsx/esm/api");
register();
await import("../cli/main.ts");
