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
 *
 * The session is persistent (issue 15): a stable client id per operator and
 * host (`--client-id`), clean session off, so while the watch is
 * reconnecting, or the broker restarts (with persistence on), the broker
 * keeps the subscriptions and queues the QoS 1 readings for it: nothing is
 * lost in between. Exit: 0 after --duration, 130 on Ctrl-C, 143 on SIGTERM.
 *
 * Output: the live table on a terminal; `--lines` one line per reading and
 * notice; `--raw` each message as `topic payload` (mosquitto_sub -v);
 * `--json` one JSON object per message or notice. With --raw and --json
 * stdout holds only those lines: the banner and the totals go to stderr.
 * Config acks (`config_ack/<id>`) are shown in every mode.
 */
import type { MqttClient } from "mqtt";
import { hostname, userInfo } from "node:os";
import { connectClient } from "../../broker/target";
import { brokerFromFlags } from "../../broker/flags";
import { checkTopicData, nothingHeardHint } from "../../broker/topics";
import { DEFAULT_TOPIC_DATA, operatorTopics, readingTopic, topicMatches } from "../../broker/topics";
import { formatCount } from "../../common/units";
import { colourEnabled, paint } from "../../common/colour";
import { messageJson, noticeJson, noticeLine, rawLine, readingLine, renderTable, type WatchMessageKind } from "./view";
import { type WatchNotice, WatchTracker } from "./tracker";

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
  /** `topic payload` per message, like mosquitto_sub -v. */
  raw?: boolean;
  /** One JSON object per message and notice. */
  json?: boolean;
  duration?: number;
  /** MQTT client id of the persistent session (default: defaultWatchClientId()). */
  clientId?: string;
}

const RECONNECT_MS = 1000;
/** A session lost this soon after it started counts as taken over (another client with the same id). */
const QUICK_DROP_MS = 2000;

