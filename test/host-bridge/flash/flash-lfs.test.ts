/**
 * `./flash.sh --virtual` and LFS end to end, against the virtual ESP8266
 * (device/: partition table, node.LFS.reload/get/list) with a stock 40 KB
 * heap: the app loaded into LFS and running from it; a board without an LFS
 * partition given one with --yes (files erased, uploaded again, app from
 * LFS); left alone without --yes; and --no-lfs emptying an LFS that holds
 * the app, so init.lua runs app.lc.
 *
 * Needs the build's lfs.img (scripts/build-firmware.ts with firmware/lfs)
 * and the device's LFS emulation (device/flash-regions.ts). The CLI case
 * "no LFS partition and --yes" also needs the virtual device's default
 * SPIFFS to end where a real board's does (12 KB before the end of flash,
 * or node.setpartitiontable refuses the unchanged end as out of range).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildFirmwareInto, filesToUpload } from "../../../host-bridge/flash/firmware-build";
import { emptyLfsImage, LFS_MODULES } from "../../../host-bridge/flash/lfs-image";
import type { LfsRequest } from "../../../host-bridge/flash/lfs-step";
import { uploadToBoard } from "../../../host-bridge/flash/upload-step";
import { CliError } from "../../../common/errors";
import { waitFor } from "../../device/support/brokers";
import { VirtualBoard } from "../uploader/support/virtual-board";
import { envWith, flashSh } from "./support/cli-run";

let work: string;
let buildDir: string;
let emptyEnvFile: string;
const boards: VirtualBoard[] = [];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "espfleet-flash-lfs-"));
  buildDir = join(work, "dist");
  emptyEnvFile = join(work, "none.env");
  writeFileSync(emptyEnvFile, "# nothing\n");
  await buildFirmwareInto(buildDir);
}, 120_000);

afterEach(async () => {
  for (const b of boards.splice(0)) {
    await b.stop();
  }
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

/** ./flash.sh --virtual with the prebuilt firmware, the console paced at 921600 baud (8x NodeMCU's) to keep it short. */
function flashVirtual(extra: string[]): ReturnType<typeof flashSh> {
  return flashSh(["--virtual", "--no-build", "--build-dir", buildDir, "--settings-file", emptyEnvFile, "--baud", "921600", ...extra], envWith({ NODE_ID: "lfs-e2e" }));
}

