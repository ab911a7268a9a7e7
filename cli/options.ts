/**
 * Option parsers and option groups shared by the commands. Every parser
 * turns bad input into commander's InvalidArgumentError with a message that
 * says what to type instead.
 */
import { join } from "node:path";
import { InvalidArgumentError, Option, type Command } from "commander";
import { DEFAULT_TOPIC_DATA } from "../broker/topics";
import { parseCount, parseDuration, parseNumber, type Parsed } from "../common/units";

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

/**
 * --state-dir's default: .espfleet/nodes in the current folder (as
 * simulator/fleet.ts defaultStateDir, which is not imported here: it would
 * load the fleet, and mqtt with it, for `--help`).
 */
export const defaultStateDir = (): string => join(process.cwd(), ".espfleet", "nodes");

/** "temperature,humidity" or repeated --sensors: a list of names. */
export const listArg = (text: string, previous: string[] | undefined): string[] => [
  ...(previous ?? []),
  ...text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== ""),
];

/**
 * --broker/--username/--password/--credentials/--ca/--cert/--key, the same
 * on every command. Environment: ESPFLEET_USERNAME / ESPFLEET_PASSWORD
 * (commander fills the flags from them), else MQTT_USERNAME / MQTT_PASSWORD
 * (read in brokerFromFlags and run: commander takes one variable per option).
 */
export function addBrokerOptions(command: Command, brokerHelp: string): Command {
  return command
    .addOption(new Option("--broker <url>", brokerHelp))
    .addOption(new Option("--username <name>", "MQTT user name (default: none, or env MQTT_USERNAME when ESPFLEET_USERNAME is unset)").env("ESPFLEET_USERNAME"))
    .addOption(
      new Option("--password <secret>", "MQTT password; the environment or --credentials is safer than this flag, which other users can see in ps (default: none, or env MQTT_PASSWORD when ESPFLEET_PASSWORD is unset)").env(
        "ESPFLEET_PASSWORD",
      ),
    )
    .addOption(new Option("--credentials <file>", "file of user:password lines (docs/mosquitto/make-passwd.sh writes it); the password of the user comes from it (default: none)"))
    .addOption(new Option("--ca <file>", "CA certificate (PEM) to trust for mqtts:// (default: the system's CAs)"))
    .addOption(new Option("--cert <file>", "client certificate (PEM) for a broker that requires one; mqtts:// only (default: none)"))
    .addOption(new Option("--key <file>", "unencrypted private key (PEM) of --cert (default: none)"))
    .addOption(new Option("--prefix <topic-prefix>", 'topic prefix of the fleet (topic_prefix): "site1" means site1/sensor_data, site1/status/<id>, …').env("ESPFLEET_PREFIX").default("", "none"));
}

/**
 * --topic-data of run and watch: the nodes' readings topic (`topic_data`),
 * after the prefix; `{id}` stands for each node's id. Checked against the
 * node's schema by the commands (run: checkFleetSettings; watch: checkTopicData).
 */
export function topicDataOption(help: string, defaultHelp: string): Option {
  return new Option("--topic-data <topic>", help).env("ESPFLEET_TOPIC_DATA").default(DEFAULT_TOPIC_DATA, defaultHelp);
}

/**
 * An "Examples:" section after a command's options, as esphome's and
 * mosquitto_sub's documentation have: what it does, then the line to type.
 */
export function addExamples(command: Command, examples: readonly (readonly [what: string, line: string])[]): Command {
  const text = examples.map(([what, line]) => `  # ${what}\n  ${line}`).join("\n");
  return command.addHelpText("after", `\nExamples:\n${text}\n`);
}

/**
 * The options given on the command line (not defaults, not the
 * environment), by their attribute names: an explicit flag wins over a
 * stored setting (issue 12).
 */
export function explicitOptions(command: Command): string[] {
  return command.options.map((option) => option.attributeName()).filter((name) => command.getOptionValueSource(name) === "cli");
}

/** Serial speed in bit/s, for monitor, flash and write-flash. */
export const baudArg = (text: string): number => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 300 || n > 4_000_000) {
    throw new InvalidArgumentError(`${text} is not a baud rate: give bits per second between 300 and 4000000, e.g. 115200 (NodeMCU's console) or 460800`);
  }
  return n;
};

/** A flash offset, "0x40000" or "262144", in bytes. */
export const addressArg = (text: string): number => {
  const value = /^0x[0-9a-f]+$/i.test(text) ? Number.parseInt(text.slice(2), 16) : /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value)) {
    throw new InvalidArgumentError(`${text}: give a flash offset in hex (0x1000) or decimal bytes`);
  }
  return value;
};
