/**
 * `espfleet run`: a fleet of simulated nodes against the embedded broker
 * (default) or `--broker`, with paced connects, a live summary, and a clean
 * shutdown on Ctrl-C (every node publishes its retained "offline").
 *
 * Exit status (issue 15, one rule for every command): 0 when the run ended
 * by --duration with every node healthy, 1 when it failed (could not start,
 * or nodes faulted / a worker stayed down), 2 for bad usage (checked before
 * anything starts: options, --state-dir, files), 130 on Ctrl-C (SIGINT),
 * 143 on SIGTERM.
 */
import { loadFleetKey } from "../common/fleet-key";
import { availableParallelism } from "node:os";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { LogLevel } from "../firmware/core/platform";
import { CONFIG_FILE, checkValue, defaultConfig, findSpec, type NodeConfig } from "../firmware/core/config";
import { topicsFor } from "../firmware/core/topics";
import { type BrokerTarget, loginFor, parseBrokerTarget, probeBroker, secretsOf } from "../broker/target";
import { CliError } from "../common/errors";
import { DEFAULT_TOPIC_DATA, operatorTopics } from "../broker/topics";
import { credentialsFileWarning } from "../broker/credentials";
import { maskSecrets } from "../common/secrets";
import { startEmbeddedBroker, type EmbeddedBroker } from "../broker/embedded";
import { describeStore } from "../broker/broker-store";
import { embeddedBrokerOptions, refuseWithExternalBroker, type EmbeddedBrokerFlags } from "../broker/embedded-flags";
import { Fleet, type FleetOptions } from "./fleet";
import type { FleetSnapshot } from "./fleet-counters";
import { FleetLog } from "./fleet-log";
import { applyFleetLogins } from "./fleet-logins";
import { LiveView } from "./live-view";
import { LUA_ENGINE_HEAP_KB, LuaFleet } from "./lua-engine";
import { checkFleetSettings } from "./node-config-seed";
import { checkRegularFile } from "../common/input-file";
import { nodeId, parseShard, type Shard, shardRange } from "./node-ids";
import { NodeStorage } from "./node-storage";
import { randomSeed } from "./prng";
import { type FaultPlan, parseFaultPlan } from "./sensor-model";
import { countOf, formatCount, parseCount, parseRate } from "../common/units";
import { WorkerFleet } from "./worker-fleet";

export interface RunFlags extends EmbeddedBrokerFlags {
  nodes: number;
  shard: string;
  workers: string;
  broker?: string;
  username?: string;
  /** Per-node user name template (`node-{id}`). */
  user?: string;
  password?: string;
  /** `user:password` file (docs/mosquitto/make-passwd.sh). */
  credentials?: string;
  ca?: string;
  cert?: string;
  key?: string;
  port: number;
  prefix: string;
  /** The nodes' readings topic (topic_data); `{id}` = each node's id. */
  topicData: string;
  interval: number;
  sensitivity: number;
  heartbeat: number;
  sensors: string[];
  buffer: number;
  qos: number;
  flushGap: number;
  keepalive: number;
  reconnectMin: number;
  reconnectMax: number;
  connectRate: string;
  seed?: number;
  faults: string;
  stateDir: string;
  fresh?: boolean;
  duration?: number;
  logLevel: LogLevel;
  verbose?: boolean;
  /** "ts" (the TypeScript core) or "lua" (virtual devices running firmware/dist). */
  engine: string;
  /** Lua heap budget per virtual device, in KB (--engine lua only). */
  heapKb?: number;
  /** --engine lua: run the app from LFS (default; commander sets false for --no-lfs). */
  lfs?: boolean;
  /** File holding the fleet key: nodes then apply only signed config changes (or ESPFLEET_FLEET_KEY). */
  fleetKeyFile?: string;
  /**
   * Options given on the command line (attribute names, e.g. "interval"):
   * their settings win over the ones a node stored (issue 12); the others
   * are defaults, which a stored setting beats.
   */
  explicit?: string[];
}