describe("./flash.sh --virtual and LFS", () => {
  it("the build has an LFS image", () => {
    expect(existsSync(join(buildDir, "lfs.img"))).toBe(true);
  });

  it("a board with a 128 KB LFS (40 KB heap): lfs.img loaded, node.LFS.list() holds app and cfg, the app boots from LFS and keeps running", async () => {
    const run = flashVirtual(["--monitor"]);
    try {
      await waitFor("the node's boot line in the console", () => (/node lfs-e2e boot 1/.test(run.output()) ? true : run.child.exitCode !== null ? true : undefined), 90_000);
      const out = run.output();
      expect(out, out).toMatch(/heap 40 KB, LFS partition 128 KB/);
      expect(out).toContain("LFS: 128 KB partition at 0x0a0000, empty (no image loaded)");
      expect(out).toMatch(/lfs\.img \(\d+ B; [\d.]+ KB in flash\) fits the 128 KB partition: .*init\.lua loads it at the next boot/);
      expect(out).toContain("uploading app.lc, cfg.lc, config.json, lfs.img, init.lua");
      expect(out).toContain("LFS: 128 KB partition at 0x0a0000, holds app, cfg");
      expect(out).toContain("the app runs from LFS (app, cfg)");
      expect(out).toMatch(/node lfs-e2e boot 1/);
      // It keeps running on 40 KB: no panic for a few samples.
      await new Promise((resolve) => setTimeout(resolve, 5000));
      expect(run.output()).not.toMatch(/PANIC|not enough memory|not running from LFS/);
      run.child.kill("SIGINT");
      // Ctrl-C ends every command with 130 (issue 15; it was 0 here).
      expect(await run.exited).toBe(130);
    } finally {
      run.kill();
    }
  }, 120_000);

  it("no LFS partition and --yes: the partition is added (files erased), everything uploaded again, the app from LFS", async () => {
    const run = flashVirtual(["--virtual-lfs-kb", "0", "--yes"]);
    try {
      const code = await run.exited;
      const out = run.output();
      expect(code, out).toBe(0);
      expect(out).toContain("LFS: none on this firmware (lfs_size 0)");
      expect(out).toMatch(/adding a 128 KB LFS partition: every file on the board is erased now/);
      expect(out).toMatch(/LFS: 128 KB partition at 0x100000, empty \(no image loaded\)/);
      expect(out).toMatch(/LFS: 128 KB partition at 0x100000, holds app, cfg/);
      expect(out).toContain("the app runs from LFS (app, cfg)");
    } finally {
      run.kill();
    }
  }, 120_000);

  it("no LFS partition, no --yes, no terminal: nothing changed, the .lc files, and how to add the partition", async () => {
    const run = flashVirtual(["--virtual-lfs-kb", "0"]);
    try {
      const code = await run.exited;
      const out = run.output();
      expect(code, out).toBe(0);
      expect(out).toContain("LFS: none on this firmware (lfs_size 0)");
      expect(out).toMatch(/to add the LFS partition: run again with --yes/);
      expect(out).toMatch(/or type at the board's prompt node\.setpartitiontable\{lfs_addr=1048576,lfs_size=131072,/);
      expect(out).toMatch(/not changing the partition table without --yes \(no terminal to ask at\); the app runs from app\.lc\/cfg\.lc/);
      expect(out).not.toMatch(/adding a 128 KB LFS partition/);
      expect(out).toContain("the app runs from app.lc/cfg.lc");
    } finally {
      run.kill();
    }
  }, 120_000);

  it("--virtual-lfs-kb needs --virtual", async () => {
    const run = flashSh(["--port", "/dev/null", "--virtual-lfs-kb", "64", "--settings-file", emptyEnvFile], envWith({}));
    expect(await run.exited).toBe(2);
    expect(run.output()).toMatch(/--virtual-lfs-kb sets the LFS partition of the virtual board/);
  }, 30_000);
});

/** The upload step of `espfleet flash` against `board`, with the build's files. */
function uploadStep(board: VirtualBoard, lfs: Partial<LfsRequest>, log: (line: string) => void = () => undefined): ReturnType<typeof uploadToBoard> {
  const files = [
    ...filesToUpload(buildDir, false).map((name) => ({ name, data: readFileSync(join(buildDir, name)) })),
    { name: "config.json", data: readFileSync(join(buildDir, "config.json")) },
  ].sort((a, b) => (a.name === "init.lua" ? 1 : 0) - (b.name === "init.lua" ? 1 : 0));
  const request: LfsRequest = {
    use: true,
    image: readFileSync(join(buildDir, "lfs.img")),
    modules: LFS_MODULES,
    emptyImage: emptyLfsImage,
    repartition: "no",
    confirm: () => Promise.resolve(false),
    firmwareModules: ["node", "file"],
    ...lfs,
  };
  return uploadToBoard({ port: board.link, baud: 115200, files, requiredModules: ["file", "node"], format: false, onProgress: () => undefined, log, lfs: request });
}

describe("the upload step against a virtual board", () => {
  it("no LFS partition and consent, on a real 4 MB layout (SPIFFS ends 12 KB before the flash's end): partition added, files erased and uploaded again, app from LFS", async () => {
    const board = await VirtualBoard.start({ heapKb: 40, lfsBytes: 0, fsTotalBytes: 0x300000 - 0x3000 }, { "old.txt": "erased by the partition change" });
    boards.push(board);
    const log: string[] = [];
    const result = await uploadStep(board, { repartition: "yes" }, (line) => log.push(line));
    expect(log).toContain("LFS: none on this firmware (lfs_size 0)");
    expect(board.device.flash.partitionTable()).toEqual({ lfs_addr: 0x100000, lfs_size: 0x20000, spiffs_addr: 0x120000, spiffs_size: 0x2dd000 });
    expect(existsSync(join(board.fsDir, "old.txt"))).toBe(false);
    expect(existsSync(join(board.fsDir, "app.lc"))).toBe(true);
    expect(result.lfs).toEqual({ runsFromLfs: true, summary: "the app runs from LFS (app, cfg)" });
    expect([...(board.device.flash.lfsContents()?.modules.keys() ?? [])].sort()).toEqual(["app", "cfg"]);
  }, 120_000);
});

describe("a reload the board refuses", () => {
  it("a damaged lfs.img: the board's reload error in the message, advice, CliError (exit 1); the old LFS stays", async () => {
    const board = await VirtualBoard.start({ heapKb: 40, lfsBytes: 128 * 1024 });
    boards.push(board);
    const image = Buffer.from(readFileSync(join(buildDir, "lfs.img")));
    image[Math.floor(image.length / 2)] ^= 0x55; // corrupted in the middle: the deflate stream or its CRC no longer checks
    const error = await uploadStep(board, { image }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(1);
    const message = (error as Error).message;
    expect(message).toMatch(/the app is not in LFS after the restart: node\.LFS\.list\(\) shows no image, app, cfg missing; the board said:/);
    expect(message).toMatch(/espfleet: lfs\.img not loaded: \S.*/);
    expect(message).toMatch(/damaged or is not an LFS image: rebuild/);
    expect(board.device.flash.lfsContents()).toBeUndefined();
  }, 120_000);
});

describe("--no-lfs on a board whose LFS holds the app", () => {
  it("uploads an image without app as lfs.img; LFS is emptied and init.lua runs app.lc", async () => {
    const board = await VirtualBoard.start({ heapKb: 40, lfsBytes: 128 * 1024 });
    boards.push(board);
    const request = (use: boolean): Partial<LfsRequest> => ({ use, ...(use ? {} : { image: undefined }) });

    const first = await uploadStep(board, request(true));
    expect(first.lfs?.runsFromLfs).toBe(true);
    expect([...(board.device.flash.lfsContents()?.modules.keys() ?? [])].sort()).toEqual(["app", "cfg"]);

    const log: string[] = [];
    const second = await uploadStep(board, request(false), (line) => log.push(line));
    expect(log).toContain("LFS: 128 KB partition at 0x0a0000, holds app, cfg");
    expect(log.join("\n")).toMatch(/--no-lfs.*uploading an empty LFS image/);
    expect(second.lfs).toEqual({ runsFromLfs: false, summary: "LFS emptied; the app runs from app.lc/cfg.lc" });
    expect([...(board.device.flash.lfsContents()?.modules.keys() ?? [])]).toEqual(["espfleet_empty"]);
    // init.lua, after its boot delay, says why it runs the files on flash.
    await waitFor("init.lua's fallback message", () => (/not running from LFS: LFS holds no app/.test(board.console) ? true : undefined), 15_000);
  }, 120_000);
});
