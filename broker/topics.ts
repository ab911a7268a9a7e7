/**
 * The topics of a fleet as the host side sees them: where readings, status,
 * events and acks of every node arrive (as MQTT filters), and the one place
 * that turns a `topic_data` setting into those filters. Used by the
 * simulator, the operator tools and the host bridge.
 */
import { checkValue, defaultConfig, findSpec } from "../firmware/core/config";
import { topicsFor } from "../firmware/core/topics";
import { CliError } from "../common/errors";

/** The nodes' default readings topic (`topic_data`): `sensor_data`, one topic for the whole fleet. */
export const DEFAULT_TOPIC_DATA = defaultConfig().topic_data;

/** The operator's side of the topic contract (firmware/core/topics.ts), as MQTT filters. */
export interface OperatorTopics {
  config: string;
  /** Every node's acknowledgements: `P/config_ack/+`. */
  acks: string;
  /** Exactly where nodes with this `topic_data` publish readings, `{id}` as `+`: `P/sensor_data`, or `P/sensor_data/+` for `sensor_data/{id}`. */
  data: string;
  /**
   * What a consumer subscribes to for readings: `data`, and when `topic_data`
   * has no `{id}` also `data/+`, so nodes flashed with the per-node layout
   * (`sensor_data/{id}`) are heard too (the id comes from the payload).
   */
  readings: string[];
  status: string;
  events: string;
}

/** Topics of the operator's side for a fleet with `prefix` (topic_prefix; "" for none) and `topicData` (topic_data). */
export function operatorTopics(prefix: string, topicData: string = DEFAULT_TOPIC_DATA): OperatorTopics {
  const t = topicsFor({ ...defaultConfig(), topic_prefix: prefix, topic_data: topicData }, "+");
  const readings = topicData.includes("{id}") ? [t.data] : [t.data, t.data + "/+"];
  return { config: t.config, acks: t.ack, data: t.data, readings, status: t.status, events: t.event };
}

/**
 * Is `topic` one of the readings topics of `topics`, and which node id does
 * it carry? undefined: not a readings topic; `{}`: a shared topic (the id is
 * only in the payload); `{ id }`: the level where the filter has its `+`.
 * A reading whose payload names another id than its topic is forged: on a
 * broker with the per-node ACL only the node itself may write its topic.
 */
export function readingTopic(topics: OperatorTopics, topic: string): { id?: string } | undefined {
  for (const filter of topics.readings) {
    if (topicMatches(filter, topic)) {
      const level = filter.split("/").lastIndexOf("+");
      return level < 0 ? {} : { id: topic.split("/")[level] };
    }
  }
  return undefined;
}

/**
 * Why an operator command heard nothing, and what to do: the usual cause is
 * a missing (or another) --prefix; docs/mosquitto's ACL keeps the fleet
 * under "espfleet". `refused` names topics the broker refused to let this
 * login subscribe to (SUBACK 0x80: its ACL).
 */
export function nothingHeardHint(prefix: string, refused: readonly string[] = [], user = ""): string {
  const acl = refused.length > 0 ? `the broker refused the subscription to ${refused.join(", ")}: its ACL does not let ${user !== "" ? `user "${user}"` : "this login"} read ${refused.length === 1 ? "it" : "them"}; ` : "";
  return prefix === ""
    ? `${acl}on a broker with docs/mosquitto's ACL the fleet's topics are under a prefix: add --prefix espfleet (or the nodes' topic_prefix; env ESPFLEET_PREFIX)`
    : `${acl}is "${prefix}" the nodes' topic_prefix? --prefix must be the same as theirs (docs/mosquitto's ACL: espfleet)`;
}

/** Refuse a --topic-data a node would refuse (the schema's reason), before connecting. */
export function checkTopicData(topicData: string): void {
  const spec = findSpec("topic_data");
  const reason = spec !== undefined ? checkValue(spec, topicData) : undefined;
  if (reason !== undefined) {
    throw new CliError(`--topic-data: topic_data ${reason}`, 2);
  }
}

/**
 * MQTT topic filter match for the single-level wildcard `+` used here.
 * Walks both strings in place: it runs on every publish of every simulated node.
 */
export function topicMatches(filter: string, topic: string): boolean {
  let t = 0;
  for (let f = 0; f < filter.length; f++) {
    const c = filter.charCodeAt(f);
    // "+" as a whole level: skip one level of the topic.
    if (c === 43 && (f === 0 || filter.charCodeAt(f - 1) === 47) && (f + 1 === filter.length || filter.charCodeAt(f + 1) === 47)) {
      while (t < topic.length && topic.charCodeAt(t) !== 47) {
        t++;
      }
    } else if (t < topic.length && topic.charCodeAt(t) === c) {
      t++;
    } else {
      return false;
    }
  }
  return t === topic.length;
}
