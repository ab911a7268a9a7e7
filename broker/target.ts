/**
 * Which broker to talk to (`--broker`, `--username`, `--password`, `--ca`,
 * `--cert`, `--key`), the login of each simulated node, and the one place
 * that turns "cannot connect" into advice. No message made here ever holds a
 * password or key material.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { checkRegularFile } from "../common/input-file";
import { createSecureContext, type PeerCertificate } from "node:tls";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { CliError } from "../common/errors";
import { expandUser } from "./credentials";
import { maskSecrets, maskUrlPassword } from "../common/secrets";
import { certificateNames, explainTlsError, fetchServerCertificate, isTlsError, type TlsError } from "./tls-diagnosis";

/**
 * Per-node logins of `espfleet run`: each node's user name from a template
 * (`node-{id}`), its password from the credentials file, else the shared one.
 */
export interface NodeLogins {
  /** `{id}` = the node's number as its id writes it (0001), `{node}` = the whole id. */
  userTemplate: string;
  /** user -> password (--credentials); users not in it use the target's password. */
  passwords?: Record<string, string>;
}

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
  /** Client certificate and its private key (PEM), for brokers that require one. */
  cert?: Buffer;
  key?: Buffer;
  /** The files they came from, for messages (never their contents). */
  files?: { ca?: string; cert?: string; key?: string };
  /** Per-node logins (run); absent: every client uses username/password. */
  logins?: NodeLogins;
  /** True when this is the embedded broker the command started itself. */
  embedded: boolean;
}

export interface BrokerFlags {
  broker?: string;
  username?: string;
  password?: string;
  ca?: string;
  cert?: string;
  key?: string;
}

/** The user name and password node `nodeId` logs in with. */
export function loginFor(target: BrokerTarget, nodeId: string): { user: string; password: string } {
  const logins = target.logins;
  if (logins === undefined) {
    return { user: target.username, password: target.password };
  }
  const user = expandUser(logins.userTemplate, nodeId);
  return { user, password: logins.passwords?.[user] ?? target.password };
}

/** Every password the target may use: what to mask in any text shown to people. */
export function secretsOf(target: BrokerTarget): string[] {
  const secrets = [target.password];
  if (target.logins?.passwords !== undefined) {
    secrets.push(...Object.values(target.logins.passwords));
  }
  return secrets.filter((s) => s !== "");
}

function readPem(flag: string, path: string): Buffer {
  checkRegularFile(flag, path);
  try {
    return readFileSync(path);
  } catch (error) {
    throw new CliError(`cannot read ${flag} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, 2);
  }
}

/** Refuse a client certificate and key that cannot work, before any connection. */
function checkClientCertificate(certFile: string, cert: Buffer, keyFile: string, key: Buffer): void {
  try {
    new X509Certificate(cert);
  } catch {
    throw new CliError(`--cert ${certFile} is not a PEM certificate ("-----BEGIN CERTIFICATE-----")`, 2);
  }
  try {
    createPrivateKey(key);
  } catch {
    // Node's message is about the key's encoding; it never quotes the key.
    throw new CliError(`--key ${keyFile} is not an unencrypted PEM private key; decrypt it with \`openssl pkey -in ${keyFile} -out key.pem\``, 2);
  }
  try {
    createSecureContext({ cert, key });
  } catch {
    throw new CliError(`--cert ${certFile} and --key ${keyFile} do not belong together (the key is not the certificate's); give the key the certificate was made for`, 2);
  }
}

