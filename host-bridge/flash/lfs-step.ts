/**
 * The LFS (Lua Flash Store) part of `espfleet flash`: what the board has,
 * what to upload, whether to add a partition, and after the restart whether
 * the app really runs from LFS.
 *
 * init.lua (firmware/nodemcu/init.lua) does the board's half: at boot it
 * renames a new lfs.img and calls node.LFS.reload on it, which writes the
 * LFS partition and restarts the chip, or returns an error that init.lua
 * prints ("espfleet: lfs.img not loaded: <error>"); then it runs the app from
 * LFS, else from app.lc. So the host uploads lfs.img with the other files,
 * restarts, waits through the second restart, and asks node.LFS.list().
 */
import { CliError } from "../../common/errors";
import { DeviceLuaError, type NodeMcuRepl } from "../uploader/repl";
import {
  describeLfs,
  hex,
  kb,
  LFS_PARTITION_BYTES,
  lfsImageNeeds,
  MIN_SPIFFS_BYTES,
  partitionLine,
  PartitionPlanError,
  planLfsPartition,
  probeLfs,
  type BoardLfs,
  type PartitionTable,
} from "../uploader/lfs";
import type { Uploader } from "../uploader/uploader";

/** The file init.lua loads into LFS. */
export const LFS_IMAGE_NAME = "lfs.img";

/** How the partition table may be changed: --yes, a question at a terminal, or not at all. */
export type RepartitionConsent = "yes" | "ask" | "no";

export interface LfsRequest {
  /** false for --no-lfs: run from the .lc files. */
  use: boolean;
  /** The build's lfs.img; undefined when the build has none. */
  image: Buffer | undefined;
  /** The modules the image holds, which node.LFS.list() must show afterwards (app, cfg). */
  modules: readonly string[];
  /** An image with no modules: uploaded to empty an LFS that holds an old app (init.lua prefers it to app.lc). */
  emptyImage: () => Promise<Buffer>;
  repartition: RepartitionConsent;
  /** Asks a yes/no question at the terminal (only called when repartition is "ask"). */
  confirm: (question: string) => Promise<boolean>;
  /** The NodeMCU modules the firmware needs (modules.txt), for "which image to build". */
  firmwareModules: readonly string[];
}

/** What to do, decided from the board's LFS before anything is uploaded. */
export interface LfsDecision {
  /** "image": the build's lfs.img; "empty": an image with no modules; "none": no lfs.img. */
  upload: "image" | "empty" | "none";
  /** A new partition table to write first (the board's files are erased). */
  repartition: PartitionTable | undefined;
}

/** After the upload and restart: where the app runs from, in one line. */
export interface LfsOutcome {
  runsFromLfs: boolean;
  summary: string;
}

/** The NodeMCU image the app needs, for messages and the README. */
export function firmwareAdvice(modules: readonly string[]): string {
  return (
    `build a NodeMCU 3.x image (https://nodemcu-build.com or make): float (not integer), Lua 5.1, LFS size ${kb(LFS_PARTITION_BYTES)}, ` +
    `modules ${modules.join(", ")} (firmware/dist/modules.txt), and write it with --firmware <image.bin>`
  );
}

const HEAP_NOTE = "the app runs from app.lc/cfg.lc, whose code sits in RAM and needs more heap than a stock board has (~40 KB free)";

/** The board's state in one line, for the log. */
export function lfsLine(board: BoardLfs): string {
  return `LFS: ${describeLfs(board)}`;
}

/**
 * Decide from the board's LFS what to upload and whether to add a partition,
 * logging why. Asks at the terminal when `request.repartition` is "ask".
 * `filesBytes`: what will be uploaded, so a shrunk SPIFFS still holds it.
 * `pinnedCaNeeded`: the board's pinned CA (ca.pin) is needed and not uploaded
 * again, so erasing the file system would break TLS.
 */
