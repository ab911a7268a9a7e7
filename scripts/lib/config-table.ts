/**
 * The README's config-key table, generated from the schema so the docs cannot
 * drift from the code (test/unit/readme.test.ts checks the README holds it).
 */
import { defaultConfig, FieldSpec, Kind, schema } from "../../firmware/core/config";

const MEANING: Record<string, string> = {
  node_id: "node id (`id` in payloads, MQTT client id); empty = `esp8266-<chipid>`",
  wifi_ssid: "WiFi network; empty = the station config saved in flash",
  wifi_password: "WiFi password (never printed)",
  mqtt_host: "broker host name or IP",
  mqtt_port: "broker TCP port",
  mqtt_secure: "TLS (NodeMCU `tls` module)",
  mqtt_user: "MQTT username; empty = anonymous",
  mqtt_password: "MQTT password (never printed)",
  mqtt_keepalive_s: "MQTT keepalive",
  fleet_key: "shared secret of signed config changes (never printed or acked); empty = unsigned changes are applied. Rotated over MQTT by a change signed with the current key that carries the new one encrypted (`fleet_key_enc`), never in clear",
  config_counter: "`ctr` of the last signed change applied; the node rejects any signed change not above it (set by the node)",
  accept_first_key: "a node without `fleet_key` takes a first one, in clear, from an unsigned `config_change` (trust on first use); off: the key comes only from config.json",
  topic_prefix: "prefix for every topic (`<prefix>/sensor_data`, `<prefix>/status/<id>`); empty = none",
  topic_data: "readings topic, after the prefix: `{id}` (once, a whole level) stands for the node id, e.g. `sensor_data/{id}` gives each node its own topic for a per-node broker ACL; no `+`/`#`",
  topic_config: "config change topic",
  interval_ms: "sampling interval; a change takes effect at once",
  sensitivity: "minimum change of any value (in its unit) to publish; 0 = publish every reading",
  heartbeat_ms: "publish at least this often even when nothing changed",
  sensors:
    "enabled sensors: `temperature` (°C), `humidity` (%RH), `adc` (counts 0-1024), `vdd` (V). One ADC reads `adc` or `vdd`: at boot the firmware sets the mode the list needs and restarts once when it changed, so a change between them takes effect at the next boot; with both, `vdd` reads fail",
  buffer_capacity: "readings kept while offline; oldest dropped when full",
  qos: "QoS of readings (status, acks and events always use 1)",
  reconnect_min_ms: "first reconnect delay; doubles per failure",
  reconnect_max_ms: "reconnect delay cap",
  flush_gap_ms: "pause between buffered readings when flushing after a reconnect",
  dht_pin: "NodeMCU pin of the DHT11/22 data line (4 = D4 = GPIO2)",
};

function bounds(spec: FieldSpec): string {
  const [, kind, min, max] = spec;
  switch (kind) {
    case Kind.Flag:
      return "true/false";
    case Kind.Text:
    case Kind.Template:
      return `${min}-${max} bytes`;
    case Kind.Sensors:
      return `list of ${min}-${max}`;
    default:
      return `${min} – ${max}`;
  }
}

export function configTable(): string {
  const defaults = defaultConfig() as unknown as Record<string, unknown>;
  const rows = schema().map((s) => {
    const [key, , , , unit, runtime] = s;
    const def = JSON.stringify(defaults[key]);
    return `| \`${key}\` | ${MEANING[key] ?? ""} | ${unit} | ${def} | ${bounds(s)} | ${runtime ? "yes" : "no"} |`;
  });
  return ["| key | meaning | unit | default | bounds | `config_change` |", "|---|---|---|---|---|---|", ...rows].join("\n");
}

if (process.argv[1]?.endsWith("config-table.ts")) {
  process.stdout.write(configTable() + "\n");
}
