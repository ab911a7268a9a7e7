import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { configTable } from "../../scripts/lib/config-table";
import { schema } from "../../firmware/core/config";

const readme = readFileSync(join(import.meta.dirname, "..", "..", "README.md"), "utf8");

it("README's config table matches the schema (regenerate with npm run docs)", () => {
  expect(readme).toContain(configTable());
});

it("every config key has a meaning in the docs", () => {
  for (const spec of schema()) {
    expect(configTable()).not.toMatch(new RegExp(`\\| \`${spec[0]}\` \\|  \\|`));
  }
});