export async function decideLfs(
  board: BoardLfs,
  request: LfsRequest,
  opts: { filesBytes: number; pinnedCaNeeded: boolean; log: (line: string) => void },
): Promise<LfsDecision> {
  const { log } = opts;
  const holdsApp = board.modules?.includes("app") === true;
  // Anything that does not load our image: an LFS still holding an app must be emptied, or init.lua runs the old app.
  const lcOnly = (why: string): LfsDecision => {
    if (holdsApp && board.supported) {
      log(`${why}; the board's LFS still holds app (an older build), which init.lua would run instead of app.lc: uploading an empty LFS image to clear it`);
      return { upload: "empty", repartition: undefined };
    }
    log(`${why}; the app runs from app.lc/cfg.lc`);
    return { upload: "none", repartition: undefined };
  };
  if (!request.use) {
    return lcOnly("--no-lfs: not uploading lfs.img");
  }
  if (request.image === undefined) {
    return lcOnly("the build has no lfs.img (npm run build:firmware writes it; drop --no-build)");
  }
  if (!board.supported || board.partition === undefined) {
    log(`this NodeMCU firmware cannot run the app from LFS: ${firmwareAdvice(request.firmwareModules)}`);
    log(`continuing without LFS: ${HEAP_NOTE}, so it will likely run out of memory`);
    return { upload: "none", repartition: undefined };
  }
  const needs = lfsImageNeeds(request.image) ?? request.image.length;
  const partition = board.partition;
  if (partition.lfsSize >= needs) {
    log(`lfs.img (${request.image.length} B; ${kb(needs)} in flash) fits the ${kb(partition.lfsSize)} partition: it goes up with the other files, and init.lua loads it at the next boot`);
    return { upload: "image", repartition: undefined };
  }

  const wanted = Math.max(LFS_PARTITION_BYTES, Math.ceil(needs / 0x1000) * 0x1000);
  log(
    partition.lfsSize === 0
      ? `the NodeMCU image on the board has no LFS partition; without LFS ${HEAP_NOTE}`
      : `the board's LFS partition (${kb(partition.lfsSize)}) is smaller than lfs.img needs (${kb(needs)}); without LFS ${HEAP_NOTE}`,
  );
  let plan: PartitionTable;
  try {
    // The shrunk SPIFFS must hold the files with room to spare (the uploader needs a file's size free to replace it).
    plan = planLfsPartition(partition, wanted, Math.max(MIN_SPIFFS_BYTES, 2 * opts.filesBytes));
  } catch (error) {
    if (!(error instanceof PartitionPlanError)) {
      throw error;
    }
    return lcOnly(`cannot add a ${kb(wanted)} LFS partition safely: ${error.message}; ${firmwareAdvice(request.firmwareModules)}`);
  }
  const change =
    `a ${kb(plan.lfsSize)} LFS partition at ${hex(plan.lfsAddr)} (SPIFFS moves to ${hex(plan.spiffsAddr)}, ${kb(plan.spiffsSize)}) ` +
    `with ${partitionLine(plan)}`;
  const howTo = (): void => {
    log(`to add the LFS partition: run again with --yes (it erases every file on the board, then uploads again)`);
    log(`  or type at the board's prompt ${partitionLine(plan)} (erases every file), then run ./flash.sh again`);
    log(`  or ${firmwareAdvice(request.firmwareModules)}`);
  };
  let consent = request.repartition === "yes";
  if (request.repartition === "ask") {
    log(`this command can add ${change}. EVERY FILE ON THE BOARD WILL BE ERASED (the file system moves); this command uploads its own files again`);
    consent = await request.confirm(`Add a ${kb(plan.lfsSize)} LFS partition and erase every file on the board? [y/N] `);
    if (!consent) {
      howTo();
      return lcOnly("not changing the partition table");
    }
  } else if (!consent) {
    howTo();
    return lcOnly("not changing the partition table without --yes (no terminal to ask at)");
  }
  if (opts.pinnedCaNeeded) {
    throw new CliError(
      "adding the LFS partition erases every file on the board, also the pinned broker CA (ca.pin) the mqtts:// broker needs: " +
        "give --ca FILE.pem (or MQTT_CA) so it is uploaded and pinned again, or run with --no-lfs; nothing was changed",
    );
  }
  return { upload: "image", repartition: plan };
}

/**
 * Writes the new partition table; the board reboots and formats its moved
 * file system (30-60 s on a real board). Returns its LFS state afterwards.
 */
export async function addLfsPartition(repl: NodeMcuRepl, uploader: Uploader, plan: PartitionTable, log: (line: string) => void): Promise<BoardLfs> {
  log(`adding a ${kb(plan.lfsSize)} LFS partition: every file on the board is erased now; the board reboots and formats its file system (30-60 s)`);
  const line = partitionLine(plan);
  let lastReport = 0;
  try {
    await uploader.reboot(line, {
      bannerTimeoutMs: 90_000,
      promptTimeoutMs: 180_000,
      onWait: (ms) => {
        if (ms - lastReport >= 10_000) {
          lastReport = ms;
          log(`still waiting for the board to come back (formatting its file system) ... ${Math.round(ms / 1000)} s`);
        }
      },
    });
  } catch (error) {
    if (error instanceof DeviceLuaError) {
      throw new CliError(
        `the board refused the new partition table (${error.deviceMessage}); nothing was changed. ` +
          `Build a NodeMCU image with an LFS partition instead (LFS size ${kb(LFS_PARTITION_BYTES)}), or run with --no-lfs`,
      );
    }
    throw new CliError(
      `the partition table was sent, but the board did not come back to its prompt (${(error as Error).message}). ` +
        "Press RST, wait a minute (the first boot formats the file system), then run ./flash.sh again: it finds the new partition and uploads the files",
    );
  }
  const after = await probeLfs(repl);
  log(lfsLine(after));
  if (after.partition === undefined || after.partition.lfsSize < plan.lfsSize) {
    throw new CliError(
      `the board restarted but still reports ${describeLfs(after)}; the partition table did not change. ` +
        `Build a NodeMCU image with an LFS partition (LFS size ${kb(LFS_PARTITION_BYTES)}) and write it with --firmware, or run with --no-lfs`,
    );
  }
  return after;
}