/** Run-time settings of a node and the option that sets each (a config_change may change them later). */
const RUNTIME_OPTIONS = [
  ["interval", "interval_ms"],
  ["sensitivity", "sensitivity"],
  ["heartbeat", "heartbeat_ms"],
  ["sensors", "sensors"],
  ["buffer", "buffer_capacity"],
  ["qos", "qos"],
  ["flushGap", "flush_gap_ms"],
] as const;
/** Stored configs read to say which settings were kept or replaced; a bigger fleet is described by its first ones. */
const STORED_SCAN_LIMIT = 10_000;

/** Which CLI option sets which node setting (for error messages). */
const OPTION_FOR_KEY: Record<string, string> = {
  interval_ms: "--interval",
  sensitivity: "--sensitivity",
  heartbeat_ms: "--heartbeat",
  sensors: "--sensors",
  buffer_capacity: "--buffer",
  qos: "--qos",
  flush_gap_ms: "--flush-gap",
  mqtt_keepalive_s: "--keepalive",
  reconnect_min_ms: "--reconnect-min",
  reconnect_max_ms: "--reconnect-max",
  topic_prefix: "--prefix",
  topic_data: "--topic-data",
};

interface Runner {
  start(): Promise<void>;
  snapshot(): FleetSnapshot;
  stop(): Promise<void>;
  keptStored: number;
}

export async function runCommand(flags: RunFlags): Promise<number> {
  const out = process.stdout;
  const shard = parseShard(flags.shard);
  if (!shard.ok) {
    throw new CliError(shard.error, 2);
  }
  const range = shardRange(flags.nodes, shard.value);
  if (range.count === 0) {
    throw new CliError(`shard ${flags.shard} of ${flags.nodes} nodes is empty; use fewer shards than nodes`, 2);
  }
  checkEngineFlags(flags);
  const workers = parseWorkers(flags.workers, range.count);
  const rate = parseRate(flags.connectRate, "--connect-rate");
  if (!rate.ok) {
    throw new CliError(rate.error, 2);
  }
  const faults = parseFaultPlan(flags.faults);
  if (typeof faults === "string") {
    throw new CliError(`--faults: ${faults}`, 2);
  }
  for (const id of Object.keys(faults.nodes)) {
    const number = /^node-(\d+)$/.exec(id);
    if (number === null || nodeId(Number(number[1])) !== id || Number(number[1]) < 1 || Number(number[1]) > flags.nodes) {
      throw new CliError(`--faults: @${id} is not a node of this fleet (node-0001 to ${nodeId(flags.nodes)})`, 2);
    }
  }
  // Before the broker starts: a folder the nodes cannot write would fail every node (and an ack would mean nothing).
  const stateDir = resolve(flags.stateDir);
  try {
    NodeStorage.prepare(stateDir);
  } catch (error) {
    throw new CliError(`--state-dir ${flags.stateDir}: ${(error as Error).message}; give a folder you can write to`, 2);
  }
  // Defaults go in `initial` (a node's stored setting beats them); options given explicitly in `fixed` (they beat it).
  const initial: Partial<NodeConfig> = {};
  const fixed: Partial<NodeConfig> = {
    topic_prefix: flags.prefix,
    topic_data: flags.topicData,
    mqtt_keepalive_s: Math.round(flags.keepalive / 1000),
    reconnect_min_ms: flags.reconnectMin,
    reconnect_max_ms: flags.reconnectMax,
  };
  for (const [option, key] of RUNTIME_OPTIONS) {
    const into: Record<string, unknown> = flags.explicit?.includes(option) === true ? fixed : initial;
    into[key] = flags[option];
  }
  // The key file is the truth for a simulated fleet: it overrides a key stored by an earlier rotation.
  if (flags.fleetKeyFile !== undefined) {
    checkRegularFile("--fleet-key-file", flags.fleetKeyFile);
  }
  const fleetKey = loadFleetKey(flags.fleetKeyFile);
  if (fleetKey !== undefined) {
    fixed.fleet_key = fleetKey;
  }

  const optionFor = (key: string): string => OPTION_FOR_KEY[key] ?? key;
  let embedded: EmbeddedBroker | undefined = undefined;
  let target: BrokerTarget;
  if (flags.broker !== undefined) {
    refuseWithExternalBroker(flags);
    target = parseBrokerTarget({ ...flags, broker: flags.broker });
    applyFleetLogins(target, flags, range);
    checkFleetSettings({ broker: target, initial, fixed }, optionFor);
    const warning = flags.credentials !== undefined ? credentialsFileWarning(flags.credentials) : undefined;
    if (warning !== undefined) {
      out.write(warning + "\n");
    }
    await probeBroker(target, target.logins !== undefined ? nodeId(range.first) : undefined);
    const who = target.logins !== undefined ? `, nodes log in as ${target.logins.userTemplate}` : target.username !== "" ? `, as ${target.username}` : "";
    out.write(`broker ${target.url}${who}\n`);
  } else {
    const needBroker = (["username", "user", "password", "credentials", "ca", "cert", "key"] as const).filter((k) => flags[k] !== undefined);
    if (needBroker.length > 0) {
      throw new CliError(`${needBroker.map((k) => "--" + k).join(", ")} need --broker; the embedded broker accepts anyone on 127.0.0.1`, 2);
    }
    const host = "127.0.0.1";
    // Checked before the broker starts: a refused option must not leave a broker running.
    checkFleetSettings({ broker: { ...EMBEDDED_TARGET, host, port: flags.port }, initial, fixed }, optionFor);
    const sessions = embeddedBrokerOptions(flags, { prefix: flags.prefix, topicData: flags.topicData, port: flags.port });
    embedded = await startEmbeddedBroker({ host, port: flags.port, ...sessions, log: (line) => out.write(line + "\n") });
    target = { ...EMBEDDED_TARGET, url: embedded.url, host: embedded.host, port: embedded.port };
    out.write(`embedded broker (aedes) listening on ${embedded.url}\n`);
    if (embedded.store !== undefined) {
      out.write((embedded.store.note !== undefined ? embedded.store.note + "\n" : "") + describeStore(embedded.store, sessions.queueLimit ?? 0) + "\n");
    }
    if (range.count > 2000) {
      out.write(`note: ${formatCount(range.count)} nodes share one process with the embedded broker; for more than ~2,000 use mosquitto: --broker mqtt://host:1883\n`);
    }
  }
  try {
    return await runFleet(flags, target, range, shard.value, workers, { initial, fixed, faults, connectRate: rate.value, stateDir });
  } finally {
    await embedded?.close();
  }
}

