/**
 * From command-line broker flags to a BrokerTarget: the login and where its
 * password comes from, the same for every command that reaches the broker.
 */
import { parseBrokerTarget, type BrokerFlags, type BrokerTarget } from "./target";
import { CliError } from "../common/errors";
import { readCredentialsFile } from "./credentials";

/** Broker flags plus where passwords may come from. */
export interface LoginFlags extends BrokerFlags {
  /** A `user:password` file (docs/mosquitto/make-passwd.sh). */
  credentials?: string;
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
