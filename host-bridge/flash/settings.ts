/**
 * The node's settings for `espfleet flash` (WiFi, broker, credentials, node
 * id, interval), each from a flag, an environment variable or a local
 * KEY=VALUE file, in that order of precedence. Secrets are never shown:
 * summaries print `***`, and common/secrets.ts scrubs them from any text.
 */
export type SettingKey = "ssid" | "wifiPassword" | "broker" | "username" | "password" | "ca" | "nodeId" | "interval" | "prefix" | "topicData";

export interface SettingSpec {
  key: SettingKey;
  /** For people: "WiFi network". */
  label: string;
  /** The command-line flag, e.g. "--ssid". */
  flag: string;
  /** The environment variable, also the key in the env file. */
  env: string;
  secret: boolean;
}

export const SETTINGS: readonly SettingSpec[] = [
  { key: "ssid", label: "WiFi network (SSID)", flag: "--ssid", env: "WIFI_SSID", secret: false },
  { key: "wifiPassword", label: "WiFi password", flag: "--wifi-password", env: "WIFI_PASSWORD", secret: true },
  { key: "broker", label: "MQTT broker URL", flag: "--broker", env: "MQTT_URL", secret: false },
  { key: "username", label: "MQTT user name", flag: "--username", env: "MQTT_USERNAME", secret: false },
  { key: "password", label: "MQTT password", flag: "--password", env: "MQTT_PASSWORD", secret: true },
  { key: "ca", label: "broker CA certificate (PEM file)", flag: "--ca", env: "MQTT_CA", secret: false },
  { key: "nodeId", label: "node id", flag: "--node-id", env: "NODE_ID", secret: false },
  { key: "interval", label: "sampling interval", flag: "--interval", env: "SAMPLE_INTERVAL", secret: false },
  { key: "prefix", label: "topic prefix", flag: "--prefix", env: "TOPIC_PREFIX", secret: false },
  { key: "topicData", label: "readings topic", flag: "--topic-data", env: "TOPIC_DATA", secret: false },
];

export const DEFAULT_ENV_FILE = "espfleet.local.env";
/** Other variables the env file may hold: the fleet key (ops/config/signing.ts reads it). */
export const OTHER_ENV_KEYS = ["ESPFLEET_FLEET_KEY"];

export type SettingSource = "flag" | "env" | "file" | "prompt" | "default";
export type SettingValues = Partial<Record<SettingKey, string>>;

export interface ResolvedSettings {
  values: SettingValues;
  sources: Partial<Record<SettingKey, SettingSource>>;
  /** Required keys that no source gave. */
  missing: SettingKey[];
}

export function specOf(key: SettingKey): SettingSpec {
  return SETTINGS.find((s) => s.key === key) as SettingSpec;
}

/**
 * Merge the three sources, flags first, then the environment, then the
 * file. An empty value counts as given (an open WiFi has no password):
 * `WIFI_PASSWORD=` says so explicitly.
 */
export function resolveSettings(
  sources: { flags: SettingValues; env: Record<string, string | undefined>; file: Record<string, string> },
  required: readonly SettingKey[],
): ResolvedSettings {
  const values: SettingValues = {};
  const from: Partial<Record<SettingKey, SettingSource>> = {};
  for (const spec of SETTINGS) {
    const flag = sources.flags[spec.key];
    const env = sources.env[spec.env];
    const file = sources.file[spec.env];
    if (flag !== undefined) {
      values[spec.key] = flag;
      from[spec.key] = "flag";
    } else if (env !== undefined) {
      values[spec.key] = env;
      from[spec.key] = "env";
    } else if (file !== undefined) {
      values[spec.key] = file;
      from[spec.key] = "file";
    }
  }
  const missing = required.filter((key) => values[key] === undefined);
  return { values, sources: from, missing };
}

/** The error text for missing settings: what is missing and the three ways to give it. */
export function describeMissing(missing: readonly SettingKey[], envFile: string): string {
  const list = missing.map((key) => {
    const spec = specOf(key);
    return `  ${spec.label}: ${spec.flag} or ${spec.env}`;
  });
  const example = missing.map((key) => `${specOf(key).env}=...`).join("\n  ");
  return (
    `missing setting${missing.length === 1 ? "" : "s"}:\n${list.join("\n")}\n` +
    `Give each one as a flag, as an environment variable, or as a KEY=VALUE line in ${envFile} ` +
    `(an untracked local file; --settings-file names another), e.g.\n  ${example}\n` +
    "(an empty value, e.g. WIFI_PASSWORD=, is a valid answer for an open network)"
  );
}

/** One line per setting for the log, secrets as ***. */
export function describeSettings(settings: ResolvedSettings): string[] {
  const lines: string[] = [];
  for (const spec of SETTINGS) {
    const value = settings.values[spec.key];
    if (value === undefined) {
      continue;
    }
    const shown = spec.secret ? (value === "" ? "(empty)" : "***") : JSON.stringify(value);
    lines.push(`${spec.label}: ${shown} (from ${settings.sources[spec.key] ?? "default"})`);
  }
  return lines;
}
