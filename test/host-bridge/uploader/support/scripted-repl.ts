/**
 * A NodeMCU prompt scripted in TypeScript behind serialport's MockBinding:
 * echoes what it reads, answers line by line (one line at a time, like the
 * board, with the rest of the input queued), `>>` for unfinished chunks, and
 * knows the lines the uploader sends. Tests tamper with it through hooks.
 */
import { createHash } from "node:crypto";
import { SerialPortMock, type SerialPort } from "serialport";
import { COMMIT_LINE, RECOVER_LINE, RECOVERED, RESERVED_PREFIX, stagedName, SWITCH_LIST_NAME, SWITCH_NAME } from "../../../../host-bridge/uploader/upload-lua";

// serialport's own MockBinding (the CommonJS instance its SerialPortMock opens ports with).
const MockBinding = SerialPortMock.binding;

/** What this file uses of @serialport/binding-mock's MockPortBinding (its types do not resolve under "Bundler"). */
interface MockPortBinding {
  write(buffer: Buffer): Promise<void>;
  emitData(data: Buffer | string): void;
}

let ports = 0;

export interface ScriptedReplOptions {
  /** Has `encoder` (base64 lines) and `crypto` (SHA-256); default true. */
  encoder?: boolean;
  crypto?: boolean;
  /** Start with an unfinished chunk (the `>>` prompt), as after a half-sent long string. */
  pendingChunk?: boolean;
  /** Free bytes of the file system; default 1 MB. */
  freeBytes?: number;
}

export class ScriptedRepl {
  /** Every complete line received, in order. */
  readonly lines: string[] = [];
  /** Files written through the upload helpers. */
  readonly files = new Map<string, Buffer>();
  /** Change the echo of a line (e.g. flip a character); default: the line itself. */
  echoOf: (line: string) => string = (line) => line;
  /** Answer a line before the built-in script does; undefined falls through. */
  answer: (line: string) => string | undefined = () => undefined;
  /** Stop reading and answering (a hung board). */
  silent = false;
  /** Largest number of received bytes waiting to be read, seen so far. */
  maxQueuedBytes = 0;
  /** The names each committed switch put in place, in its order. */
  readonly switches: string[][] = [];

  private queue = "";
  private busy = false;
  private pending: boolean;
  private openFile: string | undefined;
  private readonly opts: Required<Omit<ScriptedReplOptions, "pendingChunk">>;

  private constructor(
    readonly port: SerialPort,
    private readonly binding: MockPortBinding,
    opts: ScriptedReplOptions,
  ) {
    this.pending = opts.pendingChunk ?? false;
    this.opts = { encoder: opts.encoder ?? true, crypto: opts.crypto ?? true, freeBytes: opts.freeBytes ?? 1_000_000 };
  }

