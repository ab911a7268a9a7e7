import { describe, expect, it } from "vitest";
import { parseEnvFile } from "../../../host-bridge/flash/env-file";
import { describeMissing, describeSettings, resolveSettings } from "../../../host-bridge/flash/settings";

describe("flash settings: flags > environment > env file", () => {
  it("takes each setting from the highest source that has it", () => {
    const r = resolveSettings(
      {
        flags: { ssid: "from-flag" },
        env: { WIFI_SSID: "from-env", MQTT_URL: "mqtt://env:1883", NODE_ID: "env-node" },
        file: { WIFI_SSID: "from-file", MQTT_URL: "mqtt://file:1883", NODE_ID: "file-node", WIFI_PASSWORD: "file-secret" },
      },
      ["ssid", "wifiPassword", "broker"],
    );
    expect(r.values).toMatchObject({ ssid: "from-flag", broker: "mqtt://env:1883", nodeId: "env-node", wifiPassword: "file-secret" });
    expect(r.sources).toMatchObject({ ssid: "flag", broker: "env", nodeId: "env", wifiPassword: "file" });
    expect(r.missing).toEqual([]);
  });

  it("counts an empty value as given (an open network) and lists what no source gave", () => {
    const r = resolveSettings({ flags: {}, env: { WIFI_PASSWORD: "" }, file: {} }, ["ssid", "wifiPassword", "broker"]);
    expect(r.values.wifiPassword).toBe("");
    expect(r.missing).toEqual(["ssid", "broker"]);
  });

  it("the missing-settings message names each flag and variable and the three ways", () => {
    const text = describeMissing(["ssid", "broker"], "espfleet.local.env");
    expect(text).toContain("--ssid");
    expect(text).toContain("WIFI_SSID");
    expect(text).toContain("--broker");
    expect(text).toContain("MQTT_URL");
    expect(text).toMatch(/flag.*environment variable.*espfleet\.local\.env/s);
    expect(text).not.toContain("--wifi-password");
  });

  it("never shows a secret in the summary", () => {
    const r = resolveSettings({ flags: { wifiPassword: "hunter22", password: "mqtt-pw-9" }, env: { WIFI_SSID: "home" }, file: {} }, []);
    const summary = describeSettings(r).join("\n");
    expect(summary).toContain('"home"');
    expect(summary).toContain("***");
    expect(summary).not.toContain("hunter22");
    expect(summary).not.toContain("mqtt-pw-9");
  });
});

describe("env file", () => {
  it("reads KEY=VALUE lines with comments, export and quotes", () => {
    const parsed = parseEnvFile('# home\nexport WIFI_SSID="my net"\n\nWIFI_PASSWORD=\'a=b#c\'\nMQTT_URL = mqtt://10.0.0.2\nWIFI_SSDI=typo\n', "x.env");
    expect(parsed.values).toEqual({ WIFI_SSID: "my net", WIFI_PASSWORD: "a=b#c", MQTT_URL: "mqtt://10.0.0.2", WIFI_SSDI: "typo" });
    expect(parsed.unknown).toEqual(["WIFI_SSDI"]);
  });

  it("rejects a line that is not KEY=VALUE by number, without quoting it", () => {
    expect(() => parseEnvFile("WIFI_SSID=a\nsupersecret\n", "x.env")).toThrow(/x\.env line 2 is not KEY=VALUE/);
    try {
      parseEnvFile("WIFI_SSID=a\nsupersecret\n", "x.env");
    } catch (error) {
      expect((error as Error).message).not.toContain("supersecret");
    }
  });
});
