/**
 * File transfer to a NodeMCU board over its Lua prompt.
 *
 * Each file goes to a temporary name in base64 (hex when the build lacks
 * `encoder`) lines short enough for the 255-character input limit, several
 * lines in flight at a time; then its size (file.list) and SHA-256
 * (crypto.fhash, when the build has crypto) are checked, and only then is it
 * renamed over the old file, in one line. An upload cut anywhere leaves the
 * old file; the temporary file is removed on the next run.
 */
import { createHash } from "node:crypto";
import { DeviceLuaError, MAX_LUA_LINE, NodeMcuRepl } from "./repl";
import { encodeChunks, HELPER_LINES, luaString, piecewiseSha256, TEMP_NAME, WRITE_FAILED, type Encoding } from "./upload-lua";

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

/** Says which file, what failed, and that the old file on the device is untouched. */
export class UploadError extends Error {
  constructor(
    readonly file: string,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super(`upload of ${file} failed: ${problem}; the old ${file} on the device is untouched`, options);
    this.name = "UploadError";
  }
}

export class FileSystemFullError extends UploadError {
  constructor(file: string, needed: number, remaining: number) {
    super(
      file,
      `the device's file system is full (${file} needs ${needed} bytes, ${remaining} are free); ` +
        "remove files (espfleet remove --port P NAME) or format it (espfleet mkfs --port P --yes)",
    );
    this.name = "FileSystemFullError";
  }
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
}

export class Uploader {
  private capabilities: Capabilities | undefined;

  constructor(private readonly repl: NodeMcuRepl) {}

  async upload(files: UploadFile[], opts: { compile?: boolean; onProgress?: (p: UploadProgress) => void } = {}): Promise<UploadResult> {
    const started = Date.now();
    for (const f of files) {
      checkName(f.name);
    }
    const total = files.reduce((n, f) => n + f.data.length, 0);
    const caps = await this.prepare();
    let done = 0;
    for (const f of files) {
      await this.uploadOne(f, caps, (fileBytes) =>
        opts.onProgress?.({ file: f.name, fileBytes, fileTotal: f.data.length, bytes: done + fileBytes, total }),
      );
      done += f.data.length;
      if (opts.compile === true && f.name.endsWith(".lua") && f.name !== "init.lua") {
        await this.compile(f.name);
      }
    }
    return { bytes: total, ms: Date.now() - started, verified: caps.sha256 ? "sha256" : "size" };
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

  /** Capabilities of the build, leftover temp file removed, helpers defined: once per boot. */
  private async prepare(): Promise<Capabilities> {
    if (this.capabilities !== undefined) {
      return this.capabilities;
    }
    const [probe] = await this.repl.execPipelined([
      `file.remove("${TEMP_NAME}") print("ESPFLEET_HAS",encoder~=nil and encoder.fromBase64~=nil,crypto~=nil and crypto.fhash~=nil)`,
      ...HELPER_LINES,
    ]);
    const [, hasEncoder, hasHash] = (answerLine(probe ?? "", /^ESPFLEET_HAS\s/) ?? "").split(/\s+/);
    this.capabilities = { encoding: hasEncoder === "true" ? "base64" : "hex", sha256: hasHash === "true" };
    return this.capabilities;
  }

  private async uploadOne(f: UploadFile, caps: Capabilities, progress: (fileBytes: number) => void): Promise<void> {
    const info = await this.fsInfo().catch((err: unknown) => {
      throw new UploadError(f.name, `asking for the free space: ${(err as Error).message}`, { cause: err });
    });
    // The old file stays until the new one is verified: the new one needs its full size free.
    if (info.remaining < f.data.length) {
      throw new FileSystemFullError(f.name, f.data.length, info.remaining);
    }
    let step = "opening the temporary file";
    let sentBytes = 0;
    try {
      const opened = await this.repl.exec(`__uf=file.open("${TEMP_NAME}","w") print("ESPFLEET_OPEN",__uf~=nil)`);
      if (answerLine(opened, /^ESPFLEET_OPEN\s+true$/) === undefined) {
        throw new Error(`file.open("${TEMP_NAME}","w") failed (printed ${JSON.stringify(opened)}): the file system may be full or unformatted`);
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
        await this.discardTemp();
        const after = await this.fsInfo().catch(() => info);
        throw new FileSystemFullError(f.name, f.data.length, after.remaining);
      }
      step = "verifying";
      await this.verify(f, caps);
      step = "renaming the verified file over the old one";
      const renamed = await this.repl.exec(`file.remove(${luaString(f.name)}) print("ESPFLEET_RENAMED",file.rename("${TEMP_NAME}",${luaString(f.name)}))`);
      if (answerLine(renamed, /^ESPFLEET_RENAMED\s+true$/) === undefined) {
        throw new Error(`file.rename("${TEMP_NAME}", "${f.name}") failed (printed ${JSON.stringify(renamed)})`);
      }
    } catch (err) {
      if (err instanceof UploadError) {
        throw err;
      }
      await this.discardTemp();
      const at = step === "sending" ? ` at byte ${sentBytes} of ${f.data.length}` : "";
      throw new UploadError(f.name, `while ${step}${at}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Closes the temporary file and compares its size and SHA-256 with the local file. */
  private async verify(f: UploadFile, caps: Capabilities): Promise<void> {
    const out = await this.repl.exec(`__uf:close() __uf=nil __uv("${TEMP_NAME}")`);
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
      await this.discardTemp();
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

  /** Best effort: close and remove the temporary file (the next run removes it otherwise). */
  private async discardTemp(): Promise<void> {
    try {
      await this.repl.resync();
      await this.repl.exec(`if __uf then __uf:close() __uf=nil end file.remove("${TEMP_NAME}")`);
    } catch {
      // the port is gone or the board is not answering: prepare() removes the temp file next time
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

function checkName(name: string): void {
  if (name.length === 0 || Buffer.byteLength(name) > MAX_NAME || name.includes("/")) {
    throw new Error(`cannot upload ${JSON.stringify(name)}: NodeMCU file names are flat and at most ${MAX_NAME} bytes`);
  }
  if (name === TEMP_NAME) {
    throw new Error(`${TEMP_NAME} is the uploader's temporary file name: rename your file`);
  }
}
