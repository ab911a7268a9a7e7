/**
 * File transfer to a NodeMCU board over its Lua prompt, all or nothing.
 *
 * Every file of an upload is first staged under a temporary name
 * (espfleet.up.1, .2, ...) in base64 (hex when the build lacks `encoder`)
 * lines short enough for the 255-character input limit, several lines in
 * flight at a time, and its size (file.list) and SHA-256 (crypto.fhash, when
 * the build has crypto) are checked. Only when all are on the board and
 * verified is a switch list written (the target names in switch order,
 * init.lua last), verified, and committed by renaming it to
 * espfleet.up.switch; one line then puts every staged file in place
 * (file.remove(old), file.rename(staged, old): SPIFFS cannot rename over a
 * file) and removes the list.
 *
 * A cut before the commit leaves every old file; one after it (power lost
 * during the renames) is completed by the next connect (recover()), which
 * also removes whatever staged files a cut left. So the board holds the whole
 * old set or, once the switch is done, the whole new set.
 */
import { createHash } from "node:crypto";
import { DeviceLuaError, MAX_LUA_LINE, NodeMcuRepl } from "./repl";
import {
  COMMIT_LINE,
  encodeChunks,
  HELPER_LINES,
  luaString,
  piecewiseSha256,
  RECOVER_LINE,
  RECOVERED,
  RESERVED_PREFIX,
  stagedName,
  SWITCH_LIST_NAME,
  WRITE_FAILED,
  type Encoding,
} from "./upload-lua";

export interface UploadFile {
  name: string;
  data: Buffer;
}
export interface UploadProgress {
  file: string;
  fileBytes: number;
  fileTotal: number;
  bytes: number;
  total: number;
}
export interface UploadResult {
  bytes: number;
  ms: number;
  verified: "sha256" | "size";
}

/** The end of every UploadError's message: nothing of the upload reached the board's files. */
export const UNTOUCHED = "the old files on the device are untouched";

/** Says which file, what failed, and that the old files on the device are untouched (the upload was not switched in). */
export class UploadError extends Error {
  constructor(
    readonly file: string,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super(`upload of ${file} failed: ${problem}; ${UNTOUCHED}`, options);
    this.name = "UploadError";
  }
}

export class FileSystemFullError extends UploadError {
  constructor(file: string, needed: number, remaining: number) {
    super(
      file,
      `the device's file system is full (the upload needs ${needed} bytes next to the old files until it is switched in, ${remaining} are free); ` +
        "remove files (espfleet remove --port P NAME) or format it (espfleet mkfs --port P --yes)",
    );
    this.name = "FileSystemFullError";
  }
}

/**
 * The verified files were being put in place when the switch failed or the
 * connection was lost: the board may hold some new files and some old ones
 * until the next connect completes the switch (any espfleet command does).
 */
export class SwitchInterruptedError extends Error {
  constructor(files: readonly string[], problem: string, options?: { cause?: unknown }) {
    super(
      `upload of ${files.join(", ")}: every file was on the board and verified, but switching them in was interrupted (${problem}); ` +
        "run any espfleet command on this port (espfleet fsinfo --port P) to complete the switch",
      options,
    );
    this.name = "SwitchInterruptedError";
  }
}

/** What recover() found: the files a switch cut short put in place, and whether leftovers were removed. */
export interface Recovery {
  /** Files put in place by finishing an interrupted switch (0: none was under way). */
  switched: number;
}

/** What a board prints as it boots: the banner, init.lua missing, or the file system being formatted (after its partition moved). */
const BOOTED = /NodeMCU [^\r\n]*\r?\n|lua: cannot open init\.lua|Formatting file system/;

export interface RebootOptions {
  /** How long to wait for the board to show it rebooted, ms; default 15000. */
  bannerTimeoutMs?: number;
  /** How long, after that, the prompt may take to answer, ms; default 4 resync tries. */
  promptTimeoutMs?: number;
  /** While waiting for the prompt, after each try that found none: ms since the reboot was seen. */
  onWait?: (elapsedMs: number) => void;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** SPIFFS names: flat, at most 31 bytes. */
const MAX_NAME = 31;

interface Capabilities {
  encoding: Encoding;
  sha256: boolean;
  /** What the recovery at connect switched in. */
  recovered: number;
}

export class Uploader {
  private capabilities: Capabilities | undefined;

  constructor(private readonly repl: NodeMcuRepl) {}

