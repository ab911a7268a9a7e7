/**
 * The console's MQTT session: hears the fleet (readings, statuses, events,
 * acks) and publishes its config changes. A clean session with its own
 * client id: the console shows what happens now, the collector is the one
 * that must not lose anything. Readings are taken at QoS 0 (no PUBACK per
 * reading: at 10,000 readings/s that is a third of the console's CPU);
 * statuses, events and acks at QoS 1.
 *
 * Each message is decoded as the collector decodes it (ops/collect/messages.ts)
 * and handed to the fleet's rows, the recent readings, the changes and, with
 * --homeassistant, the announcer. A status cleared (an empty retained
 * message on status/<id>) removes the node.
 */
import mqtt, { type MqttClient } from "mqtt";
import { diagnoseConnectError, mqttOptions, type BrokerTarget } from "../../broker/target";
import { topicMatches, type OperatorTopics } from "../../broker/topics";
import { CliError } from "../../common/errors";
import { decodeMessage, decodeReading, type IncomingReading } from "../collect/messages";
import type { StoredMessage } from "../collect/store";
import { parseAck } from "../config/change";
import { sensorsOf, type HomeAssistantAnnouncer } from "../homeassistant/announcer";
import { reasonText, type ConfigChanges } from "./config-changes";
import type { FleetState } from "./fleet-state";
import type { RecentReadings } from "./recent-readings";

const RECONNECT_MS = 1000;

export interface LiveLinkOptions {
  target: BrokerTarget;
  topics: OperatorTopics;
  clientId: string;
  /** Keep trying the first connection this long (ms); 0: fail at once with advice. */
  waitMs: number;
  fleet: FleetState;
  recent: RecentReadings;
  changes: ConfigChanges;
  announcer?: () => HomeAssistantAnnouncer | undefined;
  /** An ack answered one of the console's changes. */
  onChangeAck: (req: string) => void;
  /** A status change, an event or an ack of a node, for the node's timeline. */
  onNodeMessage: (message: StoredMessage) => void;
  onConnection: (up: boolean) => void;
}

export interface LiveLink {
  readonly client: MqttClient;
  publish(topic: string, payload: string, retain?: boolean): Promise<void>;
  connected(): boolean;
  close(): Promise<void>;
}

export function startLiveLink(o: LiveLinkOptions): Promise<LiveLink> {
  const client = mqtt.connect({ ...mqttOptions(o.target, o.clientId), clean: true, reconnectPeriod: RECONNECT_MS });
  const { topics, fleet } = o;
  // The whole fleet's readings topic (no {id} in topic_data): the hot path, 10,000 messages a second at 1 Hz.
  const shared = topics.data.includes("+") ? undefined : topics.data;
  const reading = (r: IncomingReading, topic: string, now: number): void => {
    const dropped = r.extra?.dropped;
    const row = fleet.reading(r.node, r.boot, r.seq, typeof dropped === "number" ? dropped : undefined, now);
    o.recent.add(row, r.timeMs, r.values);
    o.announcer?.()?.reading(r.node, topic, sensorsOf(r.values, r.extra));
  };
  client.on("message", (topic, payload) => {
    const now = Date.now();
    if (payload.length === 0) {
      if (topicMatches(topics.status, topic)) {
        const node = topic.slice(topic.lastIndexOf("/") + 1);
        const row = fleet.indexOf(node);
        fleet.remove(node);
        if (row !== undefined) {
          o.recent.forget(row);
        }
        o.announcer?.()?.remove(node);
      }
      return;
    }
    if (topic === shared) {
      // Parsed once and checked by the collector's rules (decodeReading), without matching the topic again.
      let body: unknown;
      try {
        body = JSON.parse(payload.toString("utf8"));
      } catch {
        return;
      }
      const r = typeof body === "object" && body !== null && !Array.isArray(body) ? decodeReading(body as Record<string, unknown>, now) : "not an object";
      if (typeof r !== "string") {
        reading(r, topic, now);
      }
      return;
    }
    const decoded = decodeMessage(topics, topic, payload, now);
    if (decoded.type === "reading") {
      reading(decoded.reading, topic, now);
    } else if (decoded.type === "status") {
      const s = decoded.status;
      fleet.status(s.node, s.state, s.fw);
      o.announcer?.()?.status(s.node, s.fw);
      o.onNodeMessage({ node: s.node, timeMs: now, kind: "event", code: `status ${s.state}`, body: JSON.parse(payload.toString("utf8")) as Record<string, unknown> });
    } else if (decoded.type === "message") {
      const m = decoded.message;
      if (m.kind === "ack") {
        const ack = parseAck(payload.toString("utf8"));
        if (ack !== undefined && ack.id === m.node) {
          fleet.ack(m.node, { req: ack.req ?? "", result: ack.result, reasons: ack.result === "rejected" ? reasonText(ack.errors) : "" }, ack.result === "applied" ? ack.config : undefined);
          const req = o.changes.ack(ack);
          if (req !== undefined) {
            o.onChangeAck(req);
          }
        }
      } else if (m.code === "readings_dropped" && typeof m.body.total === "number") {
        fleet.dropped(m.node, m.body.total);
      }
      o.onNodeMessage({ node: m.node, timeMs: m.timeMs, kind: m.kind, code: m.code, body: m.body });
    }
  });
  const subscribe = (): void => {
    client.subscribe(topics.readings, { qos: 0 });
    client.subscribe([topics.status, topics.events, topics.acks], { qos: 1 });
  };
  client.on("connect", () => {
    subscribe();
    o.onConnection(true);
  });
  client.on("offline", () => o.onConnection(false));

  return new Promise((resolve, reject) => {
    let lastError: (Error & { code?: string | number }) | undefined = undefined;
    client.on("error", (error: Error & { code?: string | number }) => {
      lastError = error;
    });
    const deadline = Date.now() + o.waitMs;
    const onClose = (): void => {
      if (Date.now() < deadline && !/not authorized|bad user name/i.test(lastError?.message ?? "")) {
        return; // mqtt.js tries again after RECONNECT_MS
      }
      client.removeListener("close", onClose);
      client.end(true);
      void diagnoseConnectError(o.target, lastError ?? new Error("connection closed before CONNACK")).then((text) => reject(new CliError(text)));
    };
    client.on("close", onClose);
    client.once("connect", () => {
      client.removeListener("close", onClose);
      resolve({
        client,
        async publish(topic, payload, retain = false) {
          await client.publishAsync(topic, payload, { qos: 1, retain });
        },
        connected: () => client.connected,
        async close() {
          await client.endAsync(true);
        },
      });
    });
  });
}
