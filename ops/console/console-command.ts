/**
 * `espfleet console`: the fleet in a browser. Wiring only: the MQTT session
 * (live-link.ts), the table's state (fleet-state.ts, recent-readings.ts),
 * config changes (config-changes.ts), history (history-source.ts), the
 * pushes (push-hub.ts) and the HTTP server (http-server.ts, api.ts,
 * access.ts, static-files.ts). Runs until Ctrl-C (or --duration).
 */
import { brokerFromFlags, type LoginFlags } from "../../broker/flags";
import { checkTopicData, DEFAULT_TOPIC_DATA, operatorTopics } from "../../broker/topics";
import { CliError } from "../../common/errors";
import { loadFleetKey } from "../../common/fleet-key";
import { SENSORS } from "../collect/schema";
import type { StoredMessage } from "../collect/store";
import { CounterStore, DEFAULT_COUNTER_FILE } from "../config/signing";
import type { HomeAssistantAnnouncer } from "../homeassistant/announcer";
import { startHomeAssistant, type HomeAssistantFlags } from "../homeassistant/start";
import { Access, isLoopback, loadToken } from "./access";
import { consoleApi } from "./api";
import { ConfigChanges } from "./config-changes";
import { FleetState } from "./fleet-state";
import { HistorySource } from "./history-source";
import { startHttpServer } from "./http-server";
import { startLiveLink, type LiveLink } from "./live-link";
import { PushHub } from "./push-hub";
import { RecentReadings } from "./recent-readings";
import { sensorUnits, settableKeys } from "./settable-keys";
import { StaticFiles } from "./static-files";

export interface ConsoleFlags extends LoginFlags, HomeAssistantFlags {
  prefix: string;
  topicData?: string;
  httpPort: number;
  listen: string;
  tokenFile?: string;
  db: string;
  fleetKeyFile?: string;
  counterFile?: string;
  ackTimeout: number;
  wait: number;
  duration?: number;
}

/** How long the start waits for the database's counters before going on without them. */
const SEED_TIMEOUT_MS = 15_000;

