/**
 * Run the device command on its own:
 *   npx tsx device/main.ts device --port-link /tmp/ttyESP0 --fs /tmp/esp0
 * (`espfleet device ...` once the main CLI registers it.)
 */
import { Command } from "commander";
import { registerDeviceCommand } from "./cli";

const program = new Command("espfleet").description("virtual ESP8266 devices running NodeMCU");
registerDeviceCommand(program);
await program.parseAsync(process.argv);