const EMBEDDED_TARGET: BrokerTarget = { url: "", host: "127.0.0.1", port: 1883, secure: false, username: "", password: "", ca: undefined, embedded: true };

/** A node log callback that masks the node's password (and the shared one) in every line. */
function maskingLog(target: BrokerTarget, log: FleetLog): (id: string, level: LogLevel, text: string) => void {
  return (id, level, text) => log.write(id, level, maskSecrets(text, [loginFor(target, id).password, target.password]));
}

async function runFleet(
  flags: RunFlags,
  target: BrokerTarget,
  range: { first: number; count: number },
  shard: Shard,
  workers: number,
  node: { initial: Partial<NodeConfig>; fixed: Partial<NodeConfig>; faults: FaultPlan; connectRate: number; stateDir: string },
): Promise<number> {
  const out = process.stdout;
  const { initial, fixed, faults } = node;
  const seed = flags.seed ?? randomSeed();
  const first = nodeId(range.first);
  const last = nodeId(range.first + range.count - 1);
  const shardText = shard.count > 1 ? ` (shard ${shard.index}/${shard.count} of ${formatCount(flags.nodes)})` : "";
  out.write(
    `starting ${formatCount(range.count)} nodes ${first}…${last}${shardText}` +
      `${workers > 1 ? ` in ${workers} worker processes` : ""}, seed ${seed} (--seed ${seed} repeats this run)\n`,
  );
  out.write(readingsLine(flags.prefix, flags.topicData) + "\n");
  out.write(`see them: ${watchCommandLine(target, flags)} (another terminal); change them: espfleet config --help\n`);

  // Before the nodes start (and rewrite their files): which stored settings they keep, which options replace.
  const stored = flags.fresh === true ? undefined : storedSettings(node.stateDir, range, initial, fixed);
  const view = new LiveView(out);
  const fleetOptions: Omit<FleetOptions, "log"> = {
    broker: target,
    first: range.first,
    count: range.count,
    stateDir: node.stateDir,
    fresh: flags.fresh === true,
    seed,
    faults: faults.all,
    nodeFaults: faults.nodes,
    initial,
    fixed,
    connectRate: node.connectRate,
  };
  let runner: Runner;
  if (flags.engine !== "lua" && flags.sensors.includes("adc") && flags.sensors.includes("vdd")) {
    // Said, not refused: the simulator's sensor model has no ADC mode, but a board would fail one of the two.
    out.write("note: a real ESP8266 reads either adc or vdd (one ADC: adc.force_init_mode); the simulator reads both, --engine lua fails every vdd read as a board does\n");
  }
  if (flags.engine === "lua") {
    const heapKb = flags.heapKb ?? LUA_ENGINE_HEAP_KB;
    const lfs = flags.lfs !== false;
    out.write(`lua engine: the app runs ${lfs ? "from LFS" : "from app.lc (--no-lfs)"}, ${heapKb} KB Lua heap per device (--heap-kb)\n`);
    if (flags.sensors.includes("adc") && flags.sensors.includes("vdd")) {
      out.write("note: an ESP8266 reads either adc or vdd (adc.force_init_mode), so every vdd read fails with an event; e.g. --sensors temperature,humidity,adc\n");
    }
    const log = new FleetLog({ level: flags.logLevel, verbose: flags.verbose === true, print: (line) => view.print(line) });
    runner = new LuaFleet({ ...fleetOptions, heapKb, lfs, log: maskingLog(target, log) });
  } else if (workers > 1) {
    runner = new WorkerFleet(fleetOptions, workers, { level: flags.logLevel, verbose: flags.verbose === true, print: (line) => view.print(line) });
  } else {
    const log = new FleetLog({ level: flags.logLevel, verbose: flags.verbose === true, print: (line) => view.print(line) });
    runner = new Fleet({ ...fleetOptions, log: (id, level, text) => log.write(id, level, text) });
  }

  let stopRequested: () => void = () => undefined;
  const stopSignal = new Promise<void>((resolve) => (stopRequested = resolve));
  /** How the run ends: --duration (0, or 1 with faulted nodes), Ctrl-C (130), SIGTERM (143). */
  let interruptedBy: NodeJS.Signals | undefined = undefined;
  const onInterrupt = (signal: NodeJS.Signals): void => {
    interruptedBy ??= signal;
    view.print(
      flags.engine === "lua"
        ? "stopping: every device powers off and the broker publishes its last will, offline (Ctrl-C again to quit at once)"
        : "stopping: every node says offline and disconnects (Ctrl-C again to quit at once)",
    );
    stopRequested();
  };
  process.on("SIGINT", onInterrupt);
  process.on("SIGTERM", onInterrupt);
  const durationTimer = flags.duration !== undefined ? setTimeout(stopRequested, flags.duration) : undefined;

  const startedAt = performance.now();
  view.startProgress(range.count);
  const progress = setInterval(() => view.progress(runner.snapshot()), 100);
  const starting = runner.start();
  let ticker: NodeJS.Timeout | undefined = undefined;
  try {
    // The bar ends when every node is connected (or faulted), or when all have started and then 5 s passed.
    await Promise.race([
      stopSignal,
      starting.then(() =>
        waitFor(() => {
          const s = runner.snapshot();
          return s.connected + s.faulted >= range.count;
        }, 5000),
      ),
    ]);
    clearInterval(progress);
    view.endProgress(runner.snapshot(), performance.now() - startedAt);
    for (const line of storedSettingsLines(stored, runner.keptStored, resolve(flags.stateDir))) {
      view.print(line);
    }
    ticker = setInterval(() => view.update(runner.snapshot()), 1000);
    view.update(runner.snapshot());
    await stopSignal;
  } catch (error) {
    view.close();
    throw new CliError(maskSecrets(`the fleet could not start: ${(error as Error).message}`, secretsOf(target)));
  } finally {
    clearInterval(progress);
    clearInterval(ticker);
    clearTimeout(durationTimer);
    process.removeListener("SIGINT", onInterrupt);
    process.removeListener("SIGTERM", onInterrupt);
    // A second Ctrl-C while the nodes say goodbye quits at once.
    const quit = (): never => process.exit(130);
    process.once("SIGINT", quit);
    await starting.catch(() => undefined);
    await runner.stop();
    process.removeListener("SIGINT", quit);
  }
  view.close();
  const final = runner.snapshot();
  const trouble: string[] = [];
  if (final.faulted > 0) {
    trouble.push(`${countOf(final.faulted, "node")} faulted (see the log above)`);
  }
  if (final.workerRestarts > 0) {
    trouble.push(countOf(final.workerRestarts, "worker restart"));
  }
  if (final.storageErrors > 0) {
    trouble.push(countOf(final.storageErrors, "file write error"));
  }
  out.write(
    `stopped after ${((performance.now() - startedAt) / 1000).toFixed(1)} s: ${formatCount(final.published)} readings published, ` +
      `${formatCount(final.acked)} acked, ${formatCount(final.dropped)} dropped (buffer full), ` +
      `${formatCount(final.buffered)} unsent at shutdown; config ${formatCount(final.configApplied)} applied/${formatCount(final.configRejected)} rejected` +
      `${trouble.length > 0 ? "; " + trouble.join(", ") : ""}\n`,
  );
  out.write(`node files: ${node.stateDir}\n`);
  if (interruptedBy !== undefined) {
    return interruptedBy === "SIGTERM" ? 143 : 130;
  }
  return final.faulted > 0 ? 1 : 0;
}

