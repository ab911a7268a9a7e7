/**
 * Home Assistant MQTT discovery for a fleet's nodes, published by the host
 * (the collector or the console), so it costs the ESP8266 no heap: for each
 * node, one sensor entity per sensor it reports, reading the node's own
 * topics. Pure: which topics and retained payloads announce a node, and
 * which empty ones remove it; announcer.ts publishes them.
 *
 * Two layouts, as Home Assistant accepts both:
 * - "sensor": one config per entity, `<prefix>/sensor/<unique_id>/config`;
 * - "device": one config per node, `<prefix>/device/<device id>/config`, its
 *   entities under `components` (Home Assistant 2024.11 and later).
 *
 * Each entity reads the node's readings topic with a `value_template` that
 * picks its sensor from the node's own readings and renders nothing for
 * any other node's (the shared `sensor_data` topic carries the whole fleet);
 * Home Assistant ignores an empty rendering of a numeric sensor. It is
 * available while the node's retained status says `online`.
 */
import { createHash } from "node:crypto";
import type { Sensor } from "../collect/schema";

export type DiscoveryStyle = "sensor" | "device";
export const DISCOVERY_STYLES: readonly DiscoveryStyle[] = ["sensor", "device"];
/** Home Assistant's default discovery prefix; it announces itself on `<prefix>/status`. */
export const DEFAULT_DISCOVERY_PREFIX = "homeassistant";

/** What Home Assistant is told about each sensor. The adc has no device class: raw counts are no physical quantity. */
const SENSOR_ENTITIES: Record<Sensor, { name: string; deviceClass?: string; unit: string }> = {
  temperature: { name: "Temperature", deviceClass: "temperature", unit: "°C" },
  humidity: { name: "Humidity", deviceClass: "humidity", unit: "%" },
  vdd: { name: "Supply voltage", deviceClass: "voltage", unit: "V" },
  adc: { name: "ADC", unit: "counts" },
};

/** A node as the announcer knows it. */
export interface AnnouncedNode {
  /** The node's id (`node-0001`). */
  id: string;
  /** Where its readings were heard (`P/sensor_data` or `P/sensor_data/<id>`). */
  stateTopic: string;
  /** Its retained status topic, `P/status/<id>`. */
  statusTopic: string;
  /** The sensors it reported, in the order of SENSOR_ENTITIES. */
  sensors: Sensor[];
  /** Its firmware version, from its status; "" while unknown. */
  fw: string;
}

export interface DiscoveryOptions {
  style: DiscoveryStyle;
  /** Discovery prefix (Home Assistant's `discovery_prefix`). */
  prefix: string;
  /** The fleet's topic prefix (topic_prefix): part of every id, so two fleets on one broker do not collide. */
  fleet: string;
  /** Version of this program, for the `origin` block. */
  version: string;
}

export interface Publication {
  topic: string;
  /** "" clears a retained config (removal). */
  payload: string;
}

/**
 * `text` as a discovery topic level and id: letters, digits, `_` and `-`
 * only. Anything else becomes `_`, and a short hash of the original is
 * added then, so `node.1` and `node_1` stay two devices.
 */
export function slug(text: string): string {
  const clean = text.replace(/[^A-Za-z0-9_-]/g, "_");
  return clean === text && clean !== "" ? clean : `${clean}_${createHash("sha256").update(text).digest("hex").slice(0, 6)}`;
}

/** The device's id: `espfleet_<fleet>_<node>` (no fleet part without a topic prefix). */
export function deviceId(options: DiscoveryOptions, node: string): string {
  return `espfleet_${options.fleet !== "" ? slug(options.fleet) + "_" : ""}${slug(node)}`;
}

export function uniqueId(options: DiscoveryOptions, node: string, sensor: Sensor): string {
  return `${deviceId(options, node)}_${sensor}`;
}

/** Home Assistant entity ids are lowercase letters, digits and `_`. */
function entityId(unique: string): string {
  return "sensor." + unique.toLowerCase().replace(/[^a-z0-9_]/g, "_");
}

/** Picks `sensor` from this node's readings only; renders "" (ignored) for any other node's. */
export function valueTemplate(node: string, sensor: Sensor): string {
  // JSON's string escapes are valid in a Jinja string literal.
  return `{% if value_json.id == ${JSON.stringify(node)} and value_json.${sensor} is defined %}{{ value_json.${sensor} }}{% endif %}`;
}

function device(node: AnnouncedNode, options: DiscoveryOptions): Record<string, unknown> {
  return {
    identifiers: [deviceId(options, node.id)],
    name: node.id,
    manufacturer: "espfleet",
    model: "ESP8266 sensor node",
    ...(node.fw !== "" ? { sw_version: node.fw } : {}),
  };
}

function origin(options: DiscoveryOptions): Record<string, unknown> {
  return { name: "espfleet", sw_version: options.version };
}

function availability(node: AnnouncedNode): Record<string, unknown> {
  return { availability_topic: node.statusTopic, availability_template: "{{ value_json.state }}", payload_available: "online", payload_not_available: "offline" };
}

/** The entity's own options (what device-based discovery lists under `components`). */
function entity(node: AnnouncedNode, sensor: Sensor, options: DiscoveryOptions): Record<string, unknown> {
  const meta = SENSOR_ENTITIES[sensor];
  const unique = uniqueId(options, node.id, sensor);
  return {
    name: meta.name,
    unique_id: unique,
    default_entity_id: entityId(unique),
    ...(meta.deviceClass !== undefined ? { device_class: meta.deviceClass } : {}),
    unit_of_measurement: meta.unit,
    state_class: "measurement",
    value_template: valueTemplate(node.id, sensor),
  };
}

/** The retained configs that announce `node` (or update it: same topics, new payloads). */
export function announce(node: AnnouncedNode, options: DiscoveryOptions): Publication[] {
  if (options.style === "device") {
    const components: Record<string, unknown> = {};
    for (const sensor of node.sensors) {
      components[uniqueId(options, node.id, sensor)] = { platform: "sensor", ...entity(node, sensor, options) };
    }
    const payload = { device: device(node, options), origin: origin(options), state_topic: node.stateTopic, ...availability(node), components };
    return [{ topic: `${options.prefix}/device/${deviceId(options, node.id)}/config`, payload: JSON.stringify(payload) }];
  }
  return node.sensors.map((sensor) => ({
    topic: `${options.prefix}/sensor/${uniqueId(options, node.id, sensor)}/config`,
    payload: JSON.stringify({ ...entity(node, sensor, options), state_topic: node.stateTopic, ...availability(node), device: device(node, options), origin: origin(options) }),
  }));
}

/** Empty retained payloads on the topics `announce` used: Home Assistant removes the entities (and a device left without any). */
export function removal(node: AnnouncedNode, options: DiscoveryOptions): Publication[] {
  return announce(node, options).map((p) => ({ topic: p.topic, payload: "" }));
}
