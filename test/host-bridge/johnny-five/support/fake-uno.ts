/**
 * A serial link to an "Arduino Uno running StandardFirmata", for tests of
 * the bridge over the real serial stack: socat makes a pty pair, the bridge
 * opens one end as its --port, and this end speaks the Firmata protocol the
 * way StandardFirmata 2.5 does: it announces its version and firmware name
 * after a reset, answers the capability and analog-mapping queries, and
 * streams ANALOG_MESSAGEs for every analog input the host asked to report.
 *
 * `SerialLink.open` without a board (`silent`) is a port where nothing
 * answers: a board without StandardFirmata.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { SerialPort } from "serialport";

const REPORT_VERSION = 0xf9;
const START_SYSEX = 0xf0;
const END_SYSEX = 0xf7;
const QUERY_FIRMWARE = 0x79;
const CAPABILITY_QUERY = 0x6b;
const CAPABILITY_RESPONSE = 0x6c;
const ANALOG_MAPPING_QUERY = 0x69;
const ANALOG_MAPPING_RESPONSE = 0x6a;
const REPORT_ANALOG = 0xc0;
const ANALOG_MESSAGE = 0xe0;
const MODE = { INPUT: 0, OUTPUT: 1, ANALOG: 2 } as const;
/** An Uno: D0-D13, then A0-A5 as pins 14-19. */
const DIGITAL_PINS = 14;
const ANALOG_INPUTS = 6;
/** StandardFirmata's default sampling interval, ms. */
const SAMPLING_MS = 19;

export const FIRMWARE_NAME = "StandardFirmata.ino";

/** A socat pty pair: `hostPath` for the program under test, `boardPath` for the fake board. */
export class PtyPair {
  private constructor(
    private readonly socat: ChildProcess,
    readonly hostPath: string,
    readonly boardPath: string,
  ) {}

  static async open(dir: string): Promise<PtyPair> {
    const hostPath = join(dir, "ttyACM0");
    const boardPath = join(dir, "uno");
    const socat = spawn("socat", [`pty,raw,echo=0,link=${hostPath}`, `pty,raw,echo=0,link=${boardPath}`], { stdio: "ignore" });
    const deadline = performance.now() + 10_000;
    while (!(existsSync(hostPath) && existsSync(boardPath))) {
      if (performance.now() > deadline || socat.exitCode !== null) {
        socat.kill();
        throw new Error("socat did not create the pty pair (is socat installed?)");
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return new PtyPair(socat, hostPath, boardPath);
  }

  close(): Promise<void> {
    if (this.socat.exitCode !== null) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.socat.once("exit", () => resolve());
      this.socat.kill();
    });
  }
}

function sysex(command: number, body: number[]): number[] {
  return [START_SYSEX, command, ...body, END_SYSEX];
}

export class FakeUno {
  /** ADC count per analog channel; channels not set read 0. */
  readonly counts = new Array<number>(ANALOG_INPUTS).fill(0);
  /** Queries and reports seen, by name, for assertions. */
  readonly seen: string[] = [];
  private readonly reporting = new Set<number>();
  private pending: number[] = [];
  private hung = false;
  private announcer: NodeJS.Timeout | undefined;
  private streamer: NodeJS.Timeout | undefined;

  private constructor(private readonly port: SerialPort) {
    port.on("data", (data: Buffer) => this.receive(data));
    port.on("error", () => undefined);
    // After a reset StandardFirmata announces itself once; the host may not have
    // the port open yet, so repeat until it starts the handshake.
    this.announcer = setInterval(() => this.announce(), 100);
    this.announce();
    this.streamer = setInterval(() => this.stream(), SAMPLING_MS);
  }

  /** The sketch hangs: the port stays open, nothing is sent or answered. */
  hang(): void {
    this.hung = true;
    clearInterval(this.announcer);
    this.announcer = undefined;
  }

