/**
 * The core's cold code (firmware/core/cold.ts) as the simulator hands it to
 * the node, with one difference that only V8 can see: every config it
 * returns is an object literal of one fixed shape instead of the object
 * config.ts builds.
 *
 * config.ts builds a config key by key from its schema (`config[spec[0]] =
 * …`, 25 keys). V8 turns an object that gains more than about a dozen
 * properties through computed keys into a dictionary (a hash table per
 * object): about 0.8 KB of heap per config instead of about 0.1 KB, and a
 * hash lookup at every `config.interval_ms` of the node and the sensor model
 * (issue 14). The code is the firmware's, which also runs as Lua on the
 * device, so it stays as it is; the platform copies the result into a
 * literal, once per boot and per applied change. Same keys, same order (the
 * schema's), same values: JSON of the copy is the same text, and the tests
 * (test/simulator/fast-cfg.test.ts) hold the literal to the schema.
 *
 * The texts every node of a fleet holds alike (topic prefix and names, the
 * broker's host, sensor names, the shared topics) are kept once per process
 * instead of once per node (each node parses its own config.json), and the
 * node's own topics are kept as plain strings rather than the chains of
 * pieces `+` builds (V8 keeps those pieces): about 0.5 KB per node.
 */
import * as cold from "../firmware/core/cold";
import type { NodeConfig, Topics } from "../firmware/core/config-types";
import type { CfgModule } from "../firmware/core/platform";

/** `s` as one flat string of its own (`a + b` is a chain that keeps a and b); exact for any string, lone surrogates included. */
function flat(s: string): string {
  return JSON.parse(JSON.stringify(s)) as string;
}

/** Texts the nodes share, each kept once; bounded, so odd configs cannot grow it without end. */
const shared = new Map<string, string>();
const MAX_SHARED = 1000;

/** The process's one copy of `s` (a text many nodes hold alike). */
export function share(s: string): string {
  const known = shared.get(s);
  if (known !== undefined) {
    return known;
  }
  const one = flat(s);
  if (shared.size < MAX_SHARED) {
    shared.set(one, one);
  }
  return one;
}

/** The sensor list as an array of its exact length (a parsed or pushed one has room for 17), names shared. */
function sensorList(names: string[]): string[] {
  return names.map(share);
}

/**
 * `c` as a literal of the one shared shape (every node's config has the same
 * hidden class). tsc refuses a missing or an extra key; the order is the schema's.
 * Texts all nodes hold alike are shared; the node's own ones (id, login, keys) are not.
 */
export function fastConfig(c: NodeConfig): NodeConfig {
  return {
    node_id: c.node_id,
    wifi_ssid: share(c.wifi_ssid),
    wifi_password: c.wifi_password,
    mqtt_host: share(c.mqtt_host),
    mqtt_port: c.mqtt_port,
    mqtt_secure: c.mqtt_secure,
    mqtt_user: c.mqtt_user,
    mqtt_password: c.mqtt_password,
    mqtt_keepalive_s: c.mqtt_keepalive_s,
    fleet_key: c.fleet_key,
    config_counter: c.config_counter,
    accept_first_key: c.accept_first_key,
    topic_prefix: share(c.topic_prefix),
    topic_data: share(c.topic_data),
    topic_config: share(c.topic_config),
    interval_ms: c.interval_ms,
    sensitivity: c.sensitivity,
    heartbeat_ms: c.heartbeat_ms,
    sensors: sensorList(c.sensors),
    buffer_capacity: c.buffer_capacity,
    qos: c.qos,
    reconnect_min_ms: c.reconnect_min_ms,
    reconnect_max_ms: c.reconnect_max_ms,
    flush_gap_ms: c.flush_gap_ms,
    dht_pin: c.dht_pin,
  };
}

/** The node's topics: the fleet-wide ones shared, its own (they hold its id) as plain strings. */
function fastTopics(t: Topics, id: string): Topics {
  const own = (topic: string): string => (topic.includes(id) ? flat(topic) : share(topic));
  return { data: own(t.data), config: own(t.config), status: flat(t.status), ack: flat(t.ack), event: flat(t.event) };
}

/** cold.ts, typed as the Platform says (so tsc checks that the two agree). */
const module: CfgModule = cold;

/** What NodePlatform.loadModule returns: cold.ts, each config it returns in the shared shape. */
export const fastCfg: CfgModule = {
  boot(p) {
    const state = module.boot(p);
    state.config = fastConfig(state.config);
    // The id is the platform's string when it is the same text (it usually is: the fleet seeds node_id).
    const id = p.defaultNodeId();
    if (state.id === id) {
      state.id = id;
    }
    if (state.config.node_id === id) {
      state.config.node_id = id;
    }
    state.topics = fastTopics(state.topics, state.id);
    return state;
  },
  configChange(p, current, id, payload) {
    const outcome = module.configChange(p, current, id, payload);
    if (outcome.apply !== undefined) {
      outcome.apply = fastConfig(outcome.apply);
    }
    return outcome;
  },
  copyConfig: (source) => fastConfig(module.copyConfig(source)),
  defaultConfig: () => fastConfig(module.defaultConfig()),
  topicsFor: module.topicsFor,
};
