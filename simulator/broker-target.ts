/**
 * Which broker to talk to (`--broker`, `--username`, `--password`, `--ca`)
 * and the one place that turns "cannot connect" into advice.
 */
import { readFileSync } from "node:fs";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { CliError } from "./cli-error";

export interface BrokerTarget {
  /** For people: mqtt://host:port or mqtts://host:port (never the password). */
  url: string;
  host: string;
  port: number;
  secure: boolean;
  username: string;
  password: string;
  /** CA certificate(s) for mqtts:// with a private CA. */
  ca: Buffer | undefined;
  /** True when this is the embedded broker the command started itself. */
  embedded: boolean;
}

export interface BrokerFlags {
  broker?: string;
  username?: string;
  password?: string;
  ca?: string;
}

/** Build a target from `--broker mqtt://host[:port]` and friends. */
export function parseBrokerTarget(flags: BrokerFlags & { broker: string }): BrokerTarget {
  let url: URL;
  try {
    url = new URL(flags.broker);
  } catch {
    throw new CliError(`--broker "${flags.broker}" is not a URL; use mqtt://host:1883 or mqtts://host:8883`, 2);
  }
  const secure = url.protocol === "mqtts:";
  if (url.protocol !== "mqtt:" && !secure) {
    throw new CliError(`--broker must start with mqtt:// or mqtts:// (got ${url.protocol}//); websockets are not supported`, 2);
  }
  if (url.hostname === "") {
    throw new CliError(`--broker "${flags.broker}" names no host; use e.g. mqtt://127.0.0.1:1883`, 2);
  }
  const port = url.port !== "" ? Number(url.port) : secure ? 8883 : 1883;
  // Credentials in the URL are accepted too; the flags win.
  const username = flags.username ?? decodeURIComponent(url.username);
  const password = flags.password ?? decodeURIComponent(url.password);
  let ca: Buffer | undefined = undefined;
  if (flags.ca !== undefined) {
    try {
      ca = readFileSync(flags.ca);
    } catch (error) {
      throw new CliError(`cannot read --ca ${flags.ca}: ${(error as Error).message}`, 2);
    }
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  return {
    url: `${secure ? "mqtts" : "mqtt"}://${url.hostname}:${port}`,
    host,
    port,
    secure,
    username,
    password,
    ca,
    embedded: false,
  };
}

export function mqttOptions(target: BrokerTarget, clientId: string): IClientOptions {
  const options: IClientOptions = {
    protocol: target.secure ? "mqtts" : "mqtt",
    host: target.host,
    port: target.port,
    clientId,
    protocolVersion: 4,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
  };
  if (target.username !== "") {
    options.username = target.username;
    options.password = target.password;
  }
  if (target.ca !== undefined) {
    options.ca = target.ca;
  }
  return options;
}

/** Advice for a failed connect, by error code. */
export function explainConnectError(target: BrokerTarget, error: Error & { code?: string | number }): string {
  const code = typeof error.code === "string" ? error.code : "";
  const reason = code !== "" && !error.message.includes(code) ? `${code} (${error.message})` : code !== "" ? code : error.message;
  if (code === "ECONNREFUSED") {
    return target.embedded
      ? `cannot reach the embedded broker at ${target.url}: ECONNREFUSED; it stopped unexpectedly`
      : `cannot reach ${target.url}: ECONNREFUSED; is the broker running? start one with \`mosquitto -p ${target.port}\` or omit --broker to use the embedded one`;
  }
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") {
    return `cannot reach ${target.url}: ${reason}; the host name ${target.host} does not resolve; check --broker`;
  }
  if (code === "ETIMEDOUT" || error.message.includes("connack timeout")) {
    return `cannot reach ${target.url}: no answer within 10 s; check the host, the port and any firewall between`;
  }
  if (/not authorized|bad user name or password/i.test(error.message)) {
    return `${target.url} refused the login: ${error.message}; check --username and --password`;
  }
  if (/certificate|self.signed|SSL|TLS/i.test(error.message) || code.startsWith("ERR_TLS") || code.includes("CERT")) {
    return `TLS to ${target.url} failed: ${reason}; pass the broker's CA certificate with --ca <file.pem>`;
  }
  if (/identifier rejected/i.test(error.message)) {
    return `${target.url} rejected the client id: ${error.message}; the broker may limit client id length or characters`;
  }
  return `cannot connect to ${target.url}: ${reason}`;
}

/**
 * Connect one client and wait for the CONNACK; throws a CliError with advice
 * when the broker cannot be reached. The client does not reconnect by itself
 * unless `reconnectMs` is given (watch keeps tailing across broker restarts).
 */
export function connectClient(target: BrokerTarget, clientId: string, reconnectMs = 0): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect({ ...mqttOptions(target, clientId), reconnectPeriod: reconnectMs });
    let lastError: (Error & { code?: string | number }) | undefined = undefined;
    // Stays attached: an 'error' without a listener would throw.
    client.on("error", (error: Error & { code?: string | number }) => {
      lastError = error;
    });
    const fail = (): void => {
      client.removeAllListeners("connect");
      client.end(true);
      reject(new CliError(explainConnectError(target, lastError ?? new Error("connection closed before CONNACK"))));
    };
    client.once("close", fail);
    client.once("connect", () => {
      client.removeListener("close", fail);
      resolve(client);
    });
  });
}

/** Check that the broker accepts a connection before starting thousands of nodes against it. */
export async function probeBroker(target: BrokerTarget): Promise<void> {
  const client = await connectClient(target, `espfleet-probe-${process.pid}`);
  await client.endAsync();
}