  /** The reset button: the sketch starts over and announces itself until a host handshakes. */
  reset(): void {
    this.hung = false;
    this.reporting.clear();
    this.pending = [];
    clearInterval(this.announcer);
    this.announcer = setInterval(() => this.announce(), 100);
    this.announce();
  }

  static async attach(boardPath: string): Promise<FakeUno> {
    const port = new SerialPort({ path: boardPath, baudRate: 57_600, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve())));
    return new FakeUno(port);
  }

  async close(): Promise<void> {
    clearInterval(this.announcer);
    clearInterval(this.streamer);
    if (this.port.isOpen) {
      await new Promise<void>((resolve) => this.port.close(() => resolve()));
    }
  }

  private write(bytes: number[]): void {
    if (this.hung) {
      return;
    }
    this.port.write(Buffer.from(bytes));
  }

  private announce(): void {
    this.write([REPORT_VERSION, 2, 5]);
    const name: number[] = [];
    for (const byte of Buffer.from(FIRMWARE_NAME, "ascii")) {
      name.push(byte & 0x7f, byte >> 7);
    }
    this.write(sysex(QUERY_FIRMWARE, [2, 5, ...name]));
  }

  private stream(): void {
    for (const channel of this.reporting) {
      const count = this.counts[channel];
      this.write([ANALOG_MESSAGE | channel, count & 0x7f, (count >> 7) & 0x7f]);
    }
  }

  private receive(data: Buffer): void {
    this.pending.push(...data);
    for (;;) {
      const first = this.pending[0];
      if (first === undefined) {
        return;
      }
      if (first === START_SYSEX) {
        const end = this.pending.indexOf(END_SYSEX);
        if (end < 0) {
          return;
        }
        this.sysex(this.pending.slice(1, end));
        this.pending = this.pending.slice(end + 1);
      } else if (first === REPORT_VERSION) {
        this.pending.shift();
        this.write([REPORT_VERSION, 2, 5]);
      } else if ((first & 0xf0) === REPORT_ANALOG || first === 0xf4 || (first & 0xf0) === 0xd0) {
        // REPORT_ANALOG ch on/off, PIN_MODE pin mode, REPORT_DIGITAL port on/off.
        const size = first === 0xf4 ? 3 : 2;
        if (this.pending.length < size) {
          return;
        }
        if ((first & 0xf0) === REPORT_ANALOG) {
          const channel = first & 0x0f;
          if (this.pending[1] === 1) {
            this.reporting.add(channel);
            this.seen.push(`report A${channel}`);
          } else {
            this.reporting.delete(channel);
          }
        }
        this.pending = this.pending.slice(size);
      } else {
        // Anything else (sampling interval, digital writes) needs no answer here.
        this.pending.shift();
      }
    }
  }

  private sysex(body: number[]): void {
    const command = body[0];
    if (command === QUERY_FIRMWARE) {
      this.announce();
    } else if (command === CAPABILITY_QUERY) {
      clearInterval(this.announcer);
      this.announcer = undefined;
      this.seen.push("capabilities");
      const pins: number[] = [];
      for (let pin = 0; pin < DIGITAL_PINS + ANALOG_INPUTS; pin++) {
        pins.push(MODE.INPUT, 1, MODE.OUTPUT, 1);
        if (pin >= DIGITAL_PINS) {
          pins.push(MODE.ANALOG, 10);
        }
        pins.push(0x7f);
      }
      this.write(sysex(CAPABILITY_RESPONSE, pins));
    } else if (command === ANALOG_MAPPING_QUERY) {
      this.seen.push("analog mapping");
      const mapping: number[] = [];
      for (let pin = 0; pin < DIGITAL_PINS + ANALOG_INPUTS; pin++) {
        mapping.push(pin >= DIGITAL_PINS ? pin - DIGITAL_PINS : 0x7f);
      }
      this.write(sysex(ANALOG_MAPPING_RESPONSE, mapping));
    }
  }
}
