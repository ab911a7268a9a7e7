import { describe, expect, it } from "vitest";
import { defaultConfig } from "../../../firmware/core/config";
import { parseModulesTxt } from "../../../host-bridge/flash/firmware-build";
import { buildNodeConfig, urlSecrets } from "../../../host-bridge/flash/node-config";

const base = defaultConfig() as unknown as Record<string, unknown>;

describe("config.json from the flash settings", () => {
  it("writes WiFi, broker, credentials, node id, prefix and interval into the build's defaults", () => {
    const config = buildNodeConfig(base, {
      ssid: "home",
      wifiPassword: "wifi-secret",
      broker: "mqtts://broker.lan:8884",
      username: "node",
      password: "mqtt-secret",
      nodeId: "kitchen",
      interval: "2s",
      prefix: "site1",
    });
    expect(config).toMatchObject({
      wifi_ssid: "home",
      wifi_password: "wifi-secret",
      mqtt_host: "broker.lan",
      mqtt_port: 8884,
      mqtt_secure: true,
      mqtt_user: "node",
      mqtt_password: "mqtt-secret",
      node_id: "kitchen",
      topic_prefix: "site1",
      interval_ms: 2000,
    });
    // Untouched keys keep the build's defaults.
    expect(config.heartbeat_ms).toBe(base.heartbeat_ms);
  });

  it("sets the readings topic for a broker whose ACL confines each node (docs/mosquitto), and refuses a bad one", () => {
    expect(buildNodeConfig(base, { topicData: "sensor_data/{id}" }).topic_data).toBe("sensor_data/{id}");
    expect(buildNodeConfig(base, {}).topic_data).toBe("sensor_data");
    expect(() => buildNodeConfig(base, { topicData: "sensor_data/#" })).toThrow(/--topic-data.*topic_data/);
  });

  it("takes credentials from the broker URL unless given separately, and knows them as secrets", () => {
    const config = buildNodeConfig(base, { broker: "mqtt://u1:p%40ss@10.0.0.2" });
    expect(config).toMatchObject({ mqtt_host: "10.0.0.2", mqtt_port: 1883, mqtt_user: "u1", mqtt_password: "p@ss" });
    expect(buildNodeConfig(base, { broker: "mqtt://u1:x@10.0.0.2", password: "y" }).mqtt_password).toBe("y");
    expect(urlSecrets("mqtt://u1:p%40ss@10.0.0.2")).toContain("p@ss");
    // Also from a URL that does not parse, which error messages quote.
    expect(urlSecrets("mqtt//u1:pw9@host")).toContain("pw9");
    expect(urlSecrets("mqtt://host:1883")).toEqual([]);
  });

  it("rejects values the node's schema rejects, all at once, without quoting a secret", () => {
    let message = "";
    try {
      buildNodeConfig(base, { ssid: "x".repeat(33), wifiPassword: "s3cret-".repeat(10), interval: "50ms" });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/WiFi network.*--ssid \/ WIFI_SSID: wifi_ssid must be a string of 0 to 32 bytes \(UTF-8\)/);
    expect(message).toMatch(/WiFi password, --wifi-password \/ WIFI_PASSWORD: wifi_password must be a string of 0 to 64 bytes \(UTF-8\)/);
    expect(message).toMatch(/interval_ms must be a whole number from 100 to 86400000 ms/);
    expect(message).not.toContain("s3cret");
  });

  it("rejects a broker URL that is not mqtt:// or mqtts:// and an interval that is not a duration", () => {
    expect(() => buildNodeConfig(base, { broker: "http://x" })).toThrow(/mqtt:\/\/ or mqtts:\/\//);
    expect(() => buildNodeConfig(base, { interval: "soon" })).toThrow(/--interval \/ SAMPLE_INTERVAL/);
  });
});

describe("modules.txt", () => {
  it("separates required from optional modules", () => {
    const text = "# NodeMCU modules\nadc\ndht\nfile\n\nrtctime (optional: used when present)\nsntp (optional: used when present)\n";
    expect(parseModulesTxt(text)).toEqual({ required: ["adc", "dht", "file"], optional: ["rtctime", "sntp"] });
  });
});
