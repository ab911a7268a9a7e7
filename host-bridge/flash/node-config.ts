/**
 * The node's config.json for the upload: the build's defaults
 * (firmware/dist/config.json) with the flash settings written in, each
 * checked by the firmware core's own schema (firmware/core/config.ts) so the
 * rules are the node's, not a copy.
 */
import { checkValue, findSpec, loadConfig } from "../../firmware/core/config";
import { parseBrokerTarget } from "../../broker/target";
import { CliError } from "../../common/errors";
import { parseDuration } from "../../common/units";
import { specOf, type SettingKey, type SettingValues } from "./settings";

/** Which config keys come from which setting (for error messages). */
interface Assignment {
  configKey: string;
  value: unknown;
  from: SettingKey;
}

function assignments(values: SettingValues): Assignment[] {
  const out: Assignment[] = [];
  const set = (configKey: string, value: unknown, from: SettingKey): void => {
    out.push({ configKey, value, from });
  };
  if (values.ssid !== undefined) set("wifi_ssid", values.ssid, "ssid");
  if (values.wifiPassword !== undefined) set("wifi_password", values.wifiPassword, "wifiPassword");
  if (values.broker !== undefined) {
    // Credentials may come inside the URL too; the separate settings win.
    const target = parseBrokerTarget({
      broker: values.broker,
      ...(values.username !== undefined ? { username: values.username } : {}),
      ...(values.password !== undefined ? { password: values.password } : {}),
    });
    set("mqtt_host", target.host, "broker");
    set("mqtt_port", target.port, "broker");
    set("mqtt_secure", target.secure, "broker");
    set("mqtt_user", target.username, values.username !== undefined ? "username" : "broker");
    set("mqtt_password", target.password, values.password !== undefined ? "password" : "broker");
  } else {
    if (values.username !== undefined) set("mqtt_user", values.username, "username");
    if (values.password !== undefined) set("mqtt_password", values.password, "password");
  }
  if (values.nodeId !== undefined) set("node_id", values.nodeId, "nodeId");
  if (values.prefix !== undefined) set("topic_prefix", values.prefix, "prefix");
  if (values.topicData !== undefined) set("topic_data", values.topicData, "topicData");
  if (values.interval !== undefined) {
    const parsed = parseDuration(values.interval);
    if (!parsed.ok) {
      const spec = specOf("interval");
      throw new CliError(`${spec.flag} / ${spec.env}: ${parsed.error}`, 2);
    }
    set("interval_ms", parsed.value, "interval");
  }
  return out;
}

/** The password a broker URL may carry (mqtt://user:secret@host), also from a malformed URL: a secret to hide. */
export function urlSecrets(broker: string | undefined): string[] {
  if (broker === undefined) {
    return [];
  }
  const m = /^[^@/]*\/\/[^:@/]*:([^@]*)@/.exec(broker) ?? /^[^@/]*:([^@/]*)@/.exec(broker);
  if (m === null || m[1] === "") {
    return [];
  }
  const raw = m[1] as string;
  let decoded = raw;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    // not valid percent-encoding: hide it as typed
  }
  return [raw, decoded];
}

/**
 * `base` (the build's config.json) with the settings and `extra` config keys
 * applied. Every value is checked against the schema; all problems are
 * reported at once, secrets never quoted.
 */
export function buildNodeConfig(base: Record<string, unknown>, values: SettingValues, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const config: Record<string, unknown> = { ...base };
  const problems: string[] = [];
  // Keys set directly (the fleet key and its counter), checked like the rest; values never quoted (the key is a secret).
  for (const [key, value] of Object.entries(extra)) {
    const spec = findSpec(key);
    const reason = spec === undefined ? "is not a config key of this firmware" : checkValue(spec, value);
    if (reason !== undefined) {
      problems.push(`${key} ${reason}`);
    } else {
      config[key] = value;
    }
  }
  for (const a of assignments(values)) {
    const spec = findSpec(a.configKey);
    if (spec === undefined) {
      throw new Error(`internal: config key ${a.configKey} is not in the firmware's SCHEMA`);
    }
    const reason = checkValue(spec, a.value);
    if (reason !== undefined) {
      const setting = specOf(a.from);
      const shown = setting.secret ? "" : ` (${JSON.stringify(a.value)})`;
      problems.push(`${setting.label}${shown}, ${setting.flag} / ${setting.env}: ${a.configKey} ${reason}`);
    } else {
      config[a.configKey] = a.value;
    }
  }
  // The whole file as the node will load it: a bad key in the build's defaults would be ignored by the node.
  for (const e of loadConfig(config).errors) {
    problems.push(`config.json: ${e.key} ${e.reason}`);
  }
  if (problems.length > 0) {
    throw new CliError(`the node would not accept these settings:\n  ${problems.join("\n  ")}`, 2);
  }
  return config;
}