interface StoredSettings {
  /** Stored value kept over the option's default: key -> value text -> nodes. */
  kept: Map<string, Map<string, number>>;
  /** Stored value replaced by an option given explicitly: key -> nodes. */
  replaced: Map<string, number>;
  /** Node folders read (at most STORED_SCAN_LIMIT). */
  scanned: number;
}

/**
 * What the nodes of `range` stored under `stateDir` against this run's
 * options: run-time settings they keep (the option was a default) and the
 * ones an option given explicitly replaces. Reads the first
 * STORED_SCAN_LIMIT nodes' config.json.
 */
function storedSettings(stateDir: string, range: { first: number; count: number }, initial: Partial<NodeConfig>, fixed: Partial<NodeConfig>): StoredSettings {
  const result: StoredSettings = { kept: new Map(), replaced: new Map(), scanned: Math.min(range.count, STORED_SCAN_LIMIT) };
  const defaults = initial as Record<string, unknown>;
  const given = fixed as Record<string, unknown>;
  for (let i = 0; i < result.scanned; i++) {
    let config: Record<string, unknown>;
    try {
      const value = JSON.parse(readFileSync(join(stateDir, nodeId(range.first + i), CONFIG_FILE), "utf8")) as unknown;
      if (typeof value !== "object" || value === null) {
        continue;
      }
      config = value as Record<string, unknown>;
    } catch {
      continue; // nothing stored (or unreadable: the node starts from the options, as seedConfig does)
    }
    for (const [, key] of RUNTIME_OPTIONS) {
      const value = config[key];
      const spec = findSpec(key);
      if (value === undefined || spec === undefined || checkValue(spec, value) !== undefined) {
        continue;
      }
      const text = JSON.stringify(value);
      if (key in given) {
        if (text !== JSON.stringify(given[key])) {
          result.replaced.set(key, (result.replaced.get(key) ?? 0) + 1);
        }
      } else if (key in defaults && text !== JSON.stringify(defaults[key])) {
        const values = result.kept.get(key) ?? new Map<string, number>();
        values.set(text, (values.get(text) ?? 0) + 1);
        result.kept.set(key, values);
      }
    }
  }
  return result;
}

