/**
 * The operator's half of signed changes (ops/config/signing.ts):
 * rotations encrypt the new key (the node's half decrypts it: a round trip
 * through the core), counters far ahead of the clock are refused, and the
 * byte limits are the node's (issue 15).
 */
import { createHmac } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { configChange, defaultConfig, type NodeConfig } from "../../firmware/core/config";
import type { Platform } from "../../firmware/core/platform";
import { buildChange, signingFor } from "../../ops/config/command";
import { counterProblem, CounterStore, encodeConfigChange, encryptFleetKey } from "../../ops/config/signing";
import { fleetKeyProblem } from "../../common/fleet-key";

const KEY = "current-fleet-key";
const dir = mkdtempSync(join(tmpdir(), "espfleet-signing-"));
const NOW = Date.UTC(2027, 0, 1);
const nowS = NOW / 1000;

const platform = {
  decodeJson: (t: string): unknown => JSON.parse(t) as unknown,
  encodeJson: (v: object) => JSON.stringify(v),
  hmacSha256Hex: (key: string, message: string) => createHmac("sha256", key).update(message).digest("hex"),
  writeFile: () => true,
  log: () => undefined,
} as unknown as Platform;
const keyed: NodeConfig = { ...defaultConfig(), node_id: "n1", fleet_key: KEY, config_counter: 10 };

describe("rotating the fleet key (fleet_key_enc)", () => {
  it("sends the new key only encrypted, and the node decrypts it", () => {
    const newKey = "b".repeat(40) + "-next";
    const text = encodeConfigChange({ req: "rot" }, { key: KEY, counter: 11, newKey });
    expect(text).not.toContain(newKey);
    expect(text).toMatch(/^\{"sig":"[0-9a-f]{64}","req":"rot","fleet_key_enc":"[0-9a-f]{90}","ctr":11\}$/);
    const outcome = configChange(platform, keyed, "n1", text);
    expect(outcome.apply?.fleet_key).toBe(newKey);
    expect(outcome.apply?.config_counter).toBe(11);
    expect(outcome.ack).not.toContain(newKey);
  });

  it("uses a keystream per counter: the same key encrypts differently under another counter", () => {
    expect(encryptFleetKey(KEY, 11, "same-new-key")).not.toBe(encryptFleetKey(KEY, 12, "same-new-key"));
    // Replaying the ciphertext under another counter decrypts to no key: refused.
    const body = `{"fleet_key_enc":"${encryptFleetKey(KEY, 11, "same-new-key")}","ctr":12}`;
    const sig = createHmac("sha256", KEY).update(body).digest("hex");
    const outcome = configChange(platform, keyed, "n1", `{"sig":"${sig}",${body.slice(1)}`);
    expect(outcome.apply).toBeUndefined();
    expect(outcome.ack).toContain('"key":"fleet_key_enc"');
  });

  it("needs the current key, never sends the new one in clear, and wants a new one", () => {
    writeFileSync(join(dir, "new.key"), "another-key\n");
    writeFileSync(join(dir, "cur.key"), KEY + "\n");
    const flags = { prefix: "", all: true, timeout: 1, counterFile: join(dir, "c0") };
    expect(() => signingFor({ ...flags, newFleetKeyFile: join(dir, "new.key") }, {}, NOW)).toThrow(/rotates the key of nodes that have one.*accept_first_key/);
    expect(() => signingFor({ ...flags, newFleetKeyFile: join(dir, "cur.key") }, { ESPFLEET_FLEET_KEY: KEY }, NOW)).toThrow(/holds the current fleet key/);
    const signing = signingFor({ ...flags, newFleetKeyFile: join(dir, "new.key") }, { ESPFLEET_FLEET_KEY: KEY }, NOW);
    expect(signing).toMatchObject({ key: KEY, counter: nowS, newKey: "another-key" });
    expect(buildChange({ ...flags, newFleetKeyFile: join(dir, "new.key") })).not.toHaveProperty("fleet_key");
  });

  it("takes only printable ASCII keys, as the node does", () => {
    expect(fleetKeyProblem("plain-hex-0123")).toBeUndefined();
    expect(fleetKeyProblem("clé")).toMatch(/non-ASCII/);
    expect(fleetKeyProblem('a"b')).toMatch(/quotes/);
  });
});

describe("counters", () => {
  it("refuses a counter more than a day ahead of the clock", () => {
    expect(counterProblem(nowS + 86400, NOW)).toBeUndefined();
    expect(counterProblem(nowS + 86401, NOW)).toMatch(/1 day|25 hours|ahead of now/);
    expect(counterProblem(nowS + 5 * 86400, NOW)).toBe(`${nowS + 5 * 86400} is 5 days ahead of now (Unix time ${nowS}); counters are Unix seconds and may run at most a day ahead`);
    expect(counterProblem(2 ** 31, NOW)).toMatch(/past 2147483647/);
  });

  it("--counter far ahead is refused and not recorded", () => {
    const file = join(dir, "c1");
    writeFileSync(file, "5\n");
    const flags = { prefix: "", all: true, timeout: 1, counterFile: file };
    expect(() => signingFor({ ...flags, counter: nowS + 30 * 86400 }, { ESPFLEET_FLEET_KEY: KEY }, NOW)).toThrow(
      /--counter \d+ is 30 days ahead of now .*Leave --counter out .*re-flash their config\.json/,
    );
    expect(readFileSync(file, "utf8")).toBe("5\n");
    expect(signingFor({ ...flags, counter: nowS + 3600 }, { ESPFLEET_FLEET_KEY: KEY }, NOW)?.counter).toBe(nowS + 3600);
  });

  it("a counter file far ahead (an old --counter) is refused with the way out", () => {
    const file = join(dir, "c2");
    writeFileSync(file, `${2_000_000_000}\n`);
    expect(() => new CounterStore(file).next(NOW)).toThrow(/holds 2000000000\. If no node applied it, lower or delete .*c2; nodes that applied it refuse/);
    writeFileSync(file, `${nowS + 10}\n`);
    expect(new CounterStore(file).next(NOW)).toBe(nowS + 11);
  });
});

describe("request ids", () => {
  it("are limited in UTF-8 bytes, as the node counts them", () => {
    expect(buildChange({ prefix: "", all: true, timeout: 1, req: "é".repeat(16) }).req).toBe("é".repeat(16));
    expect(() => buildChange({ prefix: "", all: true, timeout: 1, req: "é".repeat(17) })).toThrow(/at most 32 bytes in UTF-8 .*got 34/);
  });
});