export async function watchCommand(flags: WatchFlags): Promise<number> {
  const out = process.stdout;
  const topicData = flags.topicData ?? DEFAULT_TOPIC_DATA;
  checkTopicData(topicData);
  const target = brokerFromFlags(flags);
  const topics = operatorTopics(flags.prefix, topicData);
  const only = flags.node !== undefined ? new Set(flags.node) : undefined;
  const tracker = new WatchTracker();
  const mode = flags.json === true ? "json" : flags.raw === true ? "raw" : out.isTTY === true && flags.lines !== true ? "table" : "lines";
  const table = mode === "table";
  /** Where words for people go: stderr when stdout carries --raw or --json lines for a program. */
  const say = mode === "raw" || mode === "json" ? process.stderr : out;
  const p = paint(mode !== "json" && mode !== "raw" && colourEnabled(out));
  const notices: string[] = [];
  const note = (line: string): void => {
    if (table) {
      notices.push(line);
      if (notices.length > 50) {
        notices.splice(0, notices.length - 50);
      }
    } else {
      say.write(line + "\n");
    }
  };
  const noted = (wall: number, list: WatchNotice[]): void => {
    for (const n of list) {
      if (mode === "json") {
        out.write(noticeJson(wall, n) + "\n");
      } else if (mode !== "raw") {
        note(noticeLine(wall, n, p));
      }
    }
  };
  const echo = (wall: number, kind: WatchMessageKind, topic: string, id: string | undefined, payload: Buffer): void => {
    if (mode === "raw") {
      out.write(rawLine(topic, payload) + "\n");
    } else if (mode === "json") {
      out.write(messageJson(wall, kind, topic, id, payload.toString("utf8")) + "\n");
    }
  };

  const onMessage = (topic: string, payload: Buffer): void => {
    const text = payload.toString("utf8");
    const now = performance.now();
    const wall = Date.now();
    const reading = readingTopic(topics, topic);
    if (reading !== undefined) {
      const id = reading.id ?? idOf(text);
      if (only !== undefined && (id === undefined || !only.has(id))) {
        return;
      }
      echo(wall, "reading", topic, id, payload);
      noted(wall, tracker.reading(text, now, reading.id));
      const node = id !== undefined ? tracker.nodes.get(id) : undefined;
      if (mode === "lines" && node !== undefined) {
        out.write(readingLine(wall, node, p) + "\n");
      }
      return;
    }
    const id = topic.split("/").pop() ?? "";
    if (only !== undefined && !only.has(id)) {
      return;
    }
    if (topicMatches(topics.status, topic)) {
      echo(wall, "status", topic, id, payload);
      noted(wall, tracker.status(id, text));
    } else if (topicMatches(topics.events, topic)) {
      echo(wall, "event", topic, id, payload);
      noted(wall, tracker.event(id, text));
    } else if (topicMatches(topics.acks, topic)) {
      echo(wall, "ack", topic, id, payload);
      noted(wall, tracker.ack(id, text, now));
    }
  };
  // The handler is attached before connecting: a resumed session's queued readings come right after the CONNACK.
  const clientId = flags.clientId ?? defaultWatchClientId();
  const client: MqttClient = await connectClient(target, clientId, RECONNECT_MS, { clean: false, setup: (c) => c.on("message", onMessage) });
  const filters = [...topics.readings, topics.status, topics.events, topics.acks];
  /** Filters the broker refused (SUBACK 0x80: its ACL), for the advice at the end when nothing was heard. */
  let refused: string[] = [];
  const subscribe = (): void => {
    client.subscribe(filters, { qos: 1 }, (error, granted) => {
      if (error === null && granted !== undefined) {
        refused = granted.filter((g) => g.qos === 128).map((g) => g.topic);
      }
    });
  };
  subscribe();
  // Two watches with one client id take the session from each other, each in turn: say so instead of flapping silently.
  let connectedAt = performance.now();
  let quickDrops = 0;
  client.on("connect", () => {
    connectedAt = performance.now();
    note(`${new Date().toTimeString().slice(0, 8)} (re)connected to ${target.url}`);
    subscribe();
  });
  client.on("offline", () => {
    quickDrops = performance.now() - connectedAt < QUICK_DROP_MS ? quickDrops + 1 : 0;
    note(`${new Date().toTimeString().slice(0, 8)} lost ${target.url}; retrying every ${RECONNECT_MS / 1000} s`);
    if (quickDrops === 2) {
      note(`the broker dropped this watch right after it connected, twice: is another watch using client id ${clientId}? give each its own --client-id`);
    }
  });

  if (!table) {
    say.write(`watching ${filters.join(", ")} on ${target.url} as ${clientId}, persistent session (Ctrl-C to stop)\n`);
  }
  const redraw = table
    ? setInterval(() => {
        out.write("\x1b[H\x1b[2J" + renderTable(tracker, performance.now(), Date.now(), out.rows ?? 40, out.columns ?? 120, notices, target.url, p) + "\n");
      }, 1000)
    : undefined;

  const endedBy = await new Promise<NodeJS.Signals | "duration">((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
    if (flags.duration !== undefined) {
      setTimeout(() => resolve("duration"), flags.duration).unref();
    }
  });
  if (redraw !== undefined) {
    clearInterval(redraw);
  }
  await client.endAsync(true);
  const t = tracker.totals(performance.now());
  say.write(
    `\nwatched ${formatCount(t.nodes)} nodes: ${formatCount(t.readings)} readings, ${formatCount(t.lost)} lost (seq gaps), ` +
      `${formatCount(t.duplicates)} resent, ${formatCount(t.reboots)} reboots, ${formatCount(t.dropped)} dropped by nodes (buffer full), ` +
      `${formatCount(tracker.forged)} forged (payload id not the topic's; ignored)\n`,
  );
  if (t.nodes === 0) {
    // Heard nothing at all: say the likely cause (issue 12).
    say.write(`no node was heard on ${target.url}; ${nothingHeardHint(flags.prefix, refused, target.username)}\n`);
  }
  return endedBy === "SIGINT" ? 130 : endedBy === "SIGTERM" ? 143 : 0;
}

/**
 * The watch's default client id: stable per operator and host, so a watch
 * started again resumes its session. Letters, digits, ".", "_" and "-" only,
 * at most 64 characters.
 */
export function defaultWatchClientId(): string {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = process.env.USER ?? process.env.USERNAME ?? "user";
  }
  const clean = (text: string): string => text.replace(/[^A-Za-z0-9._-]+/g, "-");
  return `espfleet-watch-${clean(user)}-${clean(hostname())}`.slice(0, 64);
}

/** The node id of a reading, cheaply, for --node filtering. */
function idOf(text: string): string | undefined {
  const match = /"id"\s*:\s*"([^"]*)"/.exec(text);
  return match !== null ? match[1] : undefined;
}
