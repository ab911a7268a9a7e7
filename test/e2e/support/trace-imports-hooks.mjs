// The hooks of trace-imports.mjs.
import { appendFileSync } from "node:fs";

export async function load(url, context, nextLoad) {
  const file = process.env.ESPFLEET_TRACE_IMPORTS;
  if (file !== undefined && file !== "") {
    appendFileSync(file, url + "\n");
  }
  return nextLoad(url, context);
}
