/**
 * The node's sensors on an Arduino, read through johnny-five: the
 * SensorSource a NodePlatform reads from (simulator/node-platform.ts).
 *
 * johnny-five components sample continuously (the board streams analog
 * values over Firmata); the core reads on its own schedule and gets the
 * latest value. A read fails, as a string saying why (the Platform's
 * SensorRead), while a sensor has produced no value yet, when the board is
 * gone, when its input has sent nothing for a while (StandardFirmata
 * streams every reported input about 50 times a second, so silence means
 * a hung sketch, not a steady value), and for a sensor the config enables
 * but no --sensor wired.
 */
import type { SensorRead } from "../../firmware/core/platform";
import type { SensorSource } from "../../simulator/node-platform";
import { type J5Board, type J5Sensor, type J5Thermometer, johnnyFive } from "./johnny-five-api";
import type { AdcConversion, SensorSpec } from "./sensor-spec";

/** How often johnny-five refreshes a component's value, ms (its default). */
const COMPONENT_FREQ_MS = 25;
/** An input silent for this long reads as failed: ~150 of StandardFirmata's 19 ms samples missed. */
export const DEFAULT_STALE_AFTER_MS = 3000;

export interface FirmataSensorsOptions extends AdcConversion {
  /** A value older than this fails the read, ms. */
  staleAfterMs?: number;
}

interface Channel {
  spec: SensorSpec;
  /** The latest value in the sensor's unit, or undefined before the first one. */
  latest(): number | undefined;
  stop(): void;
}

export class FirmataSensors implements SensorSource {
  private readonly channels = new Map<string, Channel>();
  private lostReason: string | undefined = undefined;
  /** performance.now() of the last ANALOG_MESSAGE per analog channel. */
  private readonly heardAt = new Map<number, number>();
  private readonly staleAfterMs: number;
  /** performance.now() of the last ANALOG_MESSAGE on any channel (or of the start). */
  private lastHeard = performance.now();
  private readonly onAnalog = (event: { pin: number }): void => {
    const now = performance.now();
    this.heardAt.set(event.pin, now);
    this.lastHeard = now;
  };

  /**
   * `board` must be ready. Throws when a spec names an analog input the
   * board does not have.
   */
  constructor(
    private readonly board: J5Board,
    specs: readonly SensorSpec[],
    private readonly options: FirmataSensorsOptions,
  ) {
    this.staleAfterMs = options.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
    const inputs = board.io.analogPins.length;
    for (const spec of specs) {
      if (spec.channel >= inputs) {
        throw new Error(
          `--sensor "${spec.text}": this board has ${inputs === 0 ? "no analog inputs" : `analog inputs A0-A${inputs - 1}`}, no ${spec.pin}`,
        );
      }
    }
    // firmata.js emits "analog-read" for every ANALOG_MESSAGE, whichever component asked for it.
    board.io.on("analog-read", this.onAnalog);
    for (const spec of specs) {
      this.channels.set(spec.sensor, this.open(board, spec));
    }
    const lost = (why: string) => () => this.boardLost(why);
    board.on("close", lost("board disconnected (serial port closed)"));
    board.on("disconnect", lost("board disconnected (unplugged?)"));
  }

  read(name: string): SensorRead {
    const channel = this.channels.get(name);
    if (channel === undefined) {
      return `no ${name} sensor on this bridge; restart it with --sensor ${name}:<pin>:<controller>`;
    }
    if (this.lostReason !== undefined) {
      return this.lostReason;
    }
    const value = channel.latest();
    if (value === undefined) {
      return `no reading from ${channel.spec.pin} yet`;
    }
    // An IO that does not emit "analog-read" (not firmata.js) cannot be judged stale.
    const heard = this.heardAt.get(channel.spec.channel);
    const silentMs = heard !== undefined ? performance.now() - heard : 0;
    if (silentMs > this.staleAfterMs) {
      return `nothing from ${channel.spec.pin} for ${(silentMs / 1000).toFixed(1)} s; is the sketch still running?`;
    }
    return value;
  }

  /** Every later read fails with `reason` (the board is gone; values would be stale). */
  boardLost(reason: string): void {
    this.lostReason ??= reason;
  }

  /**
   * ms since the board last sent any analog sample (or since these sensors
   * started); undefined when no analog input is read, so silence means nothing.
   */
  silentMs(): number | undefined {
    return this.channels.size > 0 ? performance.now() - this.lastHeard : undefined;
  }

  /** Is the board still there? */
  lost(): string | undefined {
    return this.lostReason;
  }

  /** The wiring, for the start-up line: "temperature LM35 on A0, adc RAW on A2". */
  describe(): string {
    return [...this.channels.values()].map((c) => `${c.spec.sensor} ${c.spec.controller.name} on ${c.spec.pin}`).join(", ");
  }

  /** Stop johnny-five's per-component timers (they keep the process alive). */
  close(): void {
    this.board.io.removeListener("analog-read", this.onAnalog);
    for (const channel of this.channels.values()) {
      channel.stop();
    }
  }

  private open(board: J5Board, spec: SensorSpec): Channel {
    const five = johnnyFive();
    const read = spec.controller.read;
    if (read.kind === "thermometer") {
      const thermometer: J5Thermometer = new five.Thermometer({
        board,
        pin: spec.pin,
        controller: read.j5Controller,
        aref: this.options.arefVolts,
        freq: COMPONENT_FREQ_MS,
      });
      // `celsius` is computed from a null count (0 °C for an LM35) until the
      // first analog message; johnny-five emits "data" only once one came.
      let seen = false;
      thermometer.once("data", () => (seen = true));
      return { spec, latest: () => (seen ? thermometer.celsius : undefined), stop: () => thermometer.disable() };
    }
    const sensor: J5Sensor = new five.Sensor({ board, pin: spec.pin, freq: COMPONENT_FREQ_MS });
    const conversion = this.options;
    return {
      spec,
      latest: () => (sensor.value === null ? undefined : read.convert(sensor.value, conversion)),
      stop: () => sensor.disable(),
    };
  }
}
