/** `espfleet flash` (./flash.sh): its options, units and defaults; the work is host-bridge/flash/flash-command.ts (loaded when the command runs). */
import { InvalidArgumentError, Option, type Command } from "commander";
import { addExamples, addressArg, baudArg } from "../options";
import type { FlashFlags } from "../../host-bridge/flash/flash-command";
import { DEFAULT_ENV_FILE } from "../../host-bridge/flash/settings";
import { DEFAULT_DIST_DIR } from "../../host-bridge/uploader/dist-files";
import { LFS_PARTITION_BYTES } from "../../host-bridge/uploader/lfs";
// The virtual board's defaults are the virtual device's (one heap default everywhere: a stock board's 40 KB).
import { DEFAULT_HEAP_KB as VIRTUAL_HEAP_KB, DEFAULT_LFS_KB as VIRTUAL_LFS_KB } from "../../device/options";

const lfsKbArg = (text: string): number => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n % 4 !== 0 || n > 1024) {
    throw new InvalidArgumentError(`${text}: give the LFS partition in KB, a multiple of 4 (flash sectors) up to 1024; 0 = none`);
  }
  return n;
};

const heapArg = (text: string): number => {
  const n = Number(text);
  if (!Number.isFinite(n) || n < 16 || n > 4096) {
    throw new InvalidArgumentError(`${text}: give the Lua heap in KB, 16-4096`);
  }
  return n;
};

