/**
 * A johnny-five Board running StandardFirmata, from a serial port path or
 * from an IO object given by the caller (tests pass mock-firmata's
 * MockFirmata), with every way that fails turned into advice: no such
 * port, no permission (dialout), busy, and a board that never answers the
 * Firmata handshake (no StandardFirmata on it, or another baud rate).
 *
 * The port is opened here with serialport 13 (the project's serial stack),
 * so its errors arrive at once and as errno codes, and handed to johnny-five
 * opened: `new Board({ port })` then speaks Firmata over it.
 */
import { SerialPort } from "serialport";
import { CliError } from "../../common/errors";
import { type FirmataIo, type J5Board, johnnyFive } from "./johnny-five-api";
import { DEFAULT_BOARD_TIMEOUT_MS, FIRMATA_BAUD } from "./board-defaults";

export { DEFAULT_BOARD_TIMEOUT_MS, FIRMATA_BAUD };

export type BoardSource = { path: string; baudRate?: number } | { io: FirmataIo; name?: string };

export interface FirmataBoard {
  board: J5Board;
  /** "StandardFirmataPlus.ino 2.5 on /dev/ttyACM0", for people. */
  description: string;
  /** Serial path, or the injected IO's name. */
  where: string;
  /** Close the serial port (nothing to do for an injected IO). */
  close(): Promise<void>;
}

/** What to do about a port that would not open, by errno. */
export function portOpenAdvice(path: string, message: string): string {
  if (/ENOENT|No such file/i.test(message)) {
    return (
      `no serial port at ${path}: is the Arduino plugged in, with a data cable? ` +
      "List the ports with `ls /dev/ttyACM* /dev/ttyUSB*` (an Uno is usually /dev/ttyACM0, a Nano clone /dev/ttyUSB0) and pass --port PATH"
    );
  }
  if (/EACCES|Permission denied/i.test(message)) {
    return (
      `permission denied opening ${path}: your user may not use serial ports. ` +
      "Add it to the dialout group (`sudo usermod -aG dialout $USER`), then log out and in again (or run `newgrp dialout`)"
    );
  }
  if (/EBUSY|busy|lock/i.test(message)) {
    return `${path} is in use by another program (the Arduino IDE's serial monitor, another espfleet, ModemManager?): close it and try again`;
  }
  return `cannot open ${path}: ${message}`;
}

export function notAnsweringAdvice(where: string, timeoutMs: number, baudRate: number): string {
  return (
    `the board on ${where} did not answer the Firmata handshake within ${timeoutMs / 1000} s. ` +
    "Is StandardFirmata uploaded? (Arduino IDE: File > Examples > Firmata > StandardFirmata, Upload.) " +
    `It talks at ${baudRate} baud${baudRate !== FIRMATA_BAUD ? ` (StandardFirmata uses ${FIRMATA_BAUD})` : ""}; ` +
    "close the IDE's serial monitor, and try --board-timeout 20s for a slow bootloader"
  );
}

async function openPort(path: string, baudRate: number): Promise<SerialPort> {
  const port = new SerialPort({ path, baudRate, autoOpen: false });
  try {
    await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve())));
  } catch (error) {
    throw new CliError(portOpenAdvice(path, (error as Error).message));
  }
  return port;
}

function closePort(port: SerialPort): Promise<void> {
  if (!port.isOpen) {
    return Promise.resolve();
  }
  return new Promise((resolve) => port.close(() => resolve()));
}

/** Wait for "ready"; reject with advice on an error or after `timeoutMs`. */
function whenReady(board: J5Board, where: string, timeoutMs: number, baudRate: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error): void => {
      clearTimeout(timer);
      board.removeListener("ready", onReady);
      board.removeListener("error", onError);
      // johnny-five's own "no ready after connect" timer would fire an error later.
      if (board.timer !== null) {
        clearTimeout(board.timer);
        board.timer = null;
      }
      // firmata.js asks again for the version after 5 s; a board given up on must not keep the process alive.
      const io = board.io as FirmataIo | null;
      if (error !== undefined && io?.reportVersionTimeoutId !== undefined) {
        clearTimeout(io.reportVersionTimeoutId);
      }
      if (error !== undefined) {
        reject(error);
      } else {
        resolve();
      }
    };
    const onReady = (): void => done();
    const onError = (event: { message?: string } | Error | undefined): void => {
      const message = event?.message ?? String(event);
      done(new CliError(`the board on ${where} failed: ${message}`));
    };
    const timer = setTimeout(() => done(new CliError(notAnsweringAdvice(where, timeoutMs, baudRate))), timeoutMs);
    board.once("ready", onReady);
    board.on("error", onError);
  });
}

function describe(io: FirmataIo, where: string): string {
  const firmware = io.firmware;
  const name = firmware?.name ?? io.name ?? "Firmata";
  const version = firmware?.version !== undefined ? ` ${firmware.version.major}.${firmware.version.minor}` : "";
  return `${name}${version} on ${where}`;
}

/** Connect and wait for the Firmata handshake. */
export async function connectFirmataBoard(source: BoardSource, timeoutMs = DEFAULT_BOARD_TIMEOUT_MS): Promise<FirmataBoard> {
  const five = johnnyFive();
  // A board that errors after "ready" (a write to an unplugged port) must not crash the process.
  const keepErrorsOff = (board: J5Board): void => {
    board.on("error", () => undefined);
  };
  if ("io" in source) {
    const where = source.name ?? source.io.name ?? "the injected IO";
    const board = new five.Board({ io: source.io, repl: false, debug: false, sigint: false, timeout: timeoutMs * 2 });
    keepErrorsOff(board);
    await whenReady(board, where, timeoutMs, FIRMATA_BAUD);
    return { board, where, description: describe(board.io, where), close: () => Promise.resolve() };
  }
  const baudRate = source.baudRate ?? FIRMATA_BAUD;
  const port = await openPort(source.path, baudRate);
  const board = new five.Board({ port, repl: false, debug: false, sigint: false, timeout: timeoutMs * 2 });
  keepErrorsOff(board);
  try {
    await whenReady(board, source.path, timeoutMs, baudRate);
  } catch (error) {
    await closePort(port);
    throw error;
  }
  // An unplugged board: the port closes, firmata.js says "close", johnny-five passes it on (FirmataSensors listens).
  return { board, where: source.path, description: describe(board.io, source.path), close: () => closePort(port) };
}
