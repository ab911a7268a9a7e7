/**
 * The config's types, apart from config.ts's code, so that platform.ts and
 * topics.ts can name them without importing config.ts: the core's imports
 * run one way (types <- topics <- platform <- config <- cold; node uses
 * them all). A .d.ts: types only, so TypeScriptToLua emits no Lua module
 * for it (app.lua has a byte budget).
 */
export interface NodeConfig {
  node_id: string;
  wifi_ssid: string;
  wifi_password: string;
  mqtt_host: string;
  mqtt_port: number;
  mqtt_secure: boolean;
  mqtt_user: string;
  mqtt_password: string;
  mqtt_keepalive_s: number;
  fleet_key: string;
  config_counter: number;
  accept_first_key: boolean;
  topic_prefix: string;
  topic_data: string;
  topic_config: string;
  interval_ms: number;
  sensitivity: number;
  heartbeat_ms: number;
  sensors: string[];
  buffer_capacity: number;
  qos: number;
  reconnect_min_ms: number;
  reconnect_max_ms: number;
  flush_gap_ms: number;
  dht_pin: number;
}

export interface ConfigError {
  /** The offending key ("" for the message as a whole). */
  key: string;
  reason: string;
}

/** What boot establishes. */
export interface BootState {
  config: NodeConfig;
  id: string;
  topics: Topics;
  /** This boot's number (boot.txt, +1 per boot). */
  boot: number;
}

/** What the node does about a `config_change`. */
export interface ChangeOutcome {
  /** The config to apply at once; undefined when nothing is to change. */
  apply: NodeConfig | undefined;
  /** The acknowledgement to publish on the node's ack topic; undefined when the message addresses other nodes. */
  ack: string | undefined;
}

export interface Topics {
  /** Readings: `<prefix>/<topic_data with {id} filled in>`, JSON, QoS from config (default 1), not retained. */
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
