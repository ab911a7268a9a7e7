/**
 * The LFS part of `espfleet flash` at the protocol level, against a scripted
 * NodeMCU prompt (support/scripted-lfs-board.ts): detection, the upload of
 * lfs.img and the check after the two restarts, a partition added with
 * --yes (safe values, then everything uploaded again), refused without it,
 * a firmware without LFS, a failed reload, and --no-lfs on a board whose LFS
 * holds an app.
 */
import { afterEach, describe, expect, it } from "vitest";
import { type LfsRequest } from "../../../host-bridge/flash/lfs-step";
import { ConsoleTail, uploadOverRepl, type UploadStepOptions } from "../../../host-bridge/flash/upload-step";
import { partitionLine } from "../../../host-bridge/uploader/lfs";
import { NodeMcuRepl } from "../../../host-bridge/uploader/repl";
import { CliError } from "../../../common/errors";
import { ScriptedRepl } from "../uploader/support/scripted-repl";
import { fakeLfsImage, ScriptedLfsBoard, type LfsBoardOptions } from "./support/scripted-lfs-board";

const IMAGE = fakeLfsImage(["app", "cfg"], 40_000);
const EMPTY_IMAGE = fakeLfsImage([], 300);
const FILES = [
  { name: "app.lc", data: Buffer.from("\x1bLua app bytecode") },
  { name: "cfg.lc", data: Buffer.from("\x1bLua cfg bytecode") },
  { name: "config.json", data: Buffer.from('{"wifi_ssid":"home"}') },
  { name: "init.lua", data: Buffer.from("-- init\n") },
];

const boards: ScriptedLfsBoard[] = [];
const repls: NodeMcuRepl[] = [];

afterEach(async () => {
  for (const r of repls.splice(0)) {
    await r.close();
  }
  for (const b of boards.splice(0)) {
    await b.close();
  }
  ScriptedRepl.reset();
});

interface Run {
  board: ScriptedLfsBoard;
  log: string[];
  result: Promise<Awaited<ReturnType<typeof uploadOverRepl>>>;
  asked: string[];
}

async function flash(boardOptions: LfsBoardOptions, lfs: Partial<LfsRequest> & { answer?: boolean } = {}, step: Partial<UploadStepOptions> = {}): Promise<Run> {
  const board = await ScriptedLfsBoard.open(boardOptions);
  boards.push(board);
  const tail = new ConsoleTail();
  const repl = await NodeMcuRepl.attach(board.repl.port, { log: (line) => tail.push(line) });
  repls.push(repl);
  const log: string[] = [];
  const asked: string[] = [];
  const request: LfsRequest = {
    use: true,
    image: IMAGE,
    modules: ["app", "cfg"],
    emptyImage: () => Promise.resolve(EMPTY_IMAGE),
    repartition: "no",
    confirm: (question) => {
      asked.push(question);
      return Promise.resolve(lfs.answer ?? false);
    },
    firmwareModules: ["adc", "dht", "file", "mqtt", "node", "sjson", "tmr", "wifi", "crypto (optional)"],
    ...lfs,
  };
  const result = uploadOverRepl(
    repl,
    {
      port: "/dev/scripted",
      baud: 115200,
      files: FILES,
      requiredModules: ["file", "node"],
      format: false,
      onProgress: () => undefined,
      log: (line) => log.push(line),
      lfs: request,
      ...step,
    },
    tail,
  );
  return { board, log, result, asked };
}

/** Index of the first line sent that starts with `prefix`; -1 when none. */
function sentAt(board: ScriptedLfsBoard, prefix: string): number {
  return board.lines.findIndex((l) => l.startsWith(prefix));
}

/** The first line of the upload proper: the first file opened under its staged name. */
const UPLOAD_START = '__uf=file.open("espfleet.up.1","w")';