/** What the summary says about stored settings: which were kept (and how to override them), which options replaced some. */
export function storedSettingsLines(stored: StoredSettings | undefined, keptNodes: number, stateDir: string): string[] {
  const lines: string[] = [];
  const optionOf = (key: string): string => `--${(RUNTIME_OPTIONS.find(([, k]) => k === key)?.[0] ?? key).replace(/[A-Z]/g, (c) => "-" + c.toLowerCase())}`;
  const of = stored !== undefined && stored.scanned < keptNodes ? ` (of the first ${formatCount(stored.scanned)})` : "";
  if (keptNodes > 0) {
    const kept = [...(stored?.kept ?? new Map<string, Map<string, number>>())].map(([key, values]) =>
      [...values].map(([value, nodes]) => `${key}=${value} on ${formatCount(nodes)}`).join(", "),
    );
    const options = [...(stored?.kept.keys() ?? [])].map(optionOf);
    lines.push(
      `${formatCount(keptNodes)} nodes kept their stored settings (from a config_change or an earlier run; ${stateDir})${kept.length > 0 ? `: ${kept.join(", ")}${of}` : ""}; ` +
        `an option given on the command line wins over them${options.length > 0 ? ` (${options.join(", ")})` : ""}, --fresh forgets them all`,
    );
  }
  for (const [key, nodes] of stored?.replaced ?? []) {
    lines.push(`${optionOf(key)} given: it replaces the stored ${key} of ${formatCount(nodes)} nodes${of}`);
  }
  return lines;
}