/** Build a target from `--broker mqtt://host[:port]` and friends. */
export function parseBrokerTarget(flags: BrokerFlags & { broker: string }): BrokerTarget {
  let url: URL;
  try {
    url = new URL(flags.broker);
  } catch {
    throw new CliError(`--broker "${maskUrlPassword(flags.broker)}" is not a URL; use mqtt://host:1883 or mqtts://host:8883`, 2);
  }
  const secure = url.protocol === "mqtts:";
  if (url.protocol !== "mqtt:" && !secure) {
    throw new CliError(`--broker must start with mqtt:// or mqtts:// (got ${url.protocol}//); websockets are not supported`, 2);
  }
  if (url.hostname === "") {
    throw new CliError(`--broker "${maskUrlPassword(flags.broker)}" names no host; use e.g. mqtt://127.0.0.1:1883`, 2);
  }
  const port = url.port !== "" ? Number(url.port) : secure ? 8883 : 1883;
  // Credentials in the URL are accepted too; the flags win.
  const username = flags.username ?? decodeURIComponent(url.username);
  const password = flags.password ?? decodeURIComponent(url.password);
  const ca = flags.ca !== undefined ? readPem("--ca", flags.ca) : undefined;
  if ((flags.cert === undefined) !== (flags.key === undefined)) {
    throw new CliError(flags.cert !== undefined ? "--cert needs --key (the certificate's private key)" : "--key needs --cert (the client certificate)", 2);
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const target: BrokerTarget = {
    url: `${secure ? "mqtts" : "mqtt"}://${url.hostname}:${port}`,
    host,
    port,
    secure,
    username,
    password,
    ca,
    embedded: false,
  };
  const files: { ca?: string; cert?: string; key?: string } = {};
  if (flags.ca !== undefined) {
    files.ca = flags.ca;
  }
  if (flags.cert !== undefined && flags.key !== undefined) {
    if (!secure) {
      throw new CliError("--cert and --key are for TLS: use an mqtts:// broker URL (usually port 8883)", 2);
    }
    target.cert = readPem("--cert", flags.cert);
    target.key = readPem("--key", flags.key);
    checkClientCertificate(flags.cert, target.cert, flags.key, target.key);
    files.cert = flags.cert;
    files.key = flags.key;
  }
  target.files = files;
  return target;
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
  if (target.cert !== undefined && target.key !== undefined) {
    options.cert = target.cert;
    options.key = target.key;
  }
  return options;
}

/**
 * Advice for a failed connect, by error code. `server` is the broker's
 * certificate when a TLS failure was looked into (see diagnoseConnectError).
 * Any password of the target that shows up in the error is masked.
 */
export function explainConnectError(target: BrokerTarget, error: TlsError, server?: PeerCertificate): string {
  return maskSecrets(explainUnmasked(target, error, server), secretsOf(target));
}

/** An mqtt:// connection the broker dropped before its CONNACK: what a TLS listener does with plain MQTT. */
function droppedEarly(target: BrokerTarget, error: TlsError): boolean {
  const code = typeof error.code === "string" ? error.code : "";
  return !target.secure && (code === "ECONNRESET" || code === "EPIPE" || /connection closed before CONNACK/.test(error.message));
}

function explainUnmasked(target: BrokerTarget, error: TlsError, server: PeerCertificate | undefined): string {
  const code = typeof error.code === "string" ? error.code : "";
  const reason = code !== "" && !error.message.includes(code) ? `${code} (${error.message})` : code !== "" ? code : error.message;
  if (server !== undefined && droppedEarly(target, error)) {
    // diagnoseConnectError found a TLS listener there (it sent its certificate).
    const names = certificateNames(server);
    return (
      `cannot connect to ${target.url}: ${reason}; ${target.host}:${target.port} speaks TLS (its certificate is for ${names}), not plain MQTT: ` +
      `use --broker mqtts://${target.host}:${target.port}${target.files?.ca === undefined ? " (with --ca ca.crt when a private CA signed it)" : ""}`
    );
  }
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
    if (target.username === "" && target.logins === undefined) {
      return `${target.url} refused the login: ${error.message}; it does not accept anonymous clients: pass --username and --password (or --credentials)`;
    }
    return `${target.url} refused the login of user "${target.username}": ${error.message}; check --username and --password (or --credentials)`;
  }
  const tls = explainTlsError(
    { url: target.url, host: target.host, port: target.port, caFile: target.files?.ca, certFile: target.files?.cert, hasClientCert: target.cert !== undefined },
    error,
    server,
  );
  if (tls !== undefined) {
    return tls;
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
export function connectClient(
  target: BrokerTarget,
  clientId: string,
  reconnectMs = 0,
  session: {
    /** false: a persistent session (the broker keeps subscriptions and queues QoS 1 messages while away). Default true. */
    clean?: boolean;
    /** Called before the connection is made: a persistent session's queued messages may arrive with the CONNACK. */
    setup?: (client: MqttClient) => void;
  } = {},
): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect({ ...mqttOptions(target, clientId), reconnectPeriod: reconnectMs, clean: session.clean ?? true });
    session.setup?.(client);
    let lastError: (Error & { code?: string | number }) | undefined = undefined;
    // Stays attached: an 'error' without a listener would throw.
    client.on("error", (error: Error & { code?: string | number }) => {
      lastError = error;
    });
    const fail = (): void => {
      client.removeAllListeners("connect");
      client.end(true);
      void diagnoseConnectError(target, lastError ?? new Error("connection closed before CONNACK")).then((text) => reject(new CliError(text)));
    };
    client.once("close", fail);
    client.once("connect", () => {
      client.removeListener("close", fail);
      resolve(client);
    });
  });
}

/** explainConnectError, after reading the broker's certificate when TLS failed (for its dates and names). */
export async function diagnoseConnectError(target: BrokerTarget, error: TlsError): Promise<string> {
  // A TLS failure: read the certificate for its dates and names. Plain MQTT dropped at once: is that port a TLS listener?
  const look = (target.secure && isTlsError(error)) || droppedEarly(target, error);
  const server = look ? await fetchServerCertificate(target.host, target.port) : undefined;
  return explainConnectError(target, error, server);
}

/**
 * Check that the broker accepts a connection before starting thousands of
 * nodes against it; with per-node logins, as the first node (`asNode`).
 */
export async function probeBroker(target: BrokerTarget, asNode?: string): Promise<void> {
  let probe = target;
  if (asNode !== undefined) {
    const { logins: _perNode, ...shared } = target;
    const login = loginFor(target, asNode);
    probe = { ...shared, username: login.user, password: login.password };
  }
  const client = await connectClient(probe, `espfleet-probe-${process.pid}`);
  await client.endAsync();
}
