/**
 * `espfleet watch`: tail a fleet readably, simulated or real ESP8266s —
 * per-node rate and last values, sequence gaps (lost readings), reboots,
 * online/offline changes and node events. Keeps tailing across broker
 * restarts (it reconnects and resubscribes on its own).
 *
 * Readings are heard on `P/sensor_data` and `P/sensor_data/+` by default
 * (nodes on the shared topic and nodes set to `sensor_data/{id}`), or where
 * --topic-data says. The node is the payload's `id`; where the topic carries
 * an id too, a payload naming another is counted as forged and not shown.
 */
import type { MqttClient } from "mqtt";
import { connectClient } from "./broker-target";
import { brokerFromFlags, checkTopicData } from "./cli-options";
import { DEFAULT_TOPIC_DATA, operatorTopics, readingTopic, topicMatches } from "./config-change";
import { formatCount } from "./units";
import { noticeLine, readingLine, renderTable } from "./watch-view";
import { WatchTracker } from "./watch-tracker";

export interface WatchFlags {
  broker?: string;
  username?: string;
  password?: string;
  ca?: string;
  prefix: string;
  /** The nodes' readings topic (topic_data); default sensor_data. */
  topicData?: string;
  node?: string[];
  lines?: boolean;
  duration?: number;
}

const RECONNECT_MS = 1000;

export async function watchCommand(flags: WatchFlags): Promise<number> {
  const out = process.stdout;
  const topicData = flags.topicData ?? DEFAULT_TOPIC_DATA;
  checkTopicData(topicData);
  const target = brokerFromFlags(flags);
  const topics = operatorTopics(flags.prefix, topicData);
  const only = flags.node !== undefined ? new Set(flags.node) : undefined;
  const client: MqttClient = await connectClient(target, `espfleet-watch-${process.pid}`, RECONNECT_MS);
  const tracker = new WatchTracker();
  const table = out.isTTY === true && flags.lines !== true;
  const notices: string[] = [];
  const note = (line: string): void => {
    if (table) {
      notices.push(line);
      if (notices.length > 50) {
        notices.splice(0, notices.length - 50);
      }
    } else {
      out.write(line + "\n");
    }
  };

  client.on("message", (topic: string, payload: Buffer) => {
    const text = payload.toString("utf8");
    const now = performance.now();
    const wall = Date.now();
    const reading = readingTopic(topics, topic);
    if (reading !== undefined) {
      const id = reading.id ?? idOf(text);
      if (only !== undefined && (id === undefined || !only.has(id))) {
        return;
      }
      for (const n of tracker.reading(text, now, reading.id)) {
        note(noticeLine(wall, n));
      }
      const node = id !== undefined ? tracker.nodes.get(id) : undefined;
      if (!table && node !== undefined) {
        out.write(readingLine(wall, node) + "\n");
      }
      return;
    }
    const id = topic.split("/").pop() ?? "";
    if (only !== undefined && !only.has(id)) {
      return;
    }
    if (topicMatches(topics.status, topic)) {
      tracker.status(id, text).forEach((n) => note(noticeLine(wall, n)));
    } else if (topicMatches(topics.events, topic)) {
      tracker.event(id, text).forEach((n) => note(noticeLine(wall, n)));
    }
  });
  const subscribe = (): void => {
    client.subscribe([...topics.readings, topics.status, topics.events], { qos: 1 });
  };
  subscribe();
  client.on("connect", () => {
    note(`${new Date().toTimeString().slice(0, 8)} (re)connected to ${target.url}`);
    subscribe();
  });
  client.on("offline", () => note(`${new Date().toTimeString().slice(0, 8)} lost ${target.url}; retrying every ${RECONNECT_MS / 1000} s`));

  if (!table) {
    out.write(`watching ${[...topics.readings, topics.status, topics.events].join(", ")} on ${target.url} (Ctrl-C to stop)\n`);
  }
  const redraw = table
    ? setInterval(() => {
        out.write("\x1b[H\x1b[2J" + renderTable(tracker, performance.now(), Date.now(), out.rows ?? 40, out.columns ?? 120, notices, target.url) + "\n");
      }, 1000)
    : undefined;

  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    if (flags.duration !== undefined) {
      setTimeout(stop, flags.duration).unref();
    }
  });
  if (redraw !== undefined) {
    clearInterval(redraw);
  }
  await client.endAsync(true);
  const t = tracker.totals(performance.now());
  out.write(
    `\nwatched ${formatCount(t.nodes)} nodes: ${formatCount(t.readings)} readings, ${formatCount(t.lost)} lost (seq gaps), ` +
      `${formatCount(t.duplicates)} resent, ${formatCount(t.reboots)} reboots, ${formatCount(t.dropped)} dropped by nodes (buffer full), ` +
      `${formatCount(tracker.forged)} forged (payload id not the topic's; ignored)\n`,
  );
  return 0;
}

/** The node id of a reading, cheaply, for --node filtering. */
function idOf(text: string): string | undefined {
  const match = /"id"\s*:\s*"([^"]*)"/.exec(text);
  return match !== null ? match[1] : undefined;
}
