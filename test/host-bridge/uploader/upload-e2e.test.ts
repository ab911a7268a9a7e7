/**
 * The uploader against a virtual ESP8266 over a real pseudo-terminal:
 * the built firmware lands byte for byte; an upload cut in the middle, a
 * line garbled on the wire, and data corrupted on the device's side all
 * leave the old files in place, and a second run succeeds. Uploads are all
 * or nothing across files: a cut between any two lines, or a power cut at
 * any write to the flash (the switch included), leaves the whole old set or
 * the whole new set once the next connect has run, and no temporary file.
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openSerialPort } from "../../../host-bridge/serial/open-port";
import { DEFAULT_DIST_DIR, DEVICE_FILES } from "../../../host-bridge/uploader/dist-files";
import { EchoMismatchError, NodeMcuRepl } from "../../../host-bridge/uploader/repl";
import { RESERVED_PREFIX, stagedName } from "../../../host-bridge/uploader/upload-lua";
import { UploadError, Uploader, type UploadFile } from "../../../host-bridge/uploader/uploader";
import { type FlashOp, VirtualBoard } from "./support/virtual-board";

const boards: VirtualBoard[] = [];
const repls: NodeMcuRepl[] = [];

async function boardWith(files: Record<string, Buffer | string>): Promise<VirtualBoard> {
  const board = await VirtualBoard.start({}, files);
  boards.push(board);
  return board;
}

async function connect(board: VirtualBoard): Promise<{ repl: NodeMcuRepl; uploader: Uploader }> {
  const port = await openSerialPort(board.link, 115200);
  const repl = await NodeMcuRepl.attach(port, { timeoutMs: 5000 });
  repls.push(repl);
  return { repl, uploader: new Uploader(repl) };
}

afterEach(async () => {
  for (const r of repls.splice(0)) {
    await r.close();
  }
  for (const b of boards.splice(0)) {
    await b.stop();
  }
});

const OLD = { "app.lua": "print('old app')\n", "cfg.lua": "return {old=true}\n" };
const NEW: UploadFile[] = [
  { name: "app.lua", data: Buffer.concat([Buffer.from("-- new app\n"), randomBytes(6000)]) },
  { name: "cfg.lua", data: Buffer.concat([Buffer.from("-- new cfg\n"), randomBytes(3000)]) },
];

function expectOldFiles(board: VirtualBoard): void {
  for (const [name, text] of Object.entries(OLD)) {
    expect(board.file(name).toString()).toBe(text);
  }
}

/** The uploader's temporary files on the board (staged files, the switch list). */
function leftovers(board: VirtualBoard): string[] {
  return readdirSync(board.fsDir).filter((n) => n.startsWith(RESERVED_PREFIX));
}

function expectNewFiles(board: VirtualBoard): void {
  for (const f of NEW) {
    expect(board.file(f.name).equals(f.data)).toBe(true);
  }
  expect(leftovers(board)).toEqual([]);
}

