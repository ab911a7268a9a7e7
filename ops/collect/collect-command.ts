/**
 * `espfleet collect`: store every reading of the fleet in a database, with
 * statuses, events and config acknowledgements. Runs until Ctrl-C (or
 * --duration); a line every --report about throughput and lag, one at exit.
 * Wiring only: the store (open-store.ts), the MQTT session (subscriber.ts),
 * the pipeline (collector.ts), queries through the socket (control-socket.ts),
 * retention (retention.ts).
 */
import { DEFAULT_TOPIC_DATA, operatorTopics } from "../../broker/topics";
import { brokerFromFlags, type LoginFlags } from "../../broker/flags";
import { collectorTopics } from "../../broker/collector-session";
import { checkTopicData } from "../../broker/topics";
import { Collector } from "./collector";
import { serveQueries, type QueryServer } from "./control-socket";
import { DEFAULT_DB_DIR } from "./db-folder";
import { openForCollect } from "./open-store";
import { startRetention } from "./retention";
import { startSubscriber, type Subscriber } from "./subscriber";
import type { HomeAssistantAnnouncer } from "../homeassistant/announcer";
import { startHomeAssistant, type HomeAssistantFlags } from "../homeassistant/start";

export interface CollectFlags extends LoginFlags, HomeAssistantFlags {
  prefix: string;
  topicData?: string;
  db: string;
  clientId: string;
  batch: number;
  maxPending: number;
  retryMax: number;
  keep?: number;
  report: number;
  duration?: number;
  wait: number;
}

const RETRY_MIN_MS = 500;
const RECONNECT_MS = 1000;
/** At exit, how long to keep trying to commit what was received. */
const DRAIN_TIMEOUT_MS = 10_000;

export async function collectCommand(flags: CollectFlags): Promise<number> {
  const out = process.stdout;
  const log = (line: string): void => void out.write(line + "\n");
  const topicData = flags.topicData ?? DEFAULT_TOPIC_DATA;
  checkTopicData(topicData);
  const target = brokerFromFlags(flags);
  const topics = operatorTopics(flags.prefix, topicData);
  // The fleet's topics and the broker's drop count for this session (broker/collector-session.ts).
  const filters = collectorTopics(flags.prefix, topicData, flags.clientId);

  // Installed first: a Ctrl-C during the start (the first open takes seconds) lets the start finish, then stops cleanly.
  let requestStop: (why: "duration" | NodeJS.Signals) => void = () => undefined;
  const stopRequested = new Promise<"duration" | NodeJS.Signals>((resolve) => (requestStop = resolve));
  // Also ends the wait for the first connection: a stop during the start (npm start -- --duration 5s while
  // the database is being created, the fleet's broker gone) must not wait --wait for a broker that has stopped.
  const startAborted = new AbortController();
  void stopRequested.then(() => startAborted.abort());
  const onSignal = (signal: NodeJS.Signals): void => requestStop(signal);
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  const opened = await openForCollect(flags.db, log).catch((error: unknown) => {
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
    throw error;
  });
  let server: QueryServer | undefined = undefined;
  let subscriber: Subscriber | undefined = undefined;
  let retention: { stop(): Promise<void> } | undefined = undefined;
  let reporter: NodeJS.Timeout | undefined = undefined;
  let announcer: HomeAssistantAnnouncer | undefined = undefined;
  try {
    const collector = await Collector.create({
      store: opened.store,
      topics,
      maxBatch: flags.batch,
      maxPending: flags.maxPending,
      retryMinMs: RETRY_MIN_MS,
      retryMaxMs: flags.retryMax,
      log,
    });
    if (opened.folder !== undefined) {
      server = await serveQueries(opened.store, opened.folder.socketPath);
    }
    let connectedOnce = false;
    subscriber = await startSubscriber({
      target,
      clientId: flags.clientId,
      filters,
      reconnectMs: RECONNECT_MS,
      waitMs: flags.wait,
      signal: startAborted.signal,
      onMessage: (topic, payload, ack) => {
        collector.receive(topic, payload, ack);
        announcer?.observe(topic, payload);
      },
      hasRoom: () => collector.hasRoom(),
      whenRoom: () => collector.whenRoom(),
      onConnect: (sessionPresent) => {
        const what = sessionPresent
          ? "session resumed: what the broker kept meanwhile comes first"
          : connectedOnce
            ? "new session: the broker had forgotten this client id; messages published while the collector was away are lost"
            : "new session: from now on the broker keeps the messages while the collector is away";
        log(`${clock()} ${connectedOnce ? "reconnected" : "connected"} to ${target.url} as ${flags.clientId}; ${what}`);
        connectedOnce = true;
      },
      onOffline: () => {
        if (connectedOnce) {
          log(`${clock()} lost ${target.url}; retrying every ${RECONNECT_MS / 1000} s (the broker keeps the session)`);
        }
      },
    });
    if (subscriber === undefined) {
      // Stopped before the broker answered: nothing was received, so nothing is left to commit.
      const why = await stopRequested;
      log(`${clock()} stopped (${why === "duration" ? "--duration" : why}) before ${target.url} answered; nothing received`);
      return why === "SIGINT" ? 130 : 0;
    }
    announcer = await startHomeAssistant(flags, target, topics, flags.prefix, `${flags.clientId}-homeassistant`, log);
    log(`collecting ${filters.join(", ")} (QoS 1) into ${opened.store.description}; ${collector.tracker.nodes} nodes known (Ctrl-C to stop)`);
    const db = flags.db === DEFAULT_DB_DIR ? "" : ` --db ${quoteArg(opened.store.description.startsWith("PGlite") ? flags.db : opened.store.description)}`;
    log(`query it: npx espfleet query --summary${db}   or   npx espfleet query --node <id> --since 10m${db}`);
    if (flags.keep !== undefined) {
      retention = startRetention(opened.store, flags.keep, log, () => collector.failing);
    }
    if (flags.report > 0) {
      reporter = setInterval(() => log(collector.stats.line(performance.now(), collector.waiting, collector.tracker.nodes)), flags.report);
    }

    if (flags.duration !== undefined) {
      setTimeout(() => requestStop("duration"), flags.duration).unref();
    }
    // A store that can commit nothing more (its worker thread died) stops the collector: what it holds is not
    // acknowledged, so the broker keeps it for the next start; a service manager or npm start sees status 1.
    const lost = opened.store.lost ?? new Promise<never>(() => undefined);
    const why = await Promise.race([stopRequested, lost]);
    if (why instanceof Error) {
      clearInterval(reporter);
      subscriber.pause();
      log(`${clock()} ${why.message}: stopping; the ${collector.waiting} messages received and not committed stay with the broker (not acknowledged) for the next start`);
      return 1;
    }

    clearInterval(reporter);
    subscriber.pause();
    const drained = await collector.drain(DRAIN_TIMEOUT_MS);
    await subscriber.close();
    log(collector.stats.final(performance.now(), collector.waiting, collector.tracker.nodes));
    // As watch: 130 after Ctrl-C (the shell's convention), 0 after --duration or SIGTERM (a service manager's stop).
    return !drained ? 1 : why === "SIGINT" ? 130 : 0;
  } finally {
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
    clearInterval(reporter);
    await retention?.stop();
    await subscriber?.close();
    await announcer?.close();
    await server?.close();
    await opened.close();
  }
}

function clock(): string {
  return new Date().toTimeString().slice(0, 8);
}

function quoteArg(text: string): string {
  return /^[\w./:@-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}