/** The lines of the board's console that explain a failed LFS load (init.lua's, the firmware's), else the last few. */
export function explainingLines(lines: readonly string[]): string[] {
  // Not the boot banner's build summary ("\tLFS: 0x20000 bytes total capacity"): indented, and the same on every boot.
  const relevant = lines.filter((l) => !l.startsWith("\t") && /lfs|flash|partition|heap|memory|error|panic/i.test(l));
  return (relevant.length > 0 ? relevant : lines).slice(-12);
}

/** What to do about node.LFS.reload's error (app/lua/lflash.c's messages). */
export function reloadAdvice(reloadError: string | undefined, firmwareModules: readonly string[]): string {
  const e = reloadError ?? "";
  if (/No LFS partition/i.test(e)) {
    return "the firmware has no LFS partition: run again with --yes to add one (erases the board's files)";
  }
  if (/too big/i.test(e)) {
    return "the LFS partition is smaller than the image: run again with --yes to enlarge it (erases the board's files)";
  }
  if (/signature|build type|header version/i.test(e)) {
    return `the image does not fit this NodeMCU build (it must be 3.x, float, Lua 5.1): ${firmwareAdvice(firmwareModules)}; or run with --no-lfs`;
  }
  if (/Memory allocation|Memory_error/i.test(e)) {
    return "the board had too little free heap to load the image (about 24 KB are needed): press RST and run again; if it persists, run with --no-lfs";
  }
  if (/checksum|decompression|corrupt|read error|length mismatch|not found/i.test(e)) {
    return "lfs.img on the board was damaged or is not an LFS image: rebuild (drop --no-build, or npm run build:firmware) and run again";
  }
  return "run again with --verbose to see the whole console, or with --no-lfs to run from the .lc files";
}

/**
 * After the restart: did init.lua load the image? `consoleLines` holds
 * the board's lines since the restart. Throws a CliError with the board's words
 * and advice when LFS does not hold what it should.
 */
export async function checkLfsAfterRestart(
  repl: NodeMcuRepl,
  decision: LfsDecision,
  request: LfsRequest,
  consoleLines: readonly string[],
  log: (line: string) => void,
): Promise<LfsOutcome> {
  const after = await probeLfs(repl);
  log(lfsLine(after));
  const held = after.modules ?? [];
  const said = explainingLines(consoleLines);
  const reloadError = consoleLines.map((l) => /lfs\.img not loaded: (.*)$/.exec(l)?.[1]).find((m) => m !== undefined);
  const boardSaid = said.length > 0 ? `; the board said:\n  ${said.join("\n  ")}\n` : " (the board printed nothing about it); ";
  if (decision.upload === "empty") {
    if (held.includes("app")) {
      throw new CliError(
        `the board's LFS still holds app after loading the empty image, so init.lua runs the old app instead of app.lc${boardSaid}` +
          reloadAdvice(reloadError, request.firmwareModules),
      );
    }
    return { runsFromLfs: false, summary: "LFS emptied; the app runs from app.lc/cfg.lc" };
  }
  if (decision.upload === "none") {
    return { runsFromLfs: false, summary: "the app runs from app.lc/cfg.lc" };
  }
  const missing = request.modules.filter((m) => !held.includes(m));
  if (missing.length > 0) {
    const pending = after.pendingImage ? " (lfs.img is still on the file system: init.lua did not try to load it)" : "";
    throw new CliError(
      `the app is not in LFS after the restart: node.LFS.list() shows ${after.modules === undefined ? "no image" : held.length === 0 ? "no modules" : held.join(", ")}, ` +
        `${missing.join(", ")} missing${pending}${boardSaid}` +
        `${reloadAdvice(reloadError, request.firmwareModules)}. The board runs the app from app.lc meanwhile (it may run out of heap)`,
    );
  }
  return { runsFromLfs: true, summary: `the app runs from LFS (${held.join(", ")})` };
}
