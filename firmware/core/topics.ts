/**
 * The MQTT topic contract. Config changes come on one shared topic (one
 * publish reaches the fleet). Readings go to `topic_data`, by default the one
 * shared topic `sensor_data` (the reading's `id` says which node sent it), so
 * `mosquitto_sub -t sensor_data` hears the whole fleet (issue 11). A
 * `topic_data` holding `{id}` (`sensor_data/{id}`) puts each node's readings
 * on a topic of its own, which a broker ACL can confine to that node
 * (docs/mosquitto/acl). Everything else a node publishes ends in its id (the
 * retained status, acknowledgements, events).
 */
import type { NodeConfig, Topics } from "./config-types";

export type { Topics };

/**
 * `t` with its first `{id}` replaced by `id` (the schema allows one).
 * Peeled one character at a time because `slice` with a computed bound
 * costs a lualib helper on the device (TS-SUBSET.md) while literal bounds
 * compile to a plain `string.sub`; it runs at boot and when the schema
 * checks a template (config.ts), over at most 34 characters. JS counts
 * UTF-16 units and Lua bytes, each consistently, so both give the same
 * topic. (Short names: app.lua has a byte budget.)
 */
export function fillId(t: string, id: string): string {
  let h = "";
  let r = t;
  // eslint-disable-next-line no-restricted-syntax -- indexOf on a string is string.find: no lualib (TS-SUBSET.md, Free)
  while (r.indexOf("{id}") > 0) {
    h = h + r.slice(0, 1);
    r = r.slice(1);
  }
  return r.slice(0, 4) === "{id}" ? h + id + r.slice(4) : t;
}

export function topicsFor(config: NodeConfig, nodeId: string): Topics {
  const p = config.topic_prefix !== "" ? config.topic_prefix + "/" : "";
  return {
    data: p + fillId(config.topic_data, nodeId),
    config: p + config.topic_config,
    status: p + "status/" + nodeId,
    ack: p + "config_ack/" + nodeId,
    event: p + "event/" + nodeId,
  };
}