describe("upload to a virtual ESP8266 over a pty", () => {
  it("puts the built firmware on the device byte for byte, verified by SHA-256", { timeout: 60_000 }, async () => {
    if (!existsSync(join(DEFAULT_DIST_DIR, "init.lua"))) {
      throw new Error("firmware/dist is missing: run `npm run build:firmware` first");
    }
    const board = await boardWith({});
    const { uploader } = await connect(board);
    const files = DEVICE_FILES.map((name) => ({ name, data: readFileSync(join(DEFAULT_DIST_DIR, name)) }));
    const result = await uploader.upload(files);
    expect(result.verified).toBe("sha256");
    expect(result.bytes).toBe(files.reduce((n, f) => n + f.data.length, 0));
    for (const f of files) {
      expect(board.file(f.name).equals(f.data), f.name).toBe(true);
    }
    const listed = await uploader.list();
    expect(listed).toEqual(files.map((f) => ({ name: f.name, size: f.data.length })).sort((a, b) => a.name.localeCompare(b.name)));
  });

  it("an upload cut in the middle (port closed) leaves the old files; the next run succeeds", { timeout: 60_000 }, async () => {
    const board = await boardWith(OLD);
    const first = await connect(board);
    const cut = first.uploader.upload(NEW, {
      onProgress: (p) => {
        if (p.file === "app.lua" && p.fileBytes > p.fileTotal / 2 && first.repl.port.isOpen) {
          first.repl.port.close();
        }
      },
    });
    const err = await cut.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UploadError);
    expect((err as Error).message).toMatch(/app\.lua.*old files on the device are untouched/);
    expectOldFiles(board);
    expect(leftovers(board)).toEqual([stagedName(1)]); // the half-written staged app.lua

    const second = await connect(board);
    await second.uploader.upload(NEW);
    expectNewFiles(board);
  });

  it("a bit flipped on the wire is caught by the echo check; the old file stays", { timeout: 60_000 }, async () => {
    const board = await boardWith(OLD);
    let flipped = false;
    board.wire.toDevice = (bytes) => {
      const text = bytes.toString("latin1");
      const at = text.indexOf('__uw"');
      if (!flipped && at >= 0 && at + 10 < bytes.length) {
        flipped = true;
        const copy = Buffer.from(bytes);
        copy[at + 10] = (copy[at + 10] as number) ^ 0x01;
        return copy;
      }
      return bytes;
    };
    const { uploader } = await connect(board);
    const err = await uploader.upload(NEW).catch((e: unknown) => e);
    expect(flipped).toBe(true);
    expect(err).toBeInstanceOf(UploadError);
    expect((err as Error).cause).toBeInstanceOf(EchoMismatchError);
    expectOldFiles(board);
    await uploader.upload(NEW); // the same session goes on
    expectNewFiles(board);
  });

  it("data corrupted on the device's side is caught by the SHA-256 check; the old file stays", { timeout: 60_000 }, async () => {
    // A device-side hook: the third write to the temp file lands with its first byte changed (a bad flash write).
    const corruptingInit =
      `local open=file.open file.open=function(n,m) local f=open(n,m) if f and n=="${stagedName(1)}" then ` +
      `local w,c=f.write,0 f.write=function(self,s) c=c+1 if c==3 then s=(s:sub(1,1)=="A" and "B" or "A")..s:sub(2) end return w(self,s) end end return f end`;
    const board = await boardWith({ ...OLD, "init.lua": corruptingInit });
    const { uploader } = await connect(board);
    const err = await uploader.upload([NEW[0] as UploadFile]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UploadError);
    expect((err as Error).message).toMatch(/app\.lua.*verification failed.*SHA-256.*untouched/);
    expectOldFiles(board);
    expect(leftovers(board)).toEqual([]);
  });

  describe("all or nothing across files", () => {
    // init.lua comes first here: the uploader switches it in last all the same. data.json is new (absent from the old set).
    // Small files (a few data lines each) keep the number of cut points, each a fresh board, small.
    const OLD_SET: Record<string, Buffer> = {
      "app.lc": randomBytes(600),
      "cfg.lc": randomBytes(300),
      "init.lua": Buffer.from("-- old init.lua\n"),
    };
    const NEW_SET: UploadFile[] = [
      { name: "init.lua", data: Buffer.from("-- new init.lua\n-- " + "x".repeat(200) + "\n") },
      { name: "app.lc", data: randomBytes(500) },
      { name: "cfg.lc", data: randomBytes(350) },
      { name: "data.json", data: Buffer.from(JSON.stringify({ version: 2 })) },
    ];
    /** Every few cut points, the board takes the same upload after the next connect (it does at each, but that takes time). */
    const retryEvery = 4;
    const sha = (data: Buffer | undefined): string => (data === undefined ? "absent" : createHash("sha256").update(data).digest("hex"));
    const oldHashes = NEW_SET.map((f) => `${f.name} ${sha(OLD_SET[f.name])}`);
    const newHashes = NEW_SET.map((f) => `${f.name} ${sha(f.data)}`);

    /** "old", "new", or the mix the flash holds: each file of the set by SHA-256. */
    function whichSet(board: VirtualBoard): string {
      const now = NEW_SET.map((f) => `${f.name} ${sha(existsSync(join(board.fsDir, f.name)) ? board.file(f.name) : undefined)}`);
      const same = (want: string[]): boolean => now.every((line, i) => line === want[i]);
      return same(oldHashes) ? "old" : same(newHashes) ? "new" : `a mix: ${NEW_SET.map((f, i) => `${f.name} ${now[i] === oldHashes[i] ? "old" : now[i] === newHashes[i] ? "new" : "other"}`).join(", ")}`;
    }

    /** The next connect: attach, and let the uploader finish or clean up what the cut left (every espfleet command does this first). */
    async function reconnect(board: VirtualBoard): Promise<{ uploader: Uploader; switched: number }> {
      board.wire.toDevice = undefined;
      board.flash.beforeOp = undefined;
      const { uploader } = await connect(board);
      const { switched } = await uploader.recover();
      return { uploader, switched };
    }

    /** Lines sent and flash changes made by one whole upload of NEW_SET over OLD_SET. */
    async function measure(): Promise<{ lines: number; ops: FlashOp[] }> {
      const board = await boardWith(OLD_SET);
      const { uploader } = await connect(board);
      let lines = 0;
      const ops: FlashOp[] = [];
      board.wire.toDevice = (bytes) => {
        lines += bytes.toString("latin1").split("\n").length - 1;
        return bytes;
      };
      board.flash.beforeOp = (op) => {
        ops.push(op);
        return true;
      };
      await uploader.upload(NEW_SET);
      expect(whichSet(board)).toBe("new");
      expect(leftovers(board)).toEqual([]);
      // The switch: the list committed, each file removed then renamed in, init.lua last, the list removed.
      const renames = ops.filter((op) => op.kind === "rename").map((op) => op.name.split(" -> ")[1]);
      expect(renames).toEqual(["espfleet.up.switch", "app.lc", "cfg.lc", "data.json", "init.lua"]);
      return { lines, ops };
    }

    it("a cut between any two lines (the port closed) leaves the whole old set or the whole new set; the next connect removes the staged files", { timeout: 240_000 }, async () => {
      const { lines } = await measure();
      const outcomes: string[] = [];
      // cutAfter = lines: every line arrived (the last one, the switch, too) but the port closes before its answer.
      for (let cutAfter = 0; cutAfter <= lines; cutAfter++) {
        const board = await boardWith(OLD_SET);
        const first = await connect(board);
        let seen = 0;
        let cut = false;
        board.wire.toDevice = (bytes) => {
          if (cut) {
            return Buffer.alloc(0);
          }
          const text = bytes.toString("latin1");
          let at = -1;
          for (let i = 0; i < text.length; i++) {
            if (text[i] === "\n" && ++seen > cutAfter) {
              at = i;
              break;
            }
          }
          if (at < 0) {
            return bytes;
          }
          // The cable is pulled: this line never arrives whole, nothing after it does.
          cut = true;
          setImmediate(() => first.repl.port.isOpen && first.repl.port.close());
          return bytes.subarray(0, at);
        };
        await first.uploader.upload(NEW_SET).catch(() => undefined);
        await first.repl.close();
        // What the board ran is on its flash: the old set with staged files, or (the switch line arrived) the new set.
        const right = whichSet(board);
        expect(right, `cut after line ${cutAfter + 1} of ${lines}`).toMatch(/^(old|new)$/);
        const { uploader } = await reconnect(board);
        expect(whichSet(board), `cut after line ${cutAfter + 1}, after the next connect`).toBe(right);
        expect(leftovers(board), `cut after line ${cutAfter + 1}: temporary files after the next connect`).toEqual([]);
        outcomes.push(right);
        if (right === "old" && (cutAfter % retryEvery === 0 || cutAfter === lines - 1)) {
          await uploader.upload(NEW_SET);
          expect(whichSet(board)).toBe("new");
        }
        for (const r of repls.splice(0)) {
          await r.close();
        }
        for (const b of boards.splice(0)) {
          await b.stop();
        }
      }
      // The switch is the upload's last line and runs whole or not at all: old up to it, new once it arrived.
      expect(outcomes).toEqual([...Array.from({ length: lines }, () => "old"), "new"]);
    });

    it("a power cut at any write to the flash, the switch included, leaves the whole old set or, once the next connect completed the switch, the whole new set", { timeout: 240_000 }, async () => {
      const { ops } = await measure();
      const commitAt = ops.findIndex((op) => op.kind === "rename" && op.name.endsWith("-> espfleet.up.switch"));
      expect(commitAt).toBeGreaterThan(0);
      const completed: number[] = [];
      for (let lost = 0; lost < ops.length; lost++) {
        const board = await boardWith(OLD_SET);
        const first = await connect(board);
        let count = 0;
        let off = false;
        board.flash.beforeOp = () => {
          if (off || count++ < lost) {
            return !off;
          }
          // The power goes as this change would reach the flash: it never does, nor does anything after it.
          off = true;
          board.wire.toDevice = () => Buffer.alloc(0);
          setImmediate(() => first.repl.port.isOpen && first.repl.port.close());
          return false;
        };
        await first.uploader.upload(NEW_SET).catch(() => undefined);
        await first.repl.close();
        board.powerCycle();
        const { uploader, switched } = await reconnect(board);
        const after = whichSet(board);
        const where = `power lost at flash change ${lost + 1} of ${ops.length} (${ops[lost]?.kind} ${ops[lost]?.name})`;
        // Before the switch list was committed: the old set; after: the switch is completed by the next connect.
        expect(after, where).toBe(lost <= commitAt ? "old" : "new");
        expect(leftovers(board), `${where}: temporary files after the next connect`).toEqual([]);
        if (switched > 0) {
          completed.push(lost);
        }
        if (after === "old" && (lost % retryEvery === 0 || lost === commitAt)) {
          await uploader.upload(NEW_SET);
          expect(whichSet(board)).toBe("new");
        }
        for (const r of repls.splice(0)) {
          await r.close();
        }
        for (const b of boards.splice(0)) {
          await b.stop();
        }
      }
      // Every cut inside the switch (after the commit, before the list was removed) was completed at the next connect.
      const lastRemove = ops.length - 1;
      expect(ops[lastRemove]?.kind).toBe("remove");
      expect(completed).toEqual(Array.from({ length: lastRemove - commitAt }, (_, i) => commitAt + 1 + i));
    });
  });
});
