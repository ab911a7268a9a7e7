/**
 * The persistent session of a collector (`espfleet collect`): the topics it
 * subscribes to at QoS 1. One list for the collector, which subscribes to
 * it, and for the embedded broker, which can make the session before the
 * fleet starts (`espfleet run --collector-session`, as `npm start` does) so
 * the readings published before the collector first connects are queued
 * for it instead of lost.
 */
import { droppedTopic } from "./dropped";
import { operatorTopics } from "./topics";

/** The collector's default client id (`espfleet collect --client-id`). */
export const DEFAULT_COLLECTOR_CLIENT_ID = "espfleet-collect";

/** Readings (both layouts unless topic_data has {id}), statuses, events, acks, and the broker's drop count for this client id. */
export function collectorTopics(prefix: string, topicData: string | undefined, clientId: string): string[] {
  const topics = operatorTopics(prefix, topicData);
  return [...topics.readings, topics.status, topics.events, topics.acks, droppedTopic(clientId)];
}
