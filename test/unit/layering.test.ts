/**
 * The top-level folders depend on each other one way (issue 14): the
 * program (cli/) on the tools (ops/, host-bridge/, simulator/, device/),
 * the tools on the shared pieces (broker/, common/) and the firmware's
 * core, and nothing back up. Before the layout change simulator/ and
 * host-bridge/ imported each other (41 imports), as did simulator/ and ops/
 * (17).
 *
 * The table is ALLOWED_IMPORTS in eslint.config.js, whose lint rule checks
 * static imports as they are written; this reads every relative import of
 * every source (static, `export … from` and `import()`, which the lint rule
 * does not see, in .ts and .js alike) and checks the table has no circle.
 * scripts/ and test/ are tooling and may import anything.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
// @ts-expect-error -- eslint.config.js is plain JavaScript without types (ALLOWED_IMPORTS: folder -> folders it may import)
import { ALLOWED_IMPORTS } from "../../eslint.config.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** What each folder may import from outside itself: the table the lint rule is built from. */
const ALLOWED: Record<string, readonly string[]> = ALLOWED_IMPORTS;

const SOURCE = /\.(ts|mts|js|mjs)$/;
const IMPORT = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s+["'](\.[^"']+)["']|import\(\s*["'](\.[^"']+)["']\s*\)|^\s*import\s+["'](\.[^"']+)["']/gm;

/** The folder's sources (not its build output: firmware/dist). */
function sources(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((name) => SOURCE.test(name) && !name.endsWith(".d.ts") && !name.split("/").includes("dist"))
    .map((name) => join(dir, name));
}

/** Every import from one top-level folder into another: "from -> to" and the file's line of it. */
function crossings(): { edge: string; what: string }[] {
  const result: { edge: string; what: string }[] = [];
  for (const folder of Object.keys(ALLOWED)) {
    for (const file of sources(join(ROOT, folder))) {
      const text = readFileSync(file, "utf8");
      for (const match of text.matchAll(IMPORT)) {
        const spec = match[1] ?? match[2] ?? match[3];
        const target = relative(ROOT, normalize(join(dirname(file), spec)));
        const to = target.split("/")[0];
        if (to !== folder) {
          result.push({ edge: `${folder} -> ${to}`, what: `${relative(ROOT, file)} imports ${target}` });
        }
      }
    }
  }
  return result;
}

describe("the folders' dependencies point one way", () => {
  const found = crossings();

  it("finds the imports between folders (the scan works: the program imports the simulator)", () => {
    expect(found.some((c) => c.edge === "cli -> simulator")).toBe(true);
    expect(found.length).toBeGreaterThan(50);
  });

  it("has no import the table does not allow: none back up, none sideways but the bridge's use of the simulator's node", () => {
    const refused = found.filter((c) => {
      const [from, to] = c.edge.split(" -> ");
      return !ALLOWED[from].includes(to);
    });
    expect(refused.map((c) => c.what)).toEqual([]);
  });

  it("the table itself has no circle", () => {
    const visiting = new Set<string>();
    const done = new Set<string>();
    const circle = (folder: string): boolean => {
      if (done.has(folder)) {
        return false;
      }
      if (visiting.has(folder)) {
        return true;
      }
      visiting.add(folder);
      const found = (ALLOWED[folder] ?? []).some(circle);
      visiting.delete(folder);
      done.add(folder);
      return found;
    };
    expect(Object.keys(ALLOWED).filter(circle)).toEqual([]);
  });
});
