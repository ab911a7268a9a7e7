/**
 * `--port auto`: find the one USB serial adapter (CP210x, CH340, FTDI as
 * ttyUSB*, native USB CDC as ttyACM*) by looking at /sys/class/tty, where
 * every tty with hardware behind it has a `device` link. The sysfs root is
 * a parameter so tests can hand in a fake tree.
 */
import { existsSync, readdirSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { CliError } from "../../common/errors";

export const SYS_CLASS_TTY = "/sys/class/tty";

const USB_SERIAL_NAME = /^tty(USB|ACM)\d+$/;

/** Device paths (/dev/ttyUSB0, ...) of the USB serial ports present, sorted by name then number. */
export function findUsbSerialPorts(sysClassTty = SYS_CLASS_TTY, devDir = "/dev"): string[] {
  let names: string[];
  try {
    names = readdirSync(sysClassTty);
  } catch {
    return [];
  }
  const found = names.filter((name) => {
    const device = join(sysClassTty, name, "device");
    if (!existsSync(device)) {
      return false; // virtual ttys (tty0, ptmx, pts) have no device behind them
    }
    if (USB_SERIAL_NAME.test(name)) {
      return true;
    }
    // Other drivers may name theirs differently; what counts is a USB device behind the tty.
    try {
      return realpathSync(device).split("/").some((part) => /^usb\d*$/.test(part));
    } catch {
      return false;
    }
  });
  return found.sort(byNameThenNumber).map((name) => join(devDir, name));
}

function byNameThenNumber(a: string, b: string): number {
  const split = (s: string): [string, number] => {
    const m = /^(.*?)(\d+)$/.exec(s);
    return m === null ? [s, -1] : [m[1] as string, Number(m[2])];
  };
  const [an, ai] = split(a);
  const [bn, bi] = split(b);
  return an === bn ? ai - bi : an < bn ? -1 : 1;
}

/** `--port auto` → the one USB serial port; anything else is taken as a path. */
export function resolvePortArgument(port: string, sysClassTty = SYS_CLASS_TTY, devDir = "/dev"): string {
  if (port !== "auto") {
    return port;
  }
  const found = findUsbSerialPorts(sysClassTty, devDir);
  if (found.length === 1) {
    return found[0] as string;
  }
  if (found.length === 0) {
    throw new CliError(
      `--port auto: no USB serial adapter found (no ttyUSB*/ttyACM* in ${sysClassTty}). ` +
        "Plug the board in with a data cable (charge-only cables show nothing), check `dmesg | tail` for the adapter, " +
        "then give --port PATH; or try without a board: --virtual",
    );
  }
  throw new CliError(`--port auto: found ${found.length} USB serial ports (${found.join(", ")}); say which one is the board with --port PATH`);
}
