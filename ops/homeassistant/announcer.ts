/**
 * `--homeassistant`: announce each node the host hears to Home Assistant
 * (discovery.ts), on a client of its own. The host hands it what it hears
 * (readings, statuses); a node is announced when first heard, and again
 * when it reports a new sensor, a new readings topic or new firmware.
 * Everything is announced again when Home Assistant says `online` on
 * `<prefix>/status` (it restarted and may have lost what it knew), and a node
 * whose retained status is cleared (an empty retained message on
 * `P/status/<id>`, which the console's "remove" sends) is removed.
 *
 * Configs are retained, QoS 1, published at most PUBLISH_WINDOW at a time:
 * 20,000 nodes are 60,000 messages, which must not all sit in memory at once.
 */
import type { MqttClient } from "mqtt";
import { connectClient, type BrokerTarget } from "../../broker/target";
import { topicMatches, type OperatorTopics } from "../../broker/topics";
import { decodeMessage } from "../collect/messages";
import { SENSORS, type Sensor } from "../collect/schema";
import { announce, removal, type AnnouncedNode, type DiscoveryOptions, type Publication } from "./discovery";

/** Publications in flight at once. */
const PUBLISH_WINDOW = 500;
const RECONNECT_MS = 1000;

export interface AnnouncerOptions {
  target: BrokerTarget;
  clientId: string;
  topics: OperatorTopics;
  discovery: DiscoveryOptions;
  log: (line: string) => void;
}

interface Known {
  node: AnnouncedNode;
  /** Bit i: SENSORS[i] reported. */
  mask: number;
}

export class HomeAssistantAnnouncer {
  private readonly known = new Map<string, Known>();
  /** Firmware of nodes whose status came before any reading (the retained status arrives first). */
  private readonly firmware = new Map<string, string>();
  /** Topic -> payload still to publish; a newer payload for a topic replaces the pending one. */
  private readonly pending = new Map<string, string>();
  private pumping: Promise<void> | undefined = undefined;
  private closed = false;
  /** Publications done, for tests and the report. */
  published = 0;

  private constructor(
    private readonly client: MqttClient,
    private readonly options: AnnouncerOptions,
  ) {
    const status = `${options.discovery.prefix}/status`;
    client.on("message", (topic, payload) => {
      if (topic === status && payload.toString("utf8").trim() === "online") {
        options.log(`Home Assistant is online (${status}): announcing ${this.known.size} nodes again`);
        for (const known of this.known.values()) {
          this.queue(announce(known.node, options.discovery));
        }
      }
    });
    const subscribe = (): void => void client.subscribeAsync(status, { qos: 1 }).catch(() => undefined);
    client.on("connect", subscribe);
    subscribe();
  }

  static async start(options: AnnouncerOptions): Promise<HomeAssistantAnnouncer> {
    const client = await connectClient(options.target, options.clientId, RECONNECT_MS);
    return new HomeAssistantAnnouncer(client, options);
  }

  /** Nodes announced (or about to be). */
  get nodes(): number {
    return this.known.size;
  }

  /** A reading of `node` heard on `topic` carrying these sensors (values, or failed reads). */
  reading(node: string, topic: string, sensors: Iterable<string>): void {
    let mask = 0;
    for (const name of sensors) {
      const i = (SENSORS as readonly string[]).indexOf(name);
      if (i >= 0) {
        mask |= 1 << i;
      }
    }
    const known = this.known.get(node);
    if (known !== undefined && (known.mask | mask) === known.mask && known.node.stateTopic === topic) {
      return; // the common case: nothing new
    }
    const merged = (known?.mask ?? 0) | mask;
    if (merged === 0) {
      return; // nothing to show yet (every sensor failed before the first value)
    }
    const node_: AnnouncedNode = {
      id: node,
      stateTopic: topic,
      // The status filter ends in "+": the node's id goes there.
      statusTopic: this.options.topics.status.slice(0, -1) + node,
      sensors: SENSORS.filter((_, i) => (merged & (1 << i)) !== 0),
      fw: known?.node.fw ?? this.firmware.get(node) ?? "",
    };
    this.firmware.delete(node);
    this.known.set(node, { node: node_, mask: merged });
    this.queue(announce(node_, this.options.discovery));
  }

  /** A status of `node` (its firmware version goes into the device block). */
  status(node: string, fw: string | null): void {
    const known = this.known.get(node);
    if (known === undefined && fw !== null) {
      this.firmware.set(node, fw);
    } else if (known !== undefined && fw !== null && fw !== known.node.fw) {
      known.node = { ...known.node, fw };
      this.queue(announce(known.node, this.options.discovery));
    }
  }

  /** Forget `node` and clear its configs (empty retained payloads). */
  remove(node: string): void {
    const known = this.known.get(node);
    this.firmware.delete(node);
    if (known !== undefined) {
      this.known.delete(node);
      this.queue(removal(known.node, this.options.discovery));
    }
  }

  /** For hosts that do not decode messages themselves (the collector): one message of the fleet's topics. */
  observe(topic: string, payload: Buffer): void {
    if (payload.length === 0 && topicMatches(this.options.topics.status, topic)) {
      this.remove(topic.slice(topic.lastIndexOf("/") + 1));
      return;
    }
    const decoded = decodeMessage(this.options.topics, topic, payload, Date.now());
    if (decoded.type === "reading") {
      this.reading(decoded.reading.node, topic, sensorsOf(decoded.reading.values, decoded.reading.extra));
    } else if (decoded.type === "status") {
      this.status(decoded.status.node, decoded.status.fw);
    }
  }

  /** Resolves when nothing is left to publish. */
  async idle(): Promise<void> {
    while (this.pumping !== undefined) {
      await this.pumping;
    }
  }

  /** Publish what is pending (for up to `timeoutMs`), then leave the broker. */
  async close(timeoutMs = 5000): Promise<void> {
    let timer: NodeJS.Timeout | undefined = undefined;
    await Promise.race([this.idle(), new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    this.closed = true;
    await this.client.endAsync(true);
  }

  private queue(publications: Publication[]): void {
    for (const p of publications) {
      this.pending.delete(p.topic); // re-inserted last: a topic is published in the order of its latest change
      this.pending.set(p.topic, p.payload);
    }
    this.pumping ??= this.pump().finally(() => {
      this.pumping = undefined;
    });
  }

  private async pump(): Promise<void> {
    while (this.pending.size > 0 && !this.closed) {
      const window: [string, string][] = [];
      for (const entry of this.pending) {
        window.push(entry);
        this.pending.delete(entry[0]);
        if (window.length === PUBLISH_WINDOW) {
          break;
        }
      }
      const results = await Promise.allSettled(window.map(([topic, payload]) => this.client.publishAsync(topic, payload, { qos: 1, retain: true })));
      const failed = results.filter((r) => r.status === "rejected").length;
      this.published += window.length - failed;
      if (failed > 0) {
        this.options.log(`Home Assistant discovery: ${failed} of ${window.length} configs not published (${(results.find((r) => r.status === "rejected") as PromiseRejectedResult).reason}); they go again at its next "online"`);
      }
    }
  }
}

/** The sensors a reading carried: its values and its failed reads. */
export function sensorsOf(values: Partial<Record<Sensor, number>>, extra: Record<string, unknown> | null): string[] {
  const names: string[] = Object.keys(values);
  if (Array.isArray(extra?.failed)) {
    for (const f of extra.failed as unknown[]) {
      if (typeof f === "string") {
        names.push(f);
      }
    }
  }
  return names;
}
