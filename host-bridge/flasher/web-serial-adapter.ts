/**
 * A Web Serial `SerialPort` look-alike over the `serialport` package, so that
 * esptool-js (written for browsers) drives a USB-serial adapter from Node.
 *
 * esptool-js's Transport (node_modules/esptool-js/lib/webserial.js) uses
 * exactly these members of the port, and nothing else:
 *   open({ baudRate, ... })   once per connect; again after a reopen
 *   close()                   after it released both streams
 *   readable / writable       web streams; it takes a reader per chunk
 *   setSignals({...})         DTR/RTS (reset and GPIO0 via the auto-reset circuit)
 *   getInfo()                 USB vendor/product id
 *   setBaudRate(baud)         optional: if present it changes speed in place
 *                             instead of closing and reopening the port
 */
import { SerialPort } from "serialport";

/** The fields of Web Serial's SerialOptions that a UART behind serialport can honour. */
export interface WebSerialOpenOptions {
  baudRate: number;
  dataBits?: 7 | 8 | undefined;
  stopBits?: 1 | 2 | undefined;
  parity?: "none" | "even" | "odd" | undefined;
}

/** Web Serial's SerialOutputSignals. */
export interface WebSerialSignals {
  dataTerminalReady?: boolean | undefined;
  requestToSend?: boolean | undefined;
  break?: boolean | undefined;
}

/** Web Serial's SerialPortInfo. */
export interface WebSerialPortInfo {
  usbVendorId?: number;
  usbProductId?: number;
}

/** Why opening failed, read from serialport's error text (it sets no error code). */
export type SerialOpenFailure = "no-such-port" | "permission-denied" | "port-busy" | "not-a-serial-port" | "other";

export class SerialOpenError extends Error {
  constructor(
    readonly path: string,
    readonly failure: SerialOpenFailure,
    readonly detail: string,
  ) {
    super(`cannot open ${path}: ${detail}`);
    this.name = "SerialOpenError";
  }
}

function classifyOpenError(text: string): SerialOpenFailure {
  if (/no such file|ENOENT/i.test(text)) {
    return "no-such-port";
  }
  if (/permission denied|EACCES/i.test(text)) {
    return "permission-denied";
  }
  if (/resource temporarily unavailable|lock|busy/i.test(text)) {
    return "port-busy";
  }
  if (/inappropriate ioctl|ENOTTY/i.test(text)) {
    return "not-a-serial-port";
  }
  return "other";
}

export class WebSerialAdapter {
  private port: SerialPort | undefined = undefined;
  /** Bytes received and not yet handed to a reader. */
  private received: Buffer[] = [];
  private waiters: (() => void)[] = [];
  private currentReadable: ReadableStream<Uint8Array> | null = null;
  private currentWritable: WritableStream<Uint8Array> | null = null;
  /** Opening a tty on Linux raises DTR and RTS (HUPCL); Web Serial starts from the same state. */
  private signals = { dtr: true, rts: true, brk: false };
  private signalsWarned = false;
  /** Whether the last setSignals reached the lines (false on a pseudo-terminal). */
  resetLinesWork = true;

  constructor(
    readonly path: string,
    private readonly log: (line: string) => void = () => {},
  ) {}

  get isOpen(): boolean {
    return this.port !== undefined;
  }

  async open(options: WebSerialOpenOptions): Promise<void> {
    if (this.port !== undefined) {
      throw new Error(`${this.path} is already open`); // Web Serial: InvalidStateError
    }
    const port = new SerialPort({
      path: this.path,
      baudRate: options.baudRate,
      dataBits: options.dataBits ?? 8,
      stopBits: options.stopBits ?? 1,
      parity: options.parity ?? "none",
      autoOpen: false,
    });
    await new Promise<void>((resolve, reject) => {
      port.open((error) => {
        if (error === null || error === undefined) {
          resolve();
          return;
        }
        reject(new SerialOpenError(this.path, classifyOpenError(error.message), error.message));
      });
    });
    this.received = [];
    port.on("data", (chunk: Buffer) => {
      this.received.push(chunk);
      this.wakeReaders();
    });
    // An unplugged adapter closes the port by itself; readers then see the end of the stream.
    port.on("close", () => {
      if (this.port === port) {
        this.forget();
      }
    });
    port.on("error", (error: Error) => this.log(`serial port ${this.path}: ${error.message}`));
    this.port = port;
  }

