/**
 * The MQTT topic contract. Readings and config changes use one shared topic
 * each (every consumer reads one stream); per-node topics carry what must be
 * told apart by node: the retained status, acknowledgements and events.
 */
import type { NodeConfig } from "./config";

export interface Topics {
  /** Readings, JSON, QoS from config (default 1), not retained. */
  data: string;
  /** Inbound config changes, subscribed at QoS 1. */
  config: string;
  /** Retained `{"id","state":"online"|"offline",...}`; "offline" is the last will. */
  status: string;
  /** Result of every config change that reached this node. */
  ack: string;
  /** Warnings and notices: failed sensor reads, dropped readings, rejected stored config. */
  event: string;
}

export function topicsFor(config: NodeConfig, nodeId: string): Topics {
  const p = config.topic_prefix !== "" ? config.topic_prefix + "/" : "";
  return {
    data: p + config.topic_data,
    config: p + config.topic_config,
    status: p + "status/" + nodeId,
    ack: p + "config_ack/" + nodeId,
    event: p + "event/" + nodeId,
  };
}
