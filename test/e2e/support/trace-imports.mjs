// node --import ./test/e2e/support/trace-imports.mjs …: appends the URL of every module Node loads to the file in
// ESPFLEET_TRACE_IMPORTS (module hooks run on their own thread, so they write to a file, not to the output).
import { register } from "node:module";

register("./trace-imports-hooks.mjs", import.meta.url);
