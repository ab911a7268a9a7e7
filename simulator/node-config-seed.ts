/**
 * The config.json each simulated node boots from, built from the fleet's
 * options and what the node stored before. Connection settings (broker,
 * credentials, node id, topic prefix, reconnect timing) always come from the
 * fleet options; run-time settings a `config_change` may alter (interval,
 * sensitivity, …) keep the node's stored value, so an applied config survives
 * a restart of the simulator the way it survives a reboot of a device —
 * unless the option was given explicitly: one rule for every command (issue
 * 12), an explicit flag wins over a stored setting, a default does not.
 * Explicit run-time options come in `fixed`, defaults in `initial`.
 */
import { CONFIG_FILE, checkValue, defaultConfig, findSpec, type NodeConfig, runtimeView } from "../firmware/core/config";
import { type BrokerTarget, loginFor } from "../broker/target";
import { CliError } from "../common/errors";
import type { NodeFiles } from "./node-storage";

export interface FleetNodeSettings {
  broker: BrokerTarget;
  /** Run-time keys for nodes that have none stored yet (e.g. interval_ms from --interval's default). */
  initial: Partial<NodeConfig>;
  /**
   * Keys forced on every start (e.g. topic_prefix, reconnect_min_ms), beyond
   * the connection; also run-time keys whose option was given explicitly
   * (e.g. --interval 500ms), which win over a stored value.
   */
  fixed: Partial<NodeConfig>;
}

type Fields = Record<string, unknown>;

/**
 * Keys and their checks come through the core's functions only (not the
 * shape of its SCHEMA entries), so a change of the schema's representation
 * in firmware/core does not ripple into the simulator.
 */
const ALL_KEYS = Object.keys(defaultConfig());
const RUNTIME_KEYS = new Set(Object.keys(runtimeView(defaultConfig())));

/** Why `value` is not acceptable for `key`, or undefined when it is. */
function problemWith(key: string, value: unknown): string | undefined {
  const spec = findSpec(key);
  return spec === undefined ? "is not a node setting" : checkValue(spec, value);
}

/** Reject option values the node's own validator would refuse, naming the key and the bounds. */
export function checkFleetSettings(settings: FleetNodeSettings, optionFor: (key: string) => string): void {
  const problems: string[] = [];
  for (const part of [settings.initial, settings.fixed]) {
    for (const [key, value] of Object.entries(part)) {
      const reason = problemWith(key, value);
      if (reason !== undefined) {
        problems.push(`${optionFor(key)}: ${key} ${reason}`);
      }
    }
  }
  const fixed = { ...defaultConfig(), ...settings.fixed };
  if (fixed.reconnect_min_ms > fixed.reconnect_max_ms) {
    problems.push("reconnect_min_ms must not exceed reconnect_max_ms");
  }
  if (settings.broker.host.length > 64) {
    problems.push(`the broker host name is longer than the 64 characters a node can store`);
  }
  if (problems.length > 0) {
    throw new CliError(problems.join("\n"), 2);
  }
}

export interface SeededConfig {
  config: NodeConfig;
  /** Run-time keys whose stored value was kept although the options asked for another. */
  kept: string[];
}

export function seedConfig(nodeId: string, stored: unknown, settings: FleetNodeSettings): SeededConfig {
  const config = defaultConfig() as unknown as Fields;
  const previous: Fields = typeof stored === "object" && stored !== null && !Array.isArray(stored) ? (stored as Fields) : {};
  const initial = settings.initial as Fields;
  const fixed = settings.fixed as Fields;
  const kept: string[] = [];
  for (const key of ALL_KEYS) {
    const storedValue = previous[key];
    const storedOk = storedValue !== undefined && problemWith(key, storedValue) === undefined;
    if (RUNTIME_KEYS.has(key) && fixed[key] !== undefined) {
      // Given explicitly: it wins over the stored value (and is stored in its place).
      config[key] = fixed[key];
    } else if (RUNTIME_KEYS.has(key)) {
      if (storedOk) {
        config[key] = storedValue;
        if (initial[key] !== undefined && JSON.stringify(initial[key]) !== JSON.stringify(storedValue)) {
          kept.push(key);
        }
      } else if (initial[key] !== undefined) {
        config[key] = initial[key];
      }
    } else if (fixed[key] !== undefined) {
      config[key] = fixed[key];
    } else if (storedOk) {
      config[key] = storedValue;
    }
  }
  const b = settings.broker;
  // The node's own login (per-node user and password with --user/--credentials), as a flashed node holds it.
  const login = loginFor(b, nodeId);
  config.node_id = nodeId;
  config.mqtt_host = b.host;
  config.mqtt_port = b.port;
  config.mqtt_secure = b.secure;
  config.mqtt_user = login.user;
  config.mqtt_password = login.user !== "" ? login.password : "";
  return { config: config as unknown as NodeConfig, kept };
}

/**
 * Seed the config.json in a node's `files` from what it stored there and the
 * settings, as seedConfig does; the file is written only when it changes.
 */
export function seedNodeFiles(nodeId: string, files: NodeFiles, settings: FleetNodeSettings): SeededConfig {
  const stored = files.read(CONFIG_FILE);
  let previous: unknown = undefined;
  try {
    previous = stored !== undefined ? JSON.parse(stored) : undefined;
  } catch {
    // A corrupt file: the node falls back to the settings, as loadConfig would.
  }
  const seeded = seedConfig(nodeId, previous, settings);
  const text = JSON.stringify(seeded.config);
  // Unchanged on a restart: no disk write (they cost 0.1-1 ms each on a busy disk).
  if (text !== stored) {
    files.write(CONFIG_FILE, text);
  }
  return seeded;
}
