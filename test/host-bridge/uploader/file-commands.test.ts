/**
 * `espfleet upload | fsinfo | remove | mkfs | reset` in process against a
 * virtual ESP8266 on a pty: what they print, what lands, exit codes.
 */
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { registerUploadCommands } from "../../../cli/commands/upload";
import { CliError } from "../../../common/errors";
import { DEVICE_FILES } from "../../../host-bridge/uploader/dist-files";
import { VirtualBoard } from "./support/virtual-board";

let board: VirtualBoard;
let out = "";
let err = "";

async function espfleet(...args: string[]): Promise<number> {
  out = "";
  err = "";
  process.exitCode = 0;
  const program = new Command("espfleet").exitOverride();
  registerUploadCommands(program);
  const stdout = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => ((out += String(chunk)), true));
  const stderr = vi.spyOn(process.stderr, "write").mockImplementation((chunk) => ((err += String(chunk)), true));
  try {
    await program.parseAsync(["node", "espfleet", ...args]);
  } catch (error) {
    // As cli/main.ts does: a CliError is one line and its exit code (2: bad usage, found before the board is touched).
    if (!(error instanceof CliError)) {
      throw error;
    }
    err += `espfleet: ${error.message}\n`;
    process.exitCode = error.exitCode;
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return code;
}

beforeAll(async () => {
  board = await VirtualBoard.start({}, { "old.txt": "old" });
});

afterAll(async () => {
  await board.stop();
});

beforeEach(() => {
  out = "";
  err = "";
});

describe("espfleet file commands", () => {
  it("upload sends the named files; fsinfo lists them with the free space", { timeout: 60_000 }, async () => {
    const local = join(board.fsDir, "..", "hello.lua");
    writeFileSync(local, "print('hello')\n");
    expect(await espfleet("upload", "--port", board.link, local)).toBe(0);
    expect(err).toMatch(/1 file\(s\), 15 bytes in .* verified by sha256/);
    expect(board.file("hello.lua").toString()).toBe("print('hello')\n");
    expect(await espfleet("fsinfo", "--port", board.link)).toBe(0);
    expect(out).toMatch(/hello\.lua\s+15 B\n/);
    expect(out).toMatch(/old\.txt\s+3 B\n/);
    expect(out).toMatch(/2 file\(s\); used 18 B, free \d+ B of \d+ B/);
  });

  it("upload without files sends the build's device files and warns about modules the board lacks", { timeout: 60_000 }, async () => {
    const dist = join(board.fsDir, "..", "dist");
    mkdirSync(dist);
    for (const name of DEVICE_FILES) {
      writeFileSync(join(dist, name), `-- ${name}\n`);
    }
    writeFileSync(join(dist, "modules.txt"), "# modules\nfile\nnode\nlcd_display\ncrypto (optional: used when present)\n");
    expect(await espfleet("upload", "--port", board.link, "--dist", dist)).toBe(0);
    expect(err).toMatch(/warning: .*lacks lcd_display;/);
    for (const name of DEVICE_FILES) {
      expect(board.file(name).toString()).toBe(`-- ${name}\n`);
    }
  });

  it("remove deletes; a name that is not there fails with one line", { timeout: 60_000 }, async () => {
    expect(await espfleet("remove", "--port", board.link, "old.txt")).toBe(0);
    expect(await espfleet("remove", "--port", board.link, "old.txt")).toBe(1);
    expect(err.trim().split("\n")).toHaveLength(1);
    expect(err).toMatch(/old\.txt is not on the device/);
  });

  it("mkfs refuses without --yes, formats with it", { timeout: 60_000 }, async () => {
    // Bad usage (issue 12: 2), said before the port is opened.
    expect(await espfleet("mkfs", "--port", board.link)).toBe(2);
    expect(err).toMatch(/--yes/);
    expect(board.file("hello.lua").length).toBe(15);
    expect(await espfleet("mkfs", "--port", board.link, "--yes")).toBe(0);
    expect(await espfleet("fsinfo", "--port", board.link)).toBe(0);
    expect(out).toMatch(/^0 file\(s\)/);
  });

  it("reset restarts the board", { timeout: 60_000 }, async () => {
    const boots = board.console.match(/NodeMCU 3\.0/g)?.length ?? 0;
    expect(await espfleet("reset", "--port", board.link)).toBe(0);
    expect(board.console.match(/NodeMCU 3\.0/g)?.length).toBe(boots + 1);
  });

  it("a missing port and a missing file fail with one line of advice", async () => {
    expect(await espfleet("fsinfo", "--port", "/dev/ttyUSB-espfleet-none")).toBe(1);
    expect(err).toMatch(/^espfleet fsinfo: no such port .*plug the board in.*\n$/);
    expect(await espfleet("upload", "--port", board.link, "/nonexistent/app.lua")).toBe(2);
    expect(err).toMatch(/\/nonexistent\/app\.lua: no such file/);
  });
});

describe("an upload cut during its switch", () => {
  it("the next command (fsinfo) completes the switch, says so, and leaves no temporary file", { timeout: 60_000 }, async () => {
    const cut = await VirtualBoard.start({}, { "app.lua": "-- old app\n", "init.lua": "-- old init\n" });
    try {
      const dir = join(cut.fsDir, "..", "new");
      mkdirSync(dir);
      writeFileSync(join(dir, "app.lua"), "-- new app\n");
      writeFileSync(join(dir, "init.lua"), "-- new init\n");
      // The power goes right after the first file was renamed in: app.lua new, init.lua old.
      let off = false;
      cut.flash.beforeOp = (op) => {
        const allowed = !off;
        off ||= op.kind === "rename" && op.name.endsWith("-> app.lua");
        return allowed;
      };
      expect(await espfleet("upload", "--port", cut.link, join(dir, "app.lua"), join(dir, "init.lua"))).toBe(0);
      cut.flash.beforeOp = undefined;
      cut.powerCycle();
      expect([cut.file("app.lua").toString(), cut.file("init.lua").toString()]).toEqual(["-- new app\n", "-- old init\n"]);
      expect(readdirSync(cut.fsDir)).toContain("espfleet.up.switch");

      expect(await espfleet("fsinfo", "--port", cut.link)).toBe(0);
      expect(err).toMatch(/espfleet fsinfo: completed an earlier upload that was cut while its 2 files were being switched in/);
      expect([cut.file("app.lua").toString(), cut.file("init.lua").toString()]).toEqual(["-- new app\n", "-- new init\n"]);
      expect(readdirSync(cut.fsDir).filter((n) => n.startsWith("espfleet.up"))).toEqual([]);
      expect(out).not.toMatch(/espfleet\.up/);
    } finally {
      await cut.stop();
    }
  });
});
