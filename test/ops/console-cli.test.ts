/**
 * The command line of console: every option is in the README's Console
 * section and says its default.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { expect, it } from "vitest";
import { registerConsoleCommand } from "../../cli/commands/console";

const readme = readFileSync(join(import.meta.dirname, "..", "..", "README.md"), "utf8");
const start = readme.indexOf("\n## Console\n");
const section = readme.slice(start, readme.indexOf("\n## ", start + 5));

it("every option of console is in the README's Console section, with its default", () => {
  const program = new Command("espfleet");
  registerConsoleCommand(program);
  const command = program.commands[0];
  expect(start).toBeGreaterThan(0);
  for (const option of command.options) {
    const flag = option.long as string;
    expect(section, flag).toContain(`\`${flag}\``);
    const hasDefault = option.defaultValue !== undefined || option.defaultValueDescription !== undefined || /default/i.test(option.description) || option.isBoolean();
    expect(hasDefault, `console ${flag} says its default`).toBe(true);
  }
});
