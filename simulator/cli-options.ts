/**
 * Option parsers and option groups shared by the commands. Every parser
 * turns bad input into commander's InvalidArgumentError with a message that
 * says what to type instead.
 */
import { InvalidArgumentError, Option, type Command } from "commander";
import { parseBrokerTarget, type BrokerFlags, type BrokerTarget } from "./broker-target";
import { checkValue, findSpec } from "../firmware/core/config";
import { CliError } from "./cli-error";
import { DEFAULT_TOPIC_DATA } from "./config-change";
import { readCredentialsFile } from "./credentials";
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

/** Broker flags plus where passwords may come from. */
export interface LoginFlags extends BrokerFlags {
  /** A `user:password` file (docs/mosquitto/make-passwd.sh). */
  credentials?: string;
}

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

/** Refuse a --topic-data a node would refuse (the schema's reason), before connecting. */
export function checkTopicData(topicData: string): void {
  const spec = findSpec("topic_data");
  const reason = spec !== undefined ? checkValue(spec, topicData) : undefined;
  if (reason !== undefined) {
    throw new CliError(`--topic-data: topic_data ${reason}`, 2);
  }
}

/**
 * For config and watch: --broker defaults to the embedded broker's address.
 * The login: --username (or ESPFLEET_USERNAME, the URL's user, MQTT_USERNAME);
 * the password: --password (or ESPFLEET_PASSWORD, the URL's), else that
 * user's line in --credentials, else MQTT_PASSWORD.
 */
export function brokerFromFlags(flags: LoginFlags, env: NodeJS.ProcessEnv = process.env): BrokerTarget {
  const target = parseBrokerTarget({ ...flags, broker: flags.broker ?? "mqtt://127.0.0.1:1883" });
  if (target.username === "" && env.MQTT_USERNAME !== undefined) {
    target.username = env.MQTT_USERNAME;
  }
  if (target.password === "") {
    if (flags.credentials !== undefined) {
      target.password = passwordFromFile(flags.credentials, target.username);
    } else if (env.MQTT_PASSWORD !== undefined) {
      target.password = env.MQTT_PASSWORD;
    }
  }
  return target;
}

/** The password of `user` in a credentials file, or a CliError saying how to add it. */
export function passwordFromFile(file: string, user: string): string {
  if (user === "") {
    throw new CliError(`--credentials ${file} needs --username: which user of the file to log in as (e.g. --username operator)`, 2);
  }
  const password = readCredentialsFile(file)[user];
  if (password === undefined) {
    throw new CliError(`user "${user}" is not in --credentials ${file}; add it with docs/mosquitto/make-passwd.sh --operator ${user} --out <dir of ${file}>`, 2);
  }
  return password;
}