  /**
   * Stages every file, verifies each, then switches them in together
   * (init.lua last). Throws UploadError (nothing changed) or
   * SwitchInterruptedError (the next connect completes the switch).
   */
  async upload(files: UploadFile[], opts: { compile?: boolean; onProgress?: (p: UploadProgress) => void } = {}): Promise<UploadResult> {
    const started = Date.now();
    const seen = new Set<string>();
    for (const f of files) {
      checkName(f.name);
      if (seen.has(f.name)) {
        throw new Error(`${f.name} is named twice in one upload`);
      }
      seen.add(f.name);
    }
    const total = files.reduce((n, f) => n + f.data.length, 0);
    const caps = await this.prepare();
    if (files.length === 0) {
      return { bytes: 0, ms: Date.now() - started, verified: caps.sha256 ? "sha256" : "size" };
    }
    // Switch order: as given, init.lua last (until then the old init.lua boots the board).
    const order = [...files.filter((f) => f.name !== "init.lua"), ...files.filter((f) => f.name === "init.lua")];
    const list = Buffer.from(order.map((f) => f.name + "\n").join(""));
    const first = files[0] as UploadFile;
    const info = await this.fsInfo().catch((err: unknown) => {
      throw new UploadError(first.name, `asking for the free space: ${(err as Error).message}`, { cause: err });
    });
    // The old files stay until the new ones are all verified: every new one needs its full size free.
    if (info.remaining < total + list.length) {
      throw new FileSystemFullError(order.map((f) => f.name).join(", "), total + list.length, info.remaining);
    }
    let done = 0;
    for (const [i, f] of order.entries()) {
      const before = done;
      await this.stage(f, stagedName(i + 1), caps, total + list.length, (fileBytes) =>
        opts.onProgress?.({ file: f.name, fileBytes, fileTotal: f.data.length, bytes: before + fileBytes, total }),
      );
      done += f.data.length;
    }
    await this.stage({ name: order.map((f) => f.name).join(", "), data: list }, SWITCH_LIST_NAME, caps, total + list.length, () => undefined);
    await this.commit(order.map((f) => f.name));
    if (opts.compile === true) {
      for (const f of files) {
        if (f.name.endsWith(".lua") && f.name !== "init.lua") {
          await this.compile(f.name);
        }
      }
    }
    return { bytes: total, ms: Date.now() - started, verified: caps.sha256 ? "sha256" : "size" };
  }

  /**
   * Call once connected, before anything else: completes a switch a cut left
   * under way (the board then holds the whole new set) and removes the
   * staged files of an upload cut before its switch (the old set stays).
   * upload() does it too.
   */
  async recover(): Promise<Recovery> {
    const caps = await this.prepare();
    return { switched: caps.recovered };
  }