export async function consoleCommand(flags: ConsoleFlags, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const log = (line: string): void => void process.stdout.write(line + "\n");
  const topicData = flags.topicData ?? DEFAULT_TOPIC_DATA;
  checkTopicData(topicData);
  const token = loadToken(flags.tokenFile, env);
  if (token === undefined && !isLoopback(flags.listen)) {
    throw new CliError(
      `--listen ${flags.listen} would let anyone who reaches this machine change the fleet's config: give the console a token ` +
        "(openssl rand -hex 16 > console.token; --token-file console.token, or ESPFLEET_CONSOLE_TOKEN), and put it behind TLS (README, Console)",
      2,
    );
  }
  const target = brokerFromFlags(flags);
  const topics = operatorTopics(flags.prefix, topicData);
  const fleetKey = loadFleetKey(flags.fleetKeyFile, env);
  const counters = new CounterStore(flags.counterFile ?? DEFAULT_COUNTER_FILE);
  const files = StaticFiles.load();

  let requestStop: (why: "duration" | NodeJS.Signals) => void = () => undefined;
  const stopRequested = new Promise<"duration" | NodeJS.Signals>((resolve) => (requestStop = resolve));
  const onSignal = (signal: NodeJS.Signals): void => requestStop(signal);
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  const fleet = new FleetState();
  const recent = new RecentReadings();
  const history = new HistorySource(flags.db, log);
  let hub: PushHub | undefined = undefined;
  let link: LiveLink | undefined = undefined;
  let announcer: HomeAssistantAnnouncer | undefined = undefined;
  let http: Awaited<ReturnType<typeof startHttpServer>> | undefined = undefined;
  let ticker: NodeJS.Timeout | undefined = undefined;
  let historyVia = "not asked yet";
  try {
    // The collector's counters and each node's last acked config first, so the console counts on from them.
    historyVia = await seed(history, fleet, log);

    const changes = new ConfigChanges({
      publish: (payload) => (link as LiveLink).publish(topics.config, payload),
      signing: () => (fleetKey !== undefined ? { key: fleetKey, counter: counters.next() } : undefined),
      ackTimeoutMs: flags.ackTimeout,
      onTimeout: (req) => hub?.changeUpdated(req),
    });
    const pushes = new PushHub(fleet, recent, changes, () => ({
      settable: settableKeys(),
      sensors: SENSORS,
      units: sensorUnits(),
      signed: fleetKey !== undefined,
      prefix: flags.prefix,
      broker: target.url,
      connected: link?.connected() ?? false,
      history: historyVia,
    }));
    hub = pushes;
    link = await startLiveLink({
      target,
      topics,
      clientId: `espfleet-console-${process.pid}`,
      waitMs: flags.wait,
      fleet,
      recent,
      changes,
      announcer: () => announcer,
      onChangeAck: (req) => pushes.changeUpdated(req),
      onNodeMessage: (message: StoredMessage) => pushes.nodeMessage(message),
      onConnection: (up) => pushes.broadcast({ type: "link", connected: up }),
    });
    const live = link;
    announcer = await startHomeAssistant(flags, target, topics, flags.prefix, `espfleet-console-ha-${process.pid}`, log);

    const api = consoleApi({
      history,
      changes,
      pushes,
      fleet,
      link: live,
      statusTopic: (node) => topics.status.slice(0, -1) + node,
      status: () => ({
        broker: target.url,
        history: historyVia,
        signed: fleetKey !== undefined,
        homeassistant: announcer !== undefined ? { nodes: announcer.nodes, published: announcer.published } : null,
        weight: files.weight(),
      }),
      onHistory: (via) => (historyVia = via),
    });
    const access = new Access(token);
    http = await startHttpServer({ access, files, api, onSocket: (ws) => pushes.add(ws) }, flags.listen, flags.httpPort);
    ticker = setInterval(() => pushes.tick(), 1000);

    const shown = flags.listen.includes(":") ? `[${flags.listen}]` : flags.listen === "0.0.0.0" ? "<this host>" : flags.listen;
    log(`console: http://${shown}:${http.port}/  (the fleet on ${target.url}${flags.prefix !== "" ? `, prefix ${flags.prefix}` : ""}; Ctrl-C to stop)`);
    log(
      `  history: ${historyVia}; config changes ${fleetKey !== undefined ? "signed with the fleet key (kept here, never sent to the page)" : "unsigned"}` +
        (token !== undefined ? `; log in with the token from ${flags.tokenFile !== undefined ? flags.tokenFile : "ESPFLEET_CONSOLE_TOKEN"}` : ""),
    );
    if (flags.duration !== undefined) {
      setTimeout(() => requestStop("duration"), flags.duration).unref();
    }
    const why = await stopRequested;
    return why === "SIGINT" ? 130 : 0;
  } finally {
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
    clearInterval(ticker);
    hub?.close();
    await http?.close();
    await announcer?.close();
    await link?.close();
    await history.close();
  }
}

/** Counters and last configs from the database, when there is one; says where history comes from. */
async function seed(history: HistorySource, fleet: FleetState, log: (line: string) => void): Promise<string> {
  const work = history.run(async (source) => ({ summary: await source.summary(), configs: await source.lastConfigs() }));
  let timer: NodeJS.Timeout | undefined = undefined;
  const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), SEED_TIMEOUT_MS)));
  const answer = await Promise.race([work, late]);
  clearTimeout(timer);
  if (answer === "late") {
    log(`the database did not answer within ${SEED_TIMEOUT_MS / 1000} s: the table starts from what the console hears`);
    return "the database (slow to answer)";
  }
  if ("unavailable" in answer) {
    return `none: ${answer.unavailable}`;
  }
  fleet.seed(answer.value.summary);
  for (const c of answer.value.configs) {
    fleet.knownConfig(c.node, c.config);
  }
  return answer.via;
}
