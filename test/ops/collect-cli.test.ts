/**
 * The command line of collect and query: every option is documented in the
 * README's Collector section and says its default; bad usage is refused
 * with a reason and exit 2, before anything is opened.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { registerCollectCommands } from "../../cli/commands/collect";
import { runEspfleet } from "./support/collect-process";

const readme = readFileSync(join(import.meta.dirname, "..", "..", "README.md"), "utf8");
const section = readme.slice(readme.indexOf("\n## Collector\n"), readme.indexOf("\n## ", readme.indexOf("\n## Collector\n") + 5));

describe("collect and query options", () => {
  const program = new Command("espfleet");
  registerCollectCommands(program);
  for (const command of program.commands) {
    it(`every option of ${command.name()} is in the README's Collector section, with its default`, () => {
      expect(section).toContain(`### \`espfleet ${command.name()}\``);
      for (const option of command.options) {
        const flag = option.long as string;
        expect(section, flag).toContain(`\`${flag}\``);
        const hasDefault = option.defaultValue !== undefined || option.defaultValueDescription !== undefined || /default/i.test(option.description) || option.isBoolean();
        expect(hasDefault, `${command.name()} ${flag} says its default`).toBe(true);
      }
    });
  }
});

describe("bad usage", () => {
  it("refuses a retention shorter than a minute", async () => {
    const { code, out } = await runEspfleet(["collect", "--keep", "30s", "--db", "/nonexistent/espfleet-db"]);
    expect(code).toBe(2);
    expect(out).toContain("keep at least 1m");
  });

  it("refuses --summary with a range, and --since with --from", async () => {
    const summary = await runEspfleet(["query", "--summary", "--node", "node-0001"]);
    expect(summary.code).toBe(2);
    expect(summary.out).toContain("--summary covers every node");
    const both = await runEspfleet(["query", "--since", "1h", "--from", "2h"]);
    expect(both.code).toBe(2);
    expect(both.out).toContain("--since and --from");
  });

  it("says how to get a database when there is none yet", async () => {
    const { code, out } = await runEspfleet(["query", "--summary", "--db", "/nonexistent/espfleet-db"]);
    expect(code).toBe(1);
    expect(out).toContain("run `espfleet collect` first");
  });
});
