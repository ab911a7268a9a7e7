/**
 * npm run docs — regenerate the README blocks that come from code:
 * the config-key table (from the schema). test/unit/readme.test.ts fails when they are stale.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { configTable } from "./lib/config-table";

export function replaceBlock(text: string, name: string, body: string): string {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) {
    throw new Error(`README.md has no ${start} … ${end} block`);
  }
  return text.slice(0, a + start.length) + "\n" + body + "\n" + text.slice(b);
}

if (process.argv[1]?.endsWith("update-readme.ts")) {
  const text = readFileSync("README.md", "utf8");
  writeFileSync("README.md", replaceBlock(text, "config-table", configTable()));
}
