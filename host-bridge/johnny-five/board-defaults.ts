/**
 * Defaults of a Firmata board connection, apart from the code that opens one
 * (firmata-board.ts loads serialport): `espfleet --help` shows them without
 * loading the serial stack.
 */

/** StandardFirmata's baud rate (Firmata.begin(57600) in the sketch). */
export const FIRMATA_BAUD = 57_600;
/** An Uno resets when the port opens and its bootloader waits ~1.6 s before the sketch starts. */
export const DEFAULT_BOARD_TIMEOUT_MS = 10_000;
