/**
 * `--homeassistant [sensor|device]` and `--homeassistant-prefix` of collect
 * and console, to a running announcer (or none when the flag is absent).
 */
import type { BrokerTarget } from "../../broker/target";
import type { OperatorTopics } from "../../broker/topics";
import { FIRMWARE_VERSION } from "../../firmware/core/node";
import { HomeAssistantAnnouncer } from "./announcer";
import { DEFAULT_DISCOVERY_PREFIX, type DiscoveryStyle } from "./discovery";

export interface HomeAssistantFlags {
  /** The discovery layout; absent: no discovery. */
  homeassistant?: DiscoveryStyle;
  homeassistantPrefix?: string;
}

export async function startHomeAssistant(
  flags: HomeAssistantFlags,
  target: BrokerTarget,
  topics: OperatorTopics,
  fleetPrefix: string,
  clientId: string,
  log: (line: string) => void,
): Promise<HomeAssistantAnnouncer | undefined> {
  if (flags.homeassistant === undefined) {
    return undefined;
  }
  const prefix = flags.homeassistantPrefix ?? DEFAULT_DISCOVERY_PREFIX;
  const announcer = await HomeAssistantAnnouncer.start({
    target,
    clientId,
    topics,
    discovery: { style: flags.homeassistant, prefix, fleet: fleetPrefix, version: FIRMWARE_VERSION },
    log,
  });
  const where = flags.homeassistant === "device" ? `${prefix}/device/<id>/config` : `${prefix}/sensor/<unique_id>/config`;
  log(`Home Assistant discovery: each node heard is announced on ${where} (retained), again when ${prefix}/status says online`);
  return announcer;
}