  static async open(opts: ScriptedReplOptions = {}): Promise<ScriptedRepl> {
    const path = `/dev/scripted-nodemcu-${process.pid}-${ports++}`;
    MockBinding.createPort(path, { echo: false, record: true });
    const port = new SerialPortMock({ path, baudRate: 115200, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
    const binding = port.port as unknown as MockPortBinding;
    const repl = new ScriptedRepl(port as unknown as SerialPort, binding, opts);
    const write = binding.write.bind(binding);
    binding.write = async (buffer: Buffer): Promise<void> => {
      await write(buffer);
      repl.receive(buffer.toString("latin1"));
    };
    return repl;
  }

  static reset(): void {
    MockBinding.reset();
  }

  /** Unprompted output, e.g. an app's log line. */
  say(text: string): void {
    this.binding.emitData(Buffer.from(text, "latin1"));
  }

  private receive(text: string): void {
    this.queue += text;
    this.maxQueuedBytes = Math.max(this.maxQueuedBytes, this.queue.length);
    this.pump();
  }

  /** Reads one line at a time, answering each a little later (the board runs it), like NodeMCU's readline. */
  private pump(): void {
    if (this.busy || this.silent) {
      return;
    }
    const end = this.queue.indexOf("\n");
    if (end < 0) {
      return;
    }
    const line = this.queue.slice(0, end).replace(/\r$/, "").slice(0, 255);
    this.queue = this.queue.slice(end + 1);
    this.lines.push(line);
    this.busy = true;
    setTimeout(() => {
      this.busy = false;
      if (this.silent) {
        return;
      }
      const { output, prompt } = this.run(line);
      this.say(`${this.echoOf(line)}\r\n${output === "" ? "" : output.replace(/\n/g, "\r\n") + "\r\n"}${prompt} `);
      this.pump();
    }, 1);
  }

  private run(line: string): { output: string; prompt: ">" | ">>" } {
    if (this.pending) {
      // Inside an unfinished long string: only "]]" ends it (and what follows is a syntax error).
      if (line.includes("]]")) {
        this.pending = false;
        return { output: "Lua error: stdin:2: unexpected symbol near ']'", prompt: ">" };
      }
      return { output: "", prompt: ">>" };
    }
    const scripted = this.answer(line);
    if (scripted !== undefined) {
      return { output: scripted, prompt: ">" };
    }
    return { output: this.builtin(line), prompt: ">" };
  }

  private builtin(line: string): string {
    let m: RegExpExecArray | null;
    if ((m = /^print\("ESPFLEET_SYNC_"\.\."([0-9a-f]+)"\)$/.exec(line))) {
      return `ESPFLEET_SYNC_${m[1]}`;
    }
    if (line.startsWith("]]")) {
      return "Lua error: stdin:1: unexpected symbol near ']'";
    }
    if (line === "print(1+1)") {
      return "2";
    }
    if (line.startsWith('print("ESPFLEET_HAS"')) {
      return `ESPFLEET_HAS\t${this.opts.encoder}\t${this.opts.crypto}`;
    }
    if (line === RECOVER_LINE || line.endsWith(` ${RECOVER_LINE}`)) {
      return `${RECOVERED}\t${this.recover()}`;
    }
    if (line === COMMIT_LINE) {
      const list = this.files.get(SWITCH_LIST_NAME);
      if (list === undefined || this.files.has(SWITCH_NAME)) {
        return `${RECOVERED}\t-2`;
      }
      this.files.delete(SWITCH_LIST_NAME);
      this.files.set(SWITCH_NAME, list);
      /** Each switched file's name, in switch order. */
      this.switches.push(list.toString().split("\n").filter((n) => n !== ""));
      return `${RECOVERED}\t${this.recover()}`;
    }
    if (line.startsWith("__ud=") || line.startsWith("function __")) {
      return "";
    }
    if (line === 'print("ESPFLEET_FS",file.fsinfo())') {
      const used = [...this.files.values()].reduce((n, b) => n + b.length, 0);
      return `ESPFLEET_FS\t${this.opts.freeBytes}\t${used}\t${this.opts.freeBytes + used}`;
    }
    if ((m = /^__uf=file\.open\("([^"]+)","w"\)/.exec(line))) {
      this.openFile = m[1] as string;
      this.files.set(this.openFile, Buffer.alloc(0));
      return "ESPFLEET_OPEN\ttrue";
    }
    if ((m = /^__uw"([^"]*)"$/.exec(line))) {
      const data = Buffer.from(m[1] as string, this.opts.encoder ? "base64" : "hex");
      const name = this.openFile as string;
      this.files.set(name, Buffer.concat([this.files.get(name) as Buffer, data]));
      return "";
    }
    if ((m = /__uv\("([^"]+)"\)$/.exec(line))) {
      const data = this.files.get(m[1] as string) ?? Buffer.alloc(0);
      return `ESPFLEET_VERIFY\t${data.length}\t${this.opts.crypto ? "F" : "-"}\t${this.opts.crypto ? createHash("sha256").update(data).digest("hex") : "-"}`;
    }

    return `Lua error: stdin:1: the scripted REPL does not know ${JSON.stringify(line.slice(0, 40))}`;
  }

  /** __ur on the board: finish a committed switch, then drop every staged file; how many files it switched. */
  private recover(): number {
    const list = this.files.get(SWITCH_NAME);
    let switched = 0;
    if (list !== undefined) {
      const targets = list.toString().split("\n").filter((n) => n !== "");
      targets.forEach((target, i) => {
        const staged = this.files.get(stagedName(i + 1));
        if (staged !== undefined) {
          this.files.set(target, staged);
          this.files.delete(stagedName(i + 1));
        }
      });
      this.files.delete(SWITCH_NAME);
      switched = targets.length;
    }
    for (const name of [...this.files.keys()]) {
      if (name.startsWith(RESERVED_PREFIX)) {
        this.files.delete(name);
      }
    }
    return switched;
  }

  async close(): Promise<void> {
    if (this.port.isOpen) {
      await new Promise<void>((resolve) => this.port.close(() => resolve()));
    }
  }
}
