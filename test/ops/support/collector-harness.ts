/**
 * The collector in the test's own process, wired as `espfleet collect` wires
 * it (collector.ts + subscriber.ts), on any store and broker: the tests look
 * at its counters and its store directly.
 */
import type { BrokerTarget } from "../../../broker/target";
import { collectorTopics } from "../../../broker/collector-session";
import { operatorTopics } from "../../../broker/topics";
import { Collector } from "../../../ops/collect/collector";
import type { Store } from "../../../ops/collect/store";
import { startSubscriber, type Subscriber } from "../../../ops/collect/subscriber";

export interface RunningCollector {
  collector: Collector;
  subscriber: Subscriber;
  log: string[];
  /** Commit what was received (up to `drainMs`), then leave the broker. */
  stop(drainMs?: number): Promise<boolean>;
}

export async function startCollector(options: {
  target: BrokerTarget;
  store: Store;
  prefix: string;
  clientId: string;
  topicData?: string;
  retryMaxMs?: number;
  maxBatch?: number;
  /** Sees every message as it arrives, before the collector (the benchmark checks the order). */
  tap?: (topic: string, payload: Buffer) => void;
}): Promise<RunningCollector> {
  const topics = operatorTopics(options.prefix, options.topicData);
  const log: string[] = [];
  const collector = await Collector.create({
    store: options.store,
    topics,
    maxBatch: options.maxBatch ?? 1000,
    maxPending: 100_000,
    retryMinMs: 100,
    retryMaxMs: options.retryMaxMs ?? 500,
    log: (line) => log.push(line),
  });
  const subscriber = await startSubscriber({
    target: options.target,
    clientId: options.clientId,
    filters: collectorTopics(options.prefix, options.topicData, options.clientId),
    reconnectMs: 200,
    waitMs: 0,
    onMessage: (topic, payload, ack) => {
      options.tap?.(topic, payload);
      collector.receive(topic, payload, ack);
    },
    hasRoom: () => collector.hasRoom(),
    whenRoom: () => collector.whenRoom(),
    onConnect: (present) => log.push(`connected, session present: ${present}`),
  });
  return {
    collector,
    subscriber,
    log,
    async stop(drainMs = 5000) {
      subscriber.pause();
      const drained = await collector.drain(drainMs);
      await subscriber.close();
      return drained;
    },
  };
}

/** A reading as a node publishes it. */
export function readingPayload(id: string, boot: number, seq: number, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ id, seq, boot, up: seq, temperature: 20 + (seq % 10) / 10, humidity: 40, ...extra });
}
