/**
 * Opening a serial port with an error that tells the user what to do
 * (board unplugged, not in the dialout group, port held by a monitor).
 */
import { existsSync } from "node:fs";
import { SerialPort } from "serialport";

/** A serial port could not be opened; `advice` says what the user should do (also in the message). */
export class SerialPortError extends Error {
  readonly advice: string;
  constructor(problem: string, advice: string) {
    super(`${problem}; ${advice}`);
    this.name = "SerialPortError";
    this.advice = advice;
  }
}

/** Turns the binding's error for `path` into a SerialPortError with advice. */
export function explainOpenError(path: string, err: Error): SerialPortError {
  const text = `${(err as NodeJS.ErrnoException).code ?? ""} ${err.message}`;
  if (/ENOENT|No such file/i.test(text)) {
    return noSuchPort(path);
  }
  if (/EACCES|Permission denied/i.test(text)) {
    return new SerialPortError(
      `permission denied on ${path}`,
      "add yourself to the dialout group: sudo usermod -aG dialout $USER, then log in again",
    );
  }
  if (/EBUSY|lock|Resource temporarily unavailable|busy/i.test(text)) {
    return new SerialPortError(`${path} is in use by another program (a serial monitor?)`, "close that program and try again");
  }
  return new SerialPortError(`cannot open ${path}: ${err.message}`, "check the port name and the cable, then try again");
}

function noSuchPort(path: string): SerialPortError {
  return new SerialPortError(
    `no such port ${path}`,
    "plug the board in, or list ports with `ls /dev/ttyUSB* /dev/ttyACM*`",
  );
}

/** Opens `path` at `baudRate` (8N1, exclusive lock); rejects with SerialPortError. */
export async function openSerialPort(path: string, baudRate: number): Promise<SerialPort> {
  if (!Number.isInteger(baudRate) || baudRate <= 0) {
    throw new SerialPortError(`baud rate ${baudRate} is not a positive whole number`, "pass e.g. --baud 115200 (NodeMCU's default)");
  }
  if (!existsSync(path)) {
    throw noSuchPort(path);
  }
  const port = new SerialPort({ path, baudRate, autoOpen: false });
  await new Promise<void>((resolve, reject) => {
    port.open((err) => (err ? reject(explainOpenError(path, err)) : resolve()));
  });
  return port;
}
