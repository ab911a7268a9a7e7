/**
 * The command line of collect and query: every option is documented in the
 * README's Collector section and says its default; bad usage is refused
 * with a reason and exit 2, before anything is opened.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { registerCollectCommands } from "../../cli/commands/collect";
import { freePort } from "../e2e/support/mosquitto";
import { EspfleetProcess, runEspfleet } from "./support/collect-process";

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

describe("a stop while the collector starts", () => {
  // npm start -- --duration 5s: the fleet (and its broker) stops while the collector is still creating its
  // database or waiting --wait for the broker; it must stop at once instead of waiting for a broker that is gone.
  it("SIGTERM during the first open, then during the wait for the broker: each exits 0 at once, saying nothing was received", { timeout: 90_000 }, async () => {
    const db = mkdtempSync(join(tmpdir(), "espfleet-collect-wait-"));
    const port = await freePort(); // nothing listens on it
    const args = ["collect", "--broker", `mqtt://127.0.0.1:${port}`, "--wait", "60s", "--db", join(db, "db")];
    const stopAfter = async (ready: (collect: EspfleetProcess) => Promise<unknown>): Promise<void> => {
      const collect = new EspfleetProcess(args);
      try {
        await ready(collect);
        const stoppedAt = Date.now();
        const { code } = await collect.stop("SIGTERM");
        expect(code, collect.out).toBe(0);
        expect((Date.now() - stoppedAt) / 1000, collect.out).toBeLessThan(15);
        expect(collect.out).toMatch(/stopped \(SIGTERM\) before mqtt:\/\/127\.0\.0\.1:\d+ answered; nothing received/);
      } finally {
        await collect.stop("SIGKILL");
      }
    };
    try {
      await stopAfter((collect) => collect.waitFor(/creating the database/, 30_000));
      // The folder exists now. Its query socket is served just before the collector starts waiting for the broker.
      const socket = join(db, "db", "collector.sock");
      await stopAfter(async () => {
        for (let i = 0; i < 300 && !existsSync(socket); i++) {
          await new Promise((r) => setTimeout(r, 50));
        }
        expect(existsSync(socket), "the collector's query socket").toBe(true);
      });
    } finally {
      rmSync(db, { recursive: true, force: true });
    }
  });
});
