/** `espfleet device`: its options, units and defaults; the work is device/run-device.ts (loaded when the command runs). */
import { type Command, InvalidArgumentError, Option } from "commander";
import { addExamples } from "../options";
import { DeviceError } from "../../device/errors";
import { DEFAULT_HEAP_KB, DEFAULT_LFS_KB, DEFAULT_MODULES, parseHeapKb, parseLfsKb, parseModules } from "../../device/options";
import type { DeviceCliOptions } from "../../device/run-device";

/**
 * Check a value with the device's own parser when the command line is read:
 * a bad value is bad usage (exit 2), reported before the device starts. The
 * value stays text: run-device.ts parses it again.
 */
const checked =
  (parse: (text: string) => unknown) =>
  (text: string): string => {
    try {
      parse(text);
    } catch (error) {
      throw new InvalidArgumentError(error instanceof DeviceError ? error.message : String(error));
    }
    return text;
  };

const wholeNumber = (flag: string) =>
  checked((text) => {
    if (!/^\d+$/.test(text)) {
      throw new DeviceError(`${flag} ${text}: give a whole number >= 0`);
    }
  });

export function registerDeviceCommand(program: Command): Command {
  const device = program
    .command("device")
    .description("run a virtual ESP8266 with NodeMCU on a pseudo-terminal: the Lua files in --fs run byte for byte")
    .requiredOption("--port-link <path>", "where the pseudo-terminal appears (a link to /dev/pts/N), e.g. /tmp/ttyESP0")
    .requiredOption("--fs <dir>", "folder holding the device's flash file system (created when missing)")
    .option("--broker <url>", "send the device's MQTT connections to this broker instead of the host:port the firmware asks for")
    .option("--heap-kb <kb>", "Lua heap free for the firmware, in KB; past it the device panics and reboots", checked(parseHeapKb), String(DEFAULT_HEAP_KB))
    .option(
      "--lfs-kb <kb>",
      "LFS partition of a new device, in KB (0 = none, as most cloud builds); a device keeps the table it has",
      checked(parseLfsKb),
      String(DEFAULT_LFS_KB),
    )
    .option("--modules <list>", "modules of the emulated NodeMCU build, comma-separated; the others are nil", checked(parseModules), DEFAULT_MODULES.join(","))
    .addOption(new Option("--lua <version>", "Lua of the emulated build").choices(["5.1", "5.3"]).default("5.1"))
    .option("--chip-id <n>", "node.chipid() (default: derived from the --fs folder name)", wholeNumber("--chip-id"))
    .option("--wifi-delay-ms <ms>", "time from wifi.sta.config/connect to an IP address, in ms", wholeNumber("--wifi-delay-ms"), "1000")
    .option("--baud <rate>", "pace console output like a UART at this many bit/s; 0 = unpaced", wholeNumber("--baud"), "115200")
    .option("--console", "also copy the device's console output to stdout")
    .addHelpText("after", "\nExit status: 0 stopped, 1 failed (the pty could not be made, the device could not start), 2 bad usage, 130 Ctrl-C (kill -HUP resets the device).")
    .action(async (opts: DeviceCliOptions) => {
      const { log, runDevice } = await import("../../device/run-device");
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
  return addExamples(device, [
    [
      "the built firmware on a virtual board (edit config.json: wifi_ssid, mqtt_host, mqtt_port), then its console",
      "mkdir -p /tmp/esp0 && cp firmware/dist/{init.lua,lfs.img,config.json} /tmp/esp0/ && espfleet device --port-link /tmp/ttyESP0 --fs /tmp/esp0",
    ],
    ["attach a terminal to it (or: espfleet monitor --port /tmp/ttyESP0)", "picocom -b 115200 /tmp/ttyESP0"],
    ["every MQTT connection to a broker of your own, whatever config.json says", "espfleet device --port-link /tmp/ttyESP0 --fs /tmp/esp0 --broker mqtt://127.0.0.1:1883"],
    ["a stock cloud build: no LFS partition, no tls module", "espfleet device --port-link /tmp/ttyESP1 --fs /tmp/esp1 --lfs-kb 0 --modules adc,dht,file,mqtt,node,sjson,tmr,wifi"],
  ]);
}