export function registerFlashCommand(program: Command): void {
  const flash = program
    .command("flash")
    .description(
      "build the firmware, [write a NodeMCU image,] write the node's config, upload (verified), restart, check the app runs from LFS, [follow the console]",
    )
    .addOption(new Option("--port <path|auto>", 'serial port of the board, e.g. /dev/ttyUSB0; "auto" = the one USB serial adapter plugged in'))
    .addOption(new Option("--virtual", "no board: upload to a virtual ESP8266 on a pty, with an embedded broker unless --broker/MQTT_URL; with --monitor it runs until Ctrl-C"))
    .addOption(new Option("--baud <rate>", "console speed for the upload, in bit/s (with --virtual: the speed the virtual board's console is paced at)").argParser(baudArg).default(115200))
    .addOption(new Option("--firmware <file.bin>", "also write this NodeMCU image first, through the ROM bootloader (default: keep the board's NodeMCU)"))
    .addOption(new Option("--address <offset>", "flash offset of --firmware, in bytes (0x0 for a NodeMCU image)").argParser(addressArg).default(0, "0x0"))
    .addOption(new Option("--erase", "with --firmware: erase the whole flash first (default: off)"))
    .addOption(new Option("--no-build", "upload the existing build in --build-dir instead of building (default: build)"))
    .addOption(new Option("--build-dir <dir>", "where the firmware is built and uploaded from").default(DEFAULT_DIST_DIR, "firmware/dist"))
    .addOption(new Option("--with-source", "also upload app.lua and cfg.lua (for Lua 5.3 builds, where the .lc files do not load) (default: off)"))
    .addOption(new Option("--format", "erase every file on the board before uploading (default: off)"))
    .addOption(new Option("--monitor", "follow the board's console after the restart, until Ctrl-C (default: off)"))
    .addOption(new Option("--heap-kb <KB>", "with --virtual: Lua heap of the virtual device, in KB").argParser(heapArg).default(VIRTUAL_HEAP_KB))
    .addOption(
      new Option("--virtual-lfs-kb <KB>", `with --virtual: LFS partition of the virtual device, in KB; 0 = a NodeMCU image without one (default: ${VIRTUAL_LFS_KB})`).argParser(
        lfsKbArg,
      ),
    )
    .addOption(
      new Option(
        "--no-lfs",
        "run the app from app.lc/cfg.lc instead of LFS: lfs.img is not uploaded (an LFS holding an older app is emptied) (default: LFS when the board has it)",
      ),
    )
    .addOption(
      new Option(
        "--yes",
        `when the board's NodeMCU has no LFS partition (or too small a one): add a ${LFS_PARTITION_BYTES / 1024} KB one without asking; this erases every file on the board, then uploads again (default: ask at a terminal, elsewhere keep the partitions and use the .lc files)`,
      ),
    )
    .addOption(
      new Option(
        "--settings-file <file>",
        `KEY=VALUE settings file (WIFI_SSID, WIFI_PASSWORD, MQTT_URL, MQTT_USERNAME, MQTT_PASSWORD, NODE_ID, SAMPLE_INTERVAL, TOPIC_PREFIX); read by espfleet only, nothing in it reaches Node (not --env-file: Node 20 takes that flag for itself) (default: ${DEFAULT_ENV_FILE} at the repository root, when present)`,
      ),
    )
    .addOption(new Option("--verbose", "also log the REPL traffic of the upload, secrets hidden (default: off)"))
    .addOption(new Option("--ssid <name>", "WiFi network (env WIFI_SSID); required for a board"))
    .addOption(new Option("--wifi-password <secret>", "WiFi password (env WIFI_PASSWORD; empty for an open network); required for a board, never shown"))
    .addOption(new Option("--broker <url>", "MQTT broker, mqtt://host[:1883] or mqtts://host[:8883] (env MQTT_URL); required for a board"))
    .addOption(new Option("--username <name>", "MQTT user name (env MQTT_USERNAME; default: anonymous)"))
    .addOption(new Option("--password <secret>", "MQTT password (env MQTT_PASSWORD; default: none), never shown"))
    .addOption(new Option("--ca <file.pem>", "CA certificate that signed the broker's, for mqtts:// (env MQTT_CA); uploaded as ca.pem and pinned by the node (default: none; an mqtts:// broker needs it once per board)"))
    .addOption(new Option("--fleet-key-file <file>", "file holding the fleet key (fleet_key: the node then applies only signed config changes), or env ESPFLEET_FLEET_KEY; never shown (default: none)"))
    .addOption(new Option("--node-id <id>", "node id, up to 32 characters (env NODE_ID; default: esp8266-<chipid>)"))
    .addOption(new Option("--interval <duration>", "initial sampling interval, e.g. 10s, 500ms (env SAMPLE_INTERVAL; default: 10s)"))
    .addOption(new Option("--prefix <topic-prefix>", 'topic prefix (env TOPIC_PREFIX): "site1" means readings on site1/sensor_data (default: none)'))
    .addOption(
      new Option(
        "--topic-data <topic>",
        'readings topic (env TOPIC_DATA); {id} is the node id: "sensor_data/{id}" gives each node its own topic, as docs/mosquitto\'s ACL needs (default: sensor_data)',
      ),
    )
    .addHelpText("after", "\nThe port is checked before any question is asked. At a terminal, missing settings are asked for, and the answers can be saved to the settings file (passwords only when you say so).\nExit status: 0 flashed (and, with --monitor, the console ended), 1 failed, 2 bad usage or missing settings, 130 Ctrl-C.")
    .action(async (flags: FlashFlags) => {
      const { flashCommand } = await import("../../host-bridge/flash/flash-command");
      process.exitCode = await flashCommand(flags);
    });
  addExamples(flash, [
    ["no board: a virtual ESP8266 and an embedded broker, then its console until Ctrl-C", "./flash.sh --virtual --monitor"],
    ["the one USB serial adapter plugged in; settings from espfleet.local.env or asked for", "./flash.sh --port auto --monitor"],
    ["first time: write a NodeMCU image (with an LFS partition), then the app", "./flash.sh --port /dev/ttyUSB0 --firmware nodemcu.bin --monitor"],
    [
      "everything on the command line, for docs/mosquitto's broker (the password from the environment)",
      "MQTT_PASSWORD=... ./flash.sh --port /dev/ttyUSB0 --ssid lab --wifi-password ... --broker mqtts://broker.lan:8883 --ca ca.crt --username node-0001 --node-id node-0001 --prefix espfleet --topic-data 'sensor_data/{id}'",
    ],
  ]);
}
