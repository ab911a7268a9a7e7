/**
 * `espfleet bridge`: an Arduino running StandardFirmata joins the fleet.
 * The host runs the node (firmware core on the simulator's platform) and
 * reads the board through johnny-five; the node publishes, obeys
 * config_change and says online/offline like any other member.
 *
 * Order of checks: everything that needs no hardware first (sensor specs,
 * options, the broker), then the board, so a typo costs no board reset.
 */
import { basename, resolve } from "node:path";
import type { LogLevel } from "../../firmware/core/platform";
import { type BrokerTarget, probeBroker } from "../../broker/target";
import { brokerFromFlags, type LoginFlags } from "../../broker/flags";
import { CliError } from "../../common/errors";
import { topicsFor } from "../../firmware/core/topics";
import { formatDuration } from "../../common/units";
import { BoardKeeper, type BoardSession } from "./board-keeper";
import { connectFirmataBoard } from "./firmata-board";
import { BridgeNode } from "./firmata-platform";
import { FirmataSensors } from "./firmata-sensors";
import { parseSensorSpecs } from "./sensor-spec";

/** The options of `espfleet bridge` as commander hands them over (the broker's from addBrokerOptions). */
export interface BridgeFlags extends LoginFlags {
  port: string;
  sensor: string[];
  id?: string;
  prefix: string;
  /** ms */
  interval: number;
  /** V */
  aref: number;
  baud: number;
  /** ms */
  boardTimeout: number;
  /** ms between attempts to reopen a board that went away */
  boardRetry: number;
  stateDir: string;
  fresh?: boolean;
  /** ms; undefined = until Ctrl-C */
  duration?: number;
  logLevel: LogLevel;
  /** Options given on the command line (cli/options.ts explicitOptions): a given --interval wins over a stored one. */
  explicit?: string[];
}

const LEVEL_ORDER: Record<LogLevel, number> = { info: 0, warn: 1, error: 2 };
/** A 10-bit AVR ADC, for boards whose Firmata does not report a resolution. */
const DEFAULT_ADC_MAX = 1023;

/** `/dev/ttyACM0` -> `bridge-ttyACM0`; characters a node id cannot hold become "-". */
export function defaultBridgeId(portPath: string): string {
  return ("bridge-" + basename(portPath).replace(/[^A-Za-z0-9._-]/g, "-")).slice(0, 32);
}

/** Run until Ctrl-C (or --duration); resolves with the exit code. */
export async function bridgeCommand(flags: BridgeFlags, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const specs = parseSensorSpecs(flags.sensor);
  if (!specs.ok) {
    throw new CliError(specs.error, 2);
  }
  if (!(flags.aref > 0 && flags.aref <= 5.5)) {
    throw new CliError(`--aref ${flags.aref}: the analog reference is a voltage from 0 to 5.5 V (5 on an Uno, 3.3 on a 3.3 V board)`, 2);
  }
  const nodeId = flags.id ?? defaultBridgeId(flags.port);
  const broker = brokerFromFlags(flags);
  const initial = { interval_ms: flags.interval, sensors: specs.value.map((s) => s.sensor) };
  const stateDir = resolve(flags.stateDir);
  BridgeNode.check({ nodeId, broker, prefix: flags.prefix, stateDir, initial });
  await probeBridgeBroker(broker);

  const openSession = async (): Promise<BoardSession> => {
    const board = await connectFirmataBoard({ path: flags.port, baudRate: flags.baud }, flags.boardTimeout);
    try {
      const resolution = board.board.RESOLUTION?.ADC ?? DEFAULT_ADC_MAX;
      return { board, sensors: new FirmataSensors(board.board, specs.value, { resolution, arefVolts: flags.aref }) };
    } catch (error) {
      await board.close();
      throw new CliError((error as Error).message, 2);
    }
  };
  const log = (level: LogLevel, text: string): void => {
    if (LEVEL_ORDER[level] >= LEVEL_ORDER[flags.logLevel]) {
      err.write(`${nodeId} ${level}: ${text}\n`);
    }
  };
  const keeper = new BoardKeeper(await openSession(), { open: openSession, retryMs: flags.boardRetry, notify: (text) => log("warn", text) });
  let node: BridgeNode;
  try {
    // An explicit flag wins over a stored setting (issue 12): a given --interval is forced, like the prefix.
    const fixed = flags.explicit?.includes("interval") === true ? { interval_ms: flags.interval } : {};
    node = await BridgeNode.start({ nodeId, broker, prefix: flags.prefix, stateDir, fresh: flags.fresh === true, sensors: keeper, initial, fixed, log });
  } catch (error) {
    await keeper.close();
    throw error;
  }
  const settings = node.core.settings();
  const dataTopic = topicsFor(settings, nodeId).data;
  out.write(
    `${nodeId}: ${keeper.current().board.description}; ${keeper.current().sensors.describe()}\n` +
      `${nodeId}: readings of ${settings.sensors.join(", ")} every ${formatDuration(settings.interval_ms)} to ${broker.url} ${dataTopic}; ` +
      `config_change applies (state in ${stateDir}/${nodeId}); Ctrl-C stops\n`,
  );
  if (node.keptStored.length > 0) {
    out.write(`${nodeId}: kept ${node.keptStored.join(", ")} stored by an earlier config_change over the options; --fresh forgets them\n`);
  }
  const unwired = settings.sensors.filter((name) => !specs.value.some((s) => s.sensor === name));
  if (unwired.length > 0) {
    out.write(`${nodeId}: note: the stored config enables ${unwired.join(", ")}, which no --sensor wires; those reads fail until a config_change or --fresh\n`);
  }
  const signal = await untilStopped(flags.duration);
  out.write(`${nodeId}: stopping (retained "offline")\n`);
  await node.stop();
  await keeper.close();
  // One exit rule (issue 12): 130 after Ctrl-C, 143 after SIGTERM, 0 when --duration ran out.
  return signal === "SIGINT" ? 130 : signal === "SIGTERM" ? 143 : 0;
}

/** The bridge joins a fleet's broker; it starts none, so the advice is to start one. */
async function probeBridgeBroker(broker: BrokerTarget): Promise<void> {
  try {
    await probeBroker(broker);
  } catch (error) {
    if (!(error instanceof CliError)) {
      throw error;
    }
    const message = error.message.replace(/ or omit --broker to use the embedded one$/, "");
    throw new CliError(`${message}; the bridge joins a running broker (\`espfleet run\` starts one on 127.0.0.1:1883)`, error.exitCode);
  }
}

/** Resolves with the signal that stopped the bridge, or undefined when --duration ran out. */
function untilStopped(durationMs: number | undefined): Promise<NodeJS.Signals | undefined> {
  return new Promise((resolveStop) => {
    const onInt = (): void => stop("SIGINT");
    const onTerm = (): void => stop("SIGTERM");
    const stop = (signal: NodeJS.Signals | undefined): void => {
      process.removeListener("SIGINT", onInt);
      process.removeListener("SIGTERM", onTerm);
      clearTimeout(timer);
      resolveStop(signal);
    };
    const timer = durationMs !== undefined ? setTimeout(() => stop(undefined), durationMs) : undefined;
    process.once("SIGINT", onInt);
    process.once("SIGTERM", onTerm);
  });
}
