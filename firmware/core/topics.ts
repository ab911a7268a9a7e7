/**
 * The MQTT topic contract. Config changes come on one shared topic (one
 * publish reaches the fleet); everything a node publishes goes to a topic
 * ending in its id (readings, the retained status, acknowledgements,
 * events), so a broker ACL can let each node write its own topics only
 * (docs/mosquitto/acl) and a consumer reads all readings with one wildcard.
 */
import type { NodeConfig } from "./config";

export interface Topics {
  /** Readings `<topic_data>/<id>`, JSON, QoS from config (default 1), not retained. */
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
    data: p + config.topic_data + "/" + nodeId,
    config: p + config.topic_config,
    status: p + "status/" + nodeId,
    ack: p + "config_ack/" + nodeId,
    event: p + "event/" + nodeId,
  };
}
