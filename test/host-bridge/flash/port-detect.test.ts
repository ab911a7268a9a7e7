import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { findUsbSerialPorts, resolvePortArgument } from "../../../host-bridge/flash/port-detect";

/** A fake /sys: devices/ holds the hardware, class/tty/<name>/device links to it, as the kernel lays it out. */
let sys: string;
const tty = (): string => join(sys, "class", "tty");

function addTty(name: string, devicePath?: string): void {
  mkdirSync(join(tty(), name), { recursive: true });
  if (devicePath !== undefined) {
    const target = join(sys, "devices", devicePath);
    mkdirSync(target, { recursive: true });
    symlinkSync(target, join(tty(), name, "device"));
  }
}

beforeEach(() => {
  sys = mkdtempSync(join(tmpdir(), "espfleet-sys-"));
  mkdirSync(tty(), { recursive: true });
  addTty("tty0");
  addTty("ptmx");
  addTty("ttyS0", "platform/serial8250/tty/ttyS0");
});

afterEach(() => rmSync(sys, { recursive: true, force: true }));

describe("--port auto", () => {
  it("finds no USB port among virtual and built-in serial ttys", () => {
    expect(findUsbSerialPorts(tty(), "/dev")).toEqual([]);
    expect(() => resolvePortArgument("auto", tty())).toThrow(/no USB serial adapter found.*--port PATH/s);
  });

  it("picks the one USB adapter: ttyUSB (CP210x/CH340) with its /dev path", () => {
    addTty("ttyUSB0", "pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/ttyUSB0");
    expect(resolvePortArgument("auto", tty(), "/dev")).toBe("/dev/ttyUSB0");
  });

  it("counts a ttyACM and a differently named tty behind a USB device; several is an error listing them", () => {
    addTty("ttyACM0", "pci0000:00/usb2/2-1/2-1:1.0");
    addTty("ttyXRUSB3", "pci0000:00/usb3/3-1/3-1:1.0");
    addTty("ttyUSB10", "pci0000:00/usb1/1-3/1-3:1.0/ttyUSB10");
    addTty("ttyUSB2", "pci0000:00/usb1/1-2/1-2:1.0/ttyUSB2");
    expect(findUsbSerialPorts(tty(), "/dev")).toEqual(["/dev/ttyACM0", "/dev/ttyUSB2", "/dev/ttyUSB10", "/dev/ttyXRUSB3"]);
    expect(() => resolvePortArgument("auto", tty(), "/dev")).toThrow(/found 4 USB serial ports \(\/dev\/ttyACM0, .*\); say which one.*--port PATH/);
  });

  it("ignores a ttyUSB name with no device behind it, and passes explicit paths through", () => {
    addTty("ttyUSB0");
    expect(findUsbSerialPorts(tty())).toEqual([]);
    expect(resolvePortArgument("/dev/ttyUSB7", tty())).toBe("/dev/ttyUSB7");
  });

  it("treats a missing sysfs as no ports", () => {
    expect(findUsbSerialPorts(join(sys, "nope"))).toEqual([]);
  });
});