  async close(): Promise<void> {
    const port = this.port;
    if (port === undefined) {
      return;
    }
    this.forget();
    if (port.isOpen) {
      await new Promise<void>((resolve) => port.close(() => resolve()));
    }
  }

  private forget(): void {
    this.port = undefined;
    this.currentReadable = null;
    this.currentWritable = null;
    this.received = [];
    this.wakeReaders();
  }

  get readable(): ReadableStream<Uint8Array> | null {
    if (this.port === undefined) {
      return null;
    }
    // Like Web Serial: a cancelled stream is replaced by a fresh one on the next access.
    this.currentReadable ??= this.makeReadable();
    return this.currentReadable;
  }

  get writable(): WritableStream<Uint8Array> | null {
    if (this.port === undefined) {
      return null;
    }
    this.currentWritable ??= this.makeWritable();
    return this.currentWritable;
  }

  async setSignals(signals: WebSerialSignals): Promise<void> {
    const port = this.port;
    if (port === undefined) {
      throw new Error(`${this.path} is not open`);
    }
    // Web Serial leaves unnamed lines as they are; serialport's set() would reset them to defaults.
    this.signals = {
      dtr: signals.dataTerminalReady ?? this.signals.dtr,
      rts: signals.requestToSend ?? this.signals.rts,
      brk: signals.break ?? this.signals.brk,
    };
    await new Promise<void>((resolve) => {
      port.set(this.signals, (error) => {
        if (error !== null && error !== undefined) {
          this.resetLinesWork = false;
          // A pseudo-terminal (or an adapter without DTR/RTS) refuses the ioctl: carry on, the
          // chip may already sit in its bootloader; say once what that means.
          if (!this.signalsWarned) {
            this.signalsWarned = true;
            this.log(
              `warning: cannot drive DTR/RTS on ${this.path} (${error.message}): reset lines unavailable; ` +
                "if the chip does not answer, hold FLASH (GPIO0) while pressing RESET to start its bootloader",
            );
          }
        } else {
          this.resetLinesWork = true;
        }
        resolve();
      });
    });
  }

  /**
   * No USB ids: esptool-js only looks at them to spot Espressif's native USB
   * (ESP32-S2/S3/C3), never an ESP8266 behind a CH340/CP2102; and
   * SerialPort.list() needs udevadm, which containers often lack.
   */
  getInfo(): WebSerialPortInfo {
    return {};
  }

  /** Change speed without closing the port (esptool-js prefers this to a reopen, which may reset the board). */
  async setBaudRate(baudRate: number): Promise<void> {
    const port = this.port;
    if (port === undefined) {
      throw new Error(`${this.path} is not open`);
    }
    await new Promise<void>((resolve, reject) => {
      port.update({ baudRate }, (error) => (error === null || error === undefined ? resolve() : reject(error)));
    });
  }

  private wakeReaders(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) {
      wake();
    }
  }

  private makeReadable(): ReadableStream<Uint8Array> {
    let cancelled = false;
    const stream: ReadableStream<Uint8Array> = new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          while (this.received.length === 0 && !cancelled && this.currentReadable === stream) {
            await new Promise<void>((wake) => this.waiters.push(wake));
          }
          if (cancelled) {
            return;
          }
          if (this.currentReadable !== stream) {
            controller.close(); // the port closed
            return;
          }
          const chunk = Buffer.concat(this.received);
          this.received = [];
          controller.enqueue(new Uint8Array(chunk));
        },
        cancel: () => {
          cancelled = true;
          if (this.currentReadable === stream) {
            this.currentReadable = null;
          }
          this.wakeReaders();
        },
      },
      // Pull only when someone reads: bytes wait in `received` between readers, not in the stream.
      { highWaterMark: 0 },
    );
    return stream;
  }

  private makeWritable(): WritableStream<Uint8Array> {
    const stream: WritableStream<Uint8Array> = new WritableStream<Uint8Array>({
      write: async (chunk) => {
        const port = this.port;
        if (port === undefined) {
          throw new Error(`${this.path} is closed`);
        }
        await new Promise<void>((resolve, reject) => {
          port.write(Buffer.from(chunk), (error) => {
            if (error !== null && error !== undefined) {
              reject(error);
            }
          });
          // Resolve once the bytes left for the device, so the writer paces itself to the line.
          port.drain((error) => (error === null || error === undefined ? resolve() : reject(error)));
        });
      },
      close: () => {
        if (this.currentWritable === stream) {
          this.currentWritable = null;
        }
      },
    });
    return stream;
  }
}