/** The `espfleet watch` line that shows this fleet's readings: the broker, prefix and readings topic it needs. */
export function watchCommandLine(target: BrokerTarget, flags: { prefix: string; topicData: string }): string {
  const parts = ["espfleet watch"];
  if (target.url !== "mqtt://127.0.0.1:1883") {
    parts.push(`--broker ${target.url}`);
  }
  if (flags.prefix !== "") {
    parts.push(`--prefix ${flags.prefix}`);
  }
  if (flags.topicData !== DEFAULT_TOPIC_DATA) {
    parts.push(`--topic-data '${flags.topicData}'`);
  }
  if (target.secure && target.files?.ca !== undefined) {
    parts.push(`--ca ${target.files.ca}`);
  }
  return parts.join(" ");
}

/** Where the readings go, and what to subscribe to for them (the summary's second line). */
export function readingsLine(prefix: string, topicData: string): string {
  const topics = operatorTopics(prefix, topicData);
  if (topics.readings.length === 1) {
    const one = topicsFor({ ...defaultConfig(), topic_prefix: prefix, topic_data: topicData }, "<id>").data;
    return `readings on ${one}, a topic per node (subscribe to ${topics.data})`;
  }
  return `readings on ${topics.data}, the node id in each (subscribe to ${topics.data})`;
}

/** Refuse options the chosen engine cannot honour, before anything starts. */
function checkEngineFlags(flags: RunFlags): void {
  if (flags.engine !== "ts" && flags.engine !== "lua") {
    throw new CliError(`--engine ${flags.engine}: choose ts (the TypeScript core) or lua (virtual devices running firmware/dist)`, 2);
  }
  if (flags.engine === "ts") {
    if (flags.lfs === false) {
      throw new CliError("--no-lfs is how a virtual device runs the app; it needs --engine lua", 2);
    }
    if (flags.heapKb !== undefined) {
      throw new CliError("--heap-kb is the Lua heap budget of a virtual device; it needs --engine lua", 2);
    }
    return;
  }
  const refused: string[] = [];
  if (flags.workers !== "1") {
    refused.push("--workers (the lua engine runs in this process only; use --shard to split a fleet over processes)");
  }
  if (flags.faults !== "none") {
    refused.push("--faults (the virtual devices' sensors have no fault injection)");
  }
  if (flags.ca !== undefined) {
    refused.push("--ca (a virtual device, like NodeMCU without tls.cert.verify, does not check the broker's certificate)");
  }
  if (flags.cert !== undefined || flags.key !== undefined) {
    refused.push("--cert/--key (a virtual device, like NodeMCU's tls module here, sends no client certificate)");
  }
  if (refused.length > 0) {
    throw new CliError(`--engine lua does not support ${refused.join("; ")}`, 2);
  }
}

function parseWorkers(text: string, nodes: number): number {
  const cores = availableParallelism();
  if (text === "auto") {
    return Math.max(1, Math.min(cores, nodes));
  }
  const parsed = parseCount(text, "--workers", 1, 256);
  if (!parsed.ok) {
    throw new CliError(`${parsed.error}; or "auto" for one per core (${cores} here)`, 2);
  }
  return Math.min(parsed.value, nodes);
}

/** Resolve when `condition` holds (polled), or after `timeoutMs`. */
function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const started = performance.now();
    const poll = setInterval(() => {
      if (condition() || performance.now() - started >= timeoutMs) {
        clearInterval(poll);
        resolve();
      }
    }, 50);
  });
}
