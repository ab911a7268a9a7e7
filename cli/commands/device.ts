/** `espfleet device`: its options, units and defaults; the work is device/run-device.ts. */
import type { Command } from "commander";
import { DeviceError } from "../../device/errors";
import { DEFAULT_HEAP_KB, DEFAULT_LFS_KB, DEFAULT_MODULES } from "../../device/options";
import { log, runDevice, type DeviceCliOptions } from "../../device/run-device";

export function registerDeviceCommand(program: Command): Command {
  return program
    .command("device")
    .description("run a virtual ESP8266 with NodeMCU on a pseudo-terminal: the Lua files in --fs run byte for byte")
    .requiredOption("--port-link <path>", "where the pseudo-terminal appears (a link to /dev/pts/N), e.g. /tmp/ttyESP0")
    .requiredOption("--fs <dir>", "folder holding the device's flash file system (created when missing)")
    .option("--broker <url>", "send the device's MQTT connections to this broker instead of the host:port the firmware asks for")
    .option("--heap-kb <kb>", "Lua heap free for the firmware, in KB; past it the device panics and reboots", String(DEFAULT_HEAP_KB))
    .option("--lfs-kb <kb>", "LFS partition of a new device, in KB (0 = none, as most cloud builds); a device keeps the table it has", String(DEFAULT_LFS_KB))
    .option("--modules <list>", "modules of the emulated NodeMCU build, comma-separated; the others are nil", DEFAULT_MODULES.join(","))
    .option("--lua <version>", "Lua of the emulated build: 5.1 or 5.3", "5.1")
    .option("--chip-id <n>", "node.chipid() (default: derived from the --fs folder name)")
    .option("--wifi-delay-ms <ms>", "time from wifi.sta.config/connect to an IP address, in ms", "1000")
    .option("--baud <rate>", "pace console output like a UART at this many bit/s; 0 = unpaced", "115200")
    .option("--console", "also copy the device's console output to stdout")
    .action(async (opts: DeviceCliOptions) => {
      try {
        await runDevice(opts);
      } catch (error) {
        if (error instanceof DeviceError) {
          log(error.message);
          process.exitCode = 1;
          return;
        }
        throw error;
      }
    });
}
