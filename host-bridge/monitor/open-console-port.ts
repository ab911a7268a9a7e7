/**
 * Open a serial port for the console with the serial layer's advice
 * (host-bridge/serial: no such device, no permission, busy) as a CliError,
 * plus what to pass instead when the port does not exist.
 */
import type { SerialPort } from "serialport";
import { CliError } from "../../common/errors";
import { explainOpenError, openSerialPort, SerialPortError } from "../serial/open-port";

const PORT_CHOICES = "then pass --port PATH (or, for espfleet flash, --port auto for the one USB serial adapter, or --virtual for no board)";

/** The error for a port path that does not exist, with the ways to name another. */
export function noSuchPortError(path: string): CliError {
  const enoent = Object.assign(new Error("No such file or directory"), { code: "ENOENT" });
  return new CliError(`${explainOpenError(path, enoent).message}; ${PORT_CHOICES}`);
}

export async function openConsolePort(path: string, baudRate: number): Promise<SerialPort> {
  try {
    return await openSerialPort(path, baudRate);
  } catch (error) {
    if (error instanceof SerialPortError) {
      throw /no such port/i.test(error.message) ? noSuchPortError(path) : new CliError(error.message);
    }
    throw error;
  }
}

export function closePort(port: SerialPort): Promise<void> {
  if (!port.isOpen) {
    return Promise.resolve();
  }
  return new Promise((resolve) => port.close(() => resolve()));
}