  async list(): Promise<{ name: string; size: number }[]> {
    const out = await this.repl.exec(`for k,v in pairs(file.list()) do print("ESPFLEET_FILE\\t"..k.."\\t"..v) end`);
    return out
      .split("\n")
      .filter((l) => l.startsWith("ESPFLEET_FILE\t"))
      .map((l) => {
        const tab = l.lastIndexOf("\t");
        return { name: l.slice("ESPFLEET_FILE\t".length, tab), size: Number(l.slice(tab + 1)) };
      })
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  async remove(name: string): Promise<void> {
    checkName(name);
    const out = await this.repl.exec(`print("ESPFLEET_EXISTS",file.exists(${luaString(name)}))`);
    if (answerLine(out, /^ESPFLEET_EXISTS\s+true$/) === undefined) {
      throw new Error(`${name} is not on the device; list its files with espfleet fsinfo --port P`);
    }
    await this.repl.exec(`file.remove(${luaString(name)})`);
  }

  /** file.format(): can take a minute on a real board. */
  async format(): Promise<void> {
    await this.repl.exec("file.format()", { timeoutMs: 120_000 });
  }

  async fsInfo(): Promise<{ remaining: number; used: number; total: number }> {
    const out = await this.repl.exec(`print("ESPFLEET_FS",file.fsinfo())`);
    const [remaining, used, total] = (answerLine(out, /^ESPFLEET_FS\s/) ?? "").split(/\s+/).slice(1).map(Number);
    if (![remaining, used, total].every((n) => Number.isFinite(n))) {
      throw new Error(`file.fsinfo() printed ${JSON.stringify(out)}, not three numbers: is the file module in the firmware?`);
    }
    return { remaining: remaining as number, used: used as number, total: total as number };
  }

  /** Which of these NodeMCU modules are nil globals in the running firmware. */
  async missingModules(required: string[]): Promise<string[]> {
    const missing: string[] = [];
    const names = required.filter((m) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(m));
    for (let i = 0; i < names.length; i += 12) {
      const group = names.slice(i, i + 12);
      const out = await this.repl.exec(`for _,m in ipairs({${group.map(luaString).join(",")}}) do if _G[m]==nil then print("ESPFLEET_MISSING",m) end end`);
      for (const line of out.split("\n")) {
        const m = /^ESPFLEET_MISSING\s+(\S+)$/.exec(line);
        if (m !== null && group.includes(m[1] as string)) {
          missing.push(m[1] as string);
        }
      }
    }
    return missing;
  }

  /** node.restart(); resolves once the boot banner was seen and the prompt answers again. */
  async restart(opts: RebootOptions = {}): Promise<void> {
    await this.reboot("node.restart()", opts);
  }

  /**
   * Sends a line that reboots the board (node.restart(), node.setpartitiontable{...})
   * and resolves once it booted (banner, or the file system being formatted)
   * and its prompt answers again, retrying the resync for up to
   * `promptTimeoutMs` (a board that formats its file system or reloads its LFS
   * on the way takes a while). A line that fails instead throws DeviceLuaError
   * (the REPL is in step again).
   */
  async reboot(line: string, opts: RebootOptions = {}): Promise<void> {
    const bannerTimeoutMs = opts.bannerTimeoutMs ?? 15_000;
    this.repl.write(line + "\n");
    const echoed = escapeRegExp(line) + "\\r\\n(?:Lua error: )?((?:stdin:\\d+: |Lua error: )[^\\r\\n]*)\\r\\n";
    const seen = await this.repl.waitForText(new RegExp(`${BOOTED.source}|${echoed}`), bannerTimeoutMs);
    if (seen === undefined) {
      throw new Error(`${line} was sent but no boot banner came back within ${Math.round(bannerTimeoutMs / 1000)} s; press the board's RST button`);
    }
    if (seen[1] !== undefined) {
      await this.repl.resync();
      throw new DeviceLuaError(seen[1].replace(/^Lua error: /, ""), line);
    }
    this.capabilities = undefined; // a reboot forgets the helpers
    const perTry = this.repl.timeoutMs;
    const attempts = Math.max(4, Math.ceil((opts.promptTimeoutMs ?? 0) / perTry));
    await this.repl.resync({ attempts, ...(opts.onWait !== undefined ? { onRetry: (_attempt: number, ms: number) => opts.onWait?.(ms) } : {}) });
  }

  /**
   * Capabilities of the build and helpers, once per boot; then, every time,
   * an interrupted switch completed and leftover staged files removed.
   */
  private async prepare(): Promise<Capabilities> {
    if (this.capabilities === undefined) {
      const [probe] = await this.repl.execPipelined([`print("ESPFLEET_HAS",encoder~=nil and encoder.fromBase64~=nil,crypto~=nil and crypto.fhash~=nil)`, ...HELPER_LINES]);
      const [, hasEncoder, hasHash] = (answerLine(probe ?? "", /^ESPFLEET_HAS\s/) ?? "").split(/\s+/);
      this.capabilities = { encoding: hasEncoder === "true" ? "base64" : "hex", sha256: hasHash === "true", recovered: 0 };
    }
    const out = await this.repl.exec(RECOVER_LINE, { timeoutMs: Math.max(this.repl.timeoutMs, 10_000) });
    const switched = recoveredCount(out);
    if (switched === undefined || switched < 0) {
      throw new Error(
        `the board could not complete an earlier upload's switch (${RECOVER_LINE} printed ${JSON.stringify(out)}): ` +
          `list its files (espfleet fsinfo --port P) and upload again, or format it (espfleet mkfs --port P --yes)`,
      );
    }
    this.capabilities.recovered = switched;
    return this.capabilities;
  }

  /** Renames the verified switch list into place (the commit) and switches; a failure after the commit is a SwitchInterruptedError. */
  private async commit(names: readonly string[]): Promise<void> {
    let out: string;
    try {
      out = await this.repl.exec(COMMIT_LINE, { timeoutMs: Math.max(this.repl.timeoutMs, 10_000) });
    } catch (err) {
      // Whether the line ran is unknown: the next connect completes the switch if it was committed.
      throw new SwitchInterruptedError(names, (err as Error).message, { cause: err });
    }
    const switched = recoveredCount(out);
    if (switched === -2) {
      await this.discardStaged();
      throw new UploadError(names.join(", "), `committing the switch list failed (printed ${JSON.stringify(out)})`);
    }
    if (switched !== names.length) {
      throw new SwitchInterruptedError(names, `the switch printed ${JSON.stringify(out)}`);
    }
  }

  /** Writes `f` to `temp` and verifies it there; on any failure every staged file is removed and UploadError thrown. */
  private async stage(f: UploadFile, temp: string, caps: Capabilities, needed: number, progress: (fileBytes: number) => void): Promise<void> {
    let step = "opening the temporary file";
    let sentBytes = 0;
    try {
      const opened = await this.repl.exec(`__uf=file.open("${temp}","w") print("ESPFLEET_OPEN",__uf~=nil)`);
      if (answerLine(opened, /^ESPFLEET_OPEN\s+true$/) === undefined) {
        throw new Error(`file.open("${temp}","w") failed (printed ${JSON.stringify(opened)}): the file system may be full or unformatted`);
      }
      step = "sending";
      const chunks = encodeChunks(f.data, caps.encoding, MAX_LUA_LINE - 1);
      let writeFailed = false;
      await this.repl.execPipelined(
        chunks.map((c) => c.line),
        {
          onAnswer: (i, output) => {
            if (output.includes(WRITE_FAILED)) {
              writeFailed = true;
              return false;
            }
            sentBytes += (chunks[i] as { bytes: number }).bytes;
            progress(sentBytes);
            return true;
          },
        },
      );
      if (writeFailed) {
        const remaining = (await this.fsInfo().catch(() => ({ remaining: 0 }))).remaining;
        await this.discardStaged();
        throw new FileSystemFullError(f.name, needed, remaining);
      }
      step = "verifying";
      await this.verify(f, temp, caps);
    } catch (err) {
      if (err instanceof UploadError) {
        throw err;
      }
      await this.discardStaged();
      const at = step === "sending" ? ` at byte ${sentBytes} of ${f.data.length}` : "";
      throw new UploadError(f.name, `while ${step}${at}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Closes the temporary file and compares its size and SHA-256 with the local file. */
  private async verify(f: UploadFile, temp: string, caps: Capabilities): Promise<void> {
    const out = await this.repl.exec(`__uf:close() __uf=nil __uv("${temp}")`);
    const line = answerLine(out, /^ESPFLEET_VERIFY\s+-?\d+\s+[FP-]\s+(?:[0-9a-f]{64}|-)$/);
    const [, sizeText, how, hash] = (line ?? "").split(/\s+/);
    const size = Number(sizeText);
    const expected = how === "P" ? piecewiseSha256(f.data) : createHash("sha256").update(f.data).digest("hex");
    const problem =
      line === undefined
        ? `the check printed ${JSON.stringify(out)}`
        : size !== f.data.length
          ? `the device has ${sizeText ?? "no"} bytes, ${f.data.length} were sent`
          : caps.sha256 && hash !== expected
            ? `the SHA-256 on the device (${hash ?? "none"}) differs from the local file's: the data was corrupted on the way`
            : undefined;
    if (problem !== undefined) {
      await this.discardStaged();
      throw new UploadError(f.name, `verification failed: ${problem}`);
    }
  }

  private async compile(name: string): Promise<void> {
    const lc = name.replace(/\.lua$/, ".lc");
    try {
      const out = await this.repl.exec(`node.compile(${luaString(name)}) print("ESPFLEET_LC",file.exists(${luaString(lc)}))`, { timeoutMs: 30_000 });
      if (answerLine(out, /^ESPFLEET_LC\s+true$/) === undefined) {
        throw new Error(`node.compile printed ${JSON.stringify(out)}`);
      }
    } catch (err) {
      const what = err instanceof DeviceLuaError ? err.deviceMessage : (err as Error).message;
      throw new Error(`${name} was uploaded but node.compile failed: ${what}; the source on the device still runs`, { cause: err });
    }
  }

  /** Best effort: close the open file and remove every staged file (the next connect removes them otherwise). */
  private async discardStaged(): Promise<void> {
    try {
      await this.repl.resync();
      await this.repl.exec(`if __uf then __uf:close() __uf=nil end ${RECOVER_LINE}`);
    } catch {
      // the port is gone or the board is not answering: prepare() removes them next time
    }
  }
}

/**
 * The line of an answer that matches `pattern`. Answers are tagged
 * ("ESPFLEET_...") because an app's timer may print between a line's echo
 * and its output, on the board as on the virtual device.
 */
function answerLine(output: string, pattern: RegExp): string | undefined {
  return output
    .split("\n")
    .map((l) => l.trim())
    .find((l) => pattern.test(l));
}

/** The number __ur printed; undefined when it printed none. */
function recoveredCount(output: string): number | undefined {
  const line = answerLine(output, new RegExp(`^${RECOVERED}\\s+-?\\d+$`));
  return line === undefined ? undefined : Number(line.split(/\s+/)[1]);
}

function checkName(name: string): void {
  // Control characters would break the switch list (a name a line).
  // eslint-disable-next-line no-control-regex
  if (name.length === 0 || Buffer.byteLength(name) > MAX_NAME || name.includes("/") || /[\x00-\x1f\x7f]/.test(name)) {
    throw new Error(`cannot upload ${JSON.stringify(name)}: NodeMCU file names are flat, at most ${MAX_NAME} bytes, without control characters`);
  }
  if (name.startsWith(RESERVED_PREFIX)) {
    throw new Error(`${name}: names starting with ${RESERVED_PREFIX} are the uploader's temporary files (removed at every connect); rename your file`);
  }
}
