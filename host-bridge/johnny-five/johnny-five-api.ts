/**
 * The part of johnny-five 2.1.0 the bridge uses, typed. johnny-five ships no
 * type declarations (and there is no @types package in the tree), so it is
 * loaded with `require` and described here by what the bridge calls: a
 * local interface instead of a global `declare module`, so nothing else in
 * the repository is affected by these guesses about its shape.
 */
import type { EventEmitter } from "node:events";
import { createRequire } from "node:module";

/** A Firmata-speaking IO object: firmata.js's Board, or mock-firmata's MockFirmata in tests. */
export interface FirmataIo extends EventEmitter {
  isReady: boolean;
  name?: string;
  /** Pin numbers of the analog inputs, A0 first (filled in once the board is ready). */
  analogPins: number[];
  /** Filled in by firmata.js from the board's QUERY_FIRMWARE answer. */
  firmware?: { name?: string; version?: { major: number; minor: number } };
  /** firmata.js: the timer that re-asks for REPORT_VERSION when none came. */
  reportVersionTimeoutId?: NodeJS.Timeout;
}

export interface J5Board extends EventEmitter {
  io: FirmataIo;
  isReady: boolean;
  /** johnny-five's "connected but no ready" timer (it fires an error after `timeout` ms). */
  timer: NodeJS.Timeout | null;
  /** Set at "ready": the largest ADC count (1023 on an AVR). */
  RESOLUTION?: { ADC: number | null };
}

export interface J5BoardOptions {
  io?: FirmataIo;
  /** A serial port path, or an opened port object (anything with `path`, `write`, `on`). */
  port?: unknown;
  repl: false;
  debug: false;
  /** Off: johnny-five would otherwise install a SIGINT handler that calls process.reallyExit. */
  sigint: false;
  /** ms before johnny-five reports "A timeout occurred while connecting to the Board". */
  timeout?: number;
}

/** Thermometer: analog controllers (LM35, TMP36, …) convert the ADC count to °C. */
export interface J5Thermometer extends EventEmitter {
  readonly celsius: number;
  disable(): void;
}

/** Sensor: a plain analog input; `value` is null until the first reading arrives. */
export interface J5Sensor extends EventEmitter {
  readonly value: number | null;
  disable(): void;
}

export interface JohnnyFive {
  Board: new (options: J5BoardOptions) => J5Board;
  Thermometer: new (options: { board: J5Board; pin: string; controller: string; aref: number; freq: number }) => J5Thermometer;
  Sensor: new (options: { board: J5Board; pin: string; freq: number }) => J5Sensor;
}

const require = createRequire(import.meta.url);

/** Loaded on first use: requiring johnny-five pulls in firmata.js and serialport 8 (a native binding). */
let loaded: JohnnyFive | undefined = undefined;

export function johnnyFive(): JohnnyFive {
  loaded ??= require("johnny-five") as JohnnyFive;
  return loaded;
}
