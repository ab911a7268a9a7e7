/** `--homeassistant [sensor|device]` and `--homeassistant-prefix`, the same on collect and console. */
import { Option, type Command } from "commander";
import { DEFAULT_DISCOVERY_PREFIX, DISCOVERY_STYLES } from "../../ops/homeassistant/discovery";

export function addHomeAssistantOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        "--homeassistant [layout]",
        'announce each node heard to Home Assistant by MQTT discovery (retained configs, one entity per sensor): "sensor" = one config per entity, "device" = one per node (Home Assistant 2024.11 and later); opt-in: 20,000 nodes are 60,000 retained messages (default: off; sensor when given without a layout)',
      )
        .choices([...DISCOVERY_STYLES])
        .preset("sensor"),
    )
    .addOption(new Option("--homeassistant-prefix <topic>", "Home Assistant's discovery prefix").default(DEFAULT_DISCOVERY_PREFIX));
}
