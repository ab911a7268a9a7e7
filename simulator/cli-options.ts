/**
 * Option parsers and option groups shared by the commands. Every parser
 * turns bad input into commander's InvalidArgumentError with a message that
 * says what to type instead.
 */
import { InvalidArgumentError, Option, type Command } from "commander";
import { parseBrokerTarget, type BrokerFlags, type BrokerTarget } from "./broker-target";
import { parseCount, parseDuration, parseNumber, type Parsed } from "./units";

function unwrap<T>(parsed: Parsed<T>): T {
  if (!parsed.ok) {
    throw new InvalidArgumentError(parsed.error);
  }
  return parsed.value;
}

export const durationArg = (text: string): number => unwrap(parseDuration(text));
export const numberArg = (text: string): number => unwrap(parseNumber(text, "the value"));
export const countArg =
  (min: number, max: number) =>
  (text: string): number =>
    unwrap(parseCount(text, "the value", min, max));

/** "temperature,humidity" or repeated --sensors: a list of names. */
export const listArg = (text: string, previous: string[] | undefined): string[] => [
  ...(previous ?? []),
  ...text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== ""),
];

/** --broker/--username/--password/--ca, the same on every command. */
export function addBrokerOptions(command: Command, brokerHelp: string): Command {
  return command
    .addOption(new Option("--broker <url>", brokerHelp))
    .addOption(new Option("--username <name>", "MQTT user name (default: none)").env("ESPFLEET_USERNAME"))
    .addOption(new Option("--password <secret>", "MQTT password (default: none)").env("ESPFLEET_PASSWORD"))
    .addOption(new Option("--ca <file>", "CA certificate (PEM) to trust for mqtts:// (default: the system's CAs)"))
    .addOption(new Option("--prefix <topic-prefix>", 'topic prefix of the fleet (topic_prefix): "site1" means site1/sensor_data/<id>').default("", "none"));
}

/** For config and watch: --broker defaults to the embedded broker's address. */
export function brokerFromFlags(flags: BrokerFlags): BrokerTarget {
  return parseBrokerTarget({ ...flags, broker: flags.broker ?? "mqtt://127.0.0.1:1883" });
}
