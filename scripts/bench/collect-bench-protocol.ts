/** IPC between scripts/bench-collect.ts and its child processes: simulated nodes, and the embedded broker. */

export interface NodesSettings {
  port: number;
  /** Topic prefix of the readings (`<prefix>/sensor_data`). */
  prefix: string;
  /** Node numbers first..first+count-1 (node-0001 …). */
  first: number;
  count: number;
  intervalMs: number;
  /** New connections per second. */
  connectRate: number;
}

export type ToNodes = { type: "publish" } | { type: "stats" } | { type: "stop" };

export interface NodesStats {
  connected: number;
  /** Readings sent (QoS 1). */
  published: number;
  /** Readings the broker acknowledged (PUBACK). */
  acked: number;
}

export type FromNodes = ({ type: "connected" } & NodesStats) | ({ type: "stats" } & NodesStats) | ({ type: "stopped" } & NodesStats);

export interface BrokerSettings {
  port: number;
  /** The broker's folder (--broker-store). */
  folder: string;
  queueLimit: number;
  /** A collector session made at start (--collector-session), with these topics. */
  session: { clientId: string; topics: string[] };
}

export type FromBroker = { type: "listening"; port: number } | { type: "stopped" };