describe("espfleet flash and LFS (scripted board)", () => {
  it("a board with a 128 KB LFS: reports it, uploads lfs.img before init.lua, and checks node.LFS.list() after the two restarts", async () => {
    const { board, log, result } = await flash({ lfsBytes: 0x20000 });
    const done = await result;
    expect(log).toContain("LFS: 128 KB partition at 0x0a0000, empty (no image loaded)");
    expect(done.lfs).toEqual({ runsFromLfs: true, summary: "the app runs from LFS (app, cfg)" });
    expect(board.reloads).toEqual([IMAGE]);
    expect(board.lfsModules).toEqual(["app", "cfg"]);
    expect(board.partitionCalls).toEqual([]);
    // boot after node.restart() and after the reload
    expect(board.restarts).toBe(2);
    expect(log.some((l) => l.includes("LFS: 128 KB partition at 0x0a0000, holds app, cfg"))).toBe(true);
    // One switch put every file in place, lfs.img before init.lua (init.lua last: the old one boots until the switch is done)
    expect(board.repl.switches).toEqual([["app.lc", "cfg.lc", "config.json", "lfs.img", "init.lua"]]);
  });

  it("no LFS partition and --yes: node.setpartitiontable with a 128 KB LFS where SPIFFS began, then every file uploaded, then the app from LFS", async () => {
    const { board, log, result } = await flash({ lfsBytes: 0, files: { "old.txt": "erased by the partition change" } }, { repartition: "yes" });
    const done = await result;
    expect(log).toContain("LFS: none on this firmware (lfs_size 0)");
    // Safe values: LFS at the old SPIFFS start (above the firmware), SPIFFS after it, same end, whole sectors.
    expect(board.partitionCalls).toEqual([{ lfsAddr: 0x100000, lfsSize: 0x20000, spiffsAddr: 0x120000, spiffsSize: 0x2e0000 }]);
    expect(sentAt(board, "node.setpartitiontable{lfs_addr=1048576,lfs_size=131072,spiffs_addr=1179648,spiffs_size=3014656}")).toBeGreaterThanOrEqual(0);
    // The partition change came first, the upload after it (to the fresh file system).
    expect(sentAt(board, "node.setpartitiontable")).toBeLessThan(sentAt(board, UPLOAD_START));
    expect(log.some((l) => /every file on the board is erased/.test(l))).toBe(true);
    expect(board.files.has("old.txt")).toBe(false);
    expect([...board.files.keys()].sort()).toEqual(["app.lc", "cfg.lc", "config.json", "init.lua", "lfs.img.loaded"]);
    expect(board.lfsModules).toEqual(["app", "cfg"]);
    expect(done.lfs?.runsFromLfs).toBe(true);
  });

  it("no LFS partition, no --yes, not a terminal: the partition table stays, no lfs.img, .lc files, and how to add the partition", async () => {
    const { board, log, result, asked } = await flash({ lfsBytes: 0, files: { "keep.txt": "stays" } }, { repartition: "no" });
    const done = await result;
    expect(board.partitionCalls).toEqual([]);
    expect(sentAt(board, "node.setpartitiontable")).toBe(-1);
    expect(asked).toEqual([]);
    expect(board.files.has("keep.txt")).toBe(true);
    expect(board.files.has("lfs.img")).toBe(false);
    expect(board.reloads).toEqual([]);
    expect(done.lfs).toEqual({ runsFromLfs: false, summary: "the app runs from app.lc/cfg.lc" });
    const text = log.join("\n");
    expect(text).toMatch(/has no LFS partition; without LFS the app runs from app\.lc\/cfg\.lc.*more heap than a stock board/);
    expect(text).toMatch(/not changing the partition table without --yes \(no terminal to ask at\); the app runs from app\.lc\/cfg\.lc/);
    expect(text).toMatch(/to add the LFS partition: run again with --yes/);
    expect(text).toContain(partitionLine({ lfsAddr: 0x100000, lfsSize: 0x20000, spiffsAddr: 0x120000, spiffsSize: 0x2e0000 }));
    expect(text).toMatch(/NodeMCU 3\.x image .*float \(not integer\), Lua 5\.1, LFS size 128 KB/);
  });

  it("at a terminal: asks first; no keeps the board as it is, yes adds the partition", async () => {
    const refused = await flash({ lfsBytes: 0 }, { repartition: "ask", answer: false });
    await refused.result;
    expect(refused.asked).toEqual(["Add a 128 KB LFS partition and erase every file on the board? [y/N] "]);
    expect(refused.board.partitionCalls).toEqual([]);
    expect(refused.log.join("\n")).toMatch(/EVERY FILE ON THE BOARD WILL BE ERASED/);

    const agreed = await flash({ lfsBytes: 0 }, { repartition: "ask", answer: true });
    expect((await agreed.result).lfs?.runsFromLfs).toBe(true);
    expect(agreed.board.partitionCalls).toHaveLength(1);
  });

  it("a firmware without LFS support (2.x): says which NodeMCU image to build and runs the .lc files", async () => {
    const { board, log, result } = await flash({ firmware: "2.x" }, { repartition: "yes" });
    const done = await result;
    expect(log).toContain("LFS: not supported by this firmware (no node.getpartitiontable / node.LFS: NodeMCU 2.x or older)");
    expect(log.join("\n")).toMatch(/NodeMCU 3\.x image .*float \(not integer\), Lua 5\.1, LFS size 128 KB, modules adc, dht, file, mqtt, node, sjson, tmr, wifi/);
    expect(board.partitionCalls).toEqual([]);
    expect(board.files.has("lfs.img")).toBe(false);
    expect(done.lfs?.runsFromLfs).toBe(false);
  });

  it("a reload that fails: the board's own message, advice, exit code 1", async () => {
    const { board, result } = await flash({ lfsBytes: 0x20000, reloadError: "Incorrect LFS build type" });
    const error = await result.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(1);
    const message = (error as Error).message;
    expect(message).toMatch(/the app is not in LFS after the restart: node\.LFS\.list\(\) shows no image, app, cfg missing/);
    expect(message).toContain("espfleet: lfs.img not loaded: Incorrect LFS build type");
    expect(message).not.toContain("bytes total capacity"); // the banner's build summary explains nothing
    expect(message).toMatch(/must be 3\.x, float, Lua 5\.1.*--no-lfs/);
    expect(message).toMatch(/runs the app from app\.lc meanwhile/);
    expect(board.reloads).toHaveLength(1);
  });

  it("an image larger than the partition: with --yes the partition grows to 128 KB at the same place", async () => {
    const { board, result } = await flash({ lfsBytes: 0x8000 }, { repartition: "yes" });
    await result;
    expect(board.partitionCalls).toEqual([{ lfsAddr: 0x0a0000, lfsSize: 0x20000, spiffsAddr: 0x0c0000, spiffsSize: 0x340000 }]);
    expect(board.lfsModules).toEqual(["app", "cfg"]);
  });

  it("--no-lfs on a board whose LFS holds an app: uploads an empty image as lfs.img, and checks LFS no longer holds app", async () => {
    const { board, log, result } = await flash({ lfsBytes: 0x20000, lfsModules: ["app", "cfg"] }, { use: false, image: undefined });
    const done = await result;
    expect(board.reloads).toEqual([EMPTY_IMAGE]);
    expect(board.lfsModules).toEqual([]);
    expect(done.lfs).toEqual({ runsFromLfs: false, summary: "LFS emptied; the app runs from app.lc/cfg.lc" });
    expect(log.join("\n")).toMatch(/--no-lfs.*LFS still holds app.*uploading an empty LFS image/);
  });

  it("--no-lfs on a board whose LFS holds no app: no lfs.img at all", async () => {
    const { board, result } = await flash({ lfsBytes: 0x20000 }, { use: false, image: undefined });
    expect((await result).lfs?.runsFromLfs).toBe(false);
    expect(board.reloads).toEqual([]);
    expect(board.files.has("lfs.img")).toBe(false);
  });

  it("refuses to erase a pinned CA the mqtts:// broker needs: nothing changed, asks for --ca", async () => {
    const { board, result } = await flash({ lfsBytes: 0, files: { "ca.pin": "PEM" } }, { repartition: "yes" }, { requirePinnedCa: true });
    await expect(result).rejects.toThrow(/erases every file on the board, also the pinned broker CA.*--ca FILE\.pem.*nothing was changed/);
    expect(board.partitionCalls).toEqual([]);
    expect(board.files.has("ca.pin")).toBe(true);
  });

  it("a partition table the board refuses: its message, nothing changed", async () => {
    // A board whose SPIFFS starts below the firmware's end (an odd table): the LFS would overlap the firmware; node.c refuses.
    const { board, result } = await flash({ lfsBytes: 0, spiffsAddr: 0x80000 }, { repartition: "yes" });
    await expect(result).rejects.toThrow(/refused the new partition table \(Partition value out of range\); nothing was changed/);
    expect(board.files.size).toBe(0);
    expect(sentAt(board, UPLOAD_START)).toBe(-1);
  });
});
