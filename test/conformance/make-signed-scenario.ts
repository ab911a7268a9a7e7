/**
 * Writes scenarios/config-signed.json and config-first-key*.json: signed config changes need real
 * signatures in the scenario, made here by the operator's own signer
 * (ops/config/signing.ts) so the conformance suite checks that the
 * signer and the node's verifier (Node crypto vs the pure-Lua SHA-256)
 * agree. Run after changing the wire form: npx tsx test/conformance/make-signed-scenario.ts
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeConfigChange } from "../../ops/config/signing";

const KEY = "3f0c5a0e9d1b4c7e8a2f6b5d4e3c2b1a";
const OTHER_KEY = "a-key-the-fleet-does-not-have";
const NEW_KEY = "rotated-key-2";
const deliver = (payload: string) => ({ do: "deliver", payload });
const signed = (body: Record<string, unknown>, counter: number, key = KEY, newKey?: string) =>
  deliver(encodeConfigChange(body, newKey !== undefined ? { key, counter, newKey } : { key, counter }));

const valid6 = encodeConfigChange({ req: "ok-6", interval_ms: 2000 }, { key: KEY, counter: 6 });
// The same signed text with its body changed after signing.
const altered = valid6.replace('"interval_ms":2000', '"interval_ms":100');
// A valid signature moved off the front: the node only looks for it there.
const sigNotFirst = `{"req":"late-sig",${valid6.slice(1, 73)},"ctr":9}`;

const scenario = {
  name: "config-signed",
  about:
    "With fleet_key set, only config changes signed with it and carrying a counter above the last applied one are applied; the counter survives a reboot; " +
    "a signed change rotates the key with fleet_key_enc (the new key encrypted with the current one), never with fleet_key in clear (issue 15). Made by make-signed-scenario.ts.",
  files: { "config.json": { node_id: "node-1", interval_ms: 1000, heartbeat_ms: 5000, fleet_key: KEY, config_counter: 5 } },
  sensors: { temperature: [21.0], humidity: [40.0] },
  steps: [
    { do: "boot" },
    { do: "wifi_up" },
    { do: "advance", ms: 100 },
    deliver('{"req":"unsigned","interval_ms":2000}'),
    signed({ req: "wrong-key", interval_ms: 2000 }, 6, OTHER_KEY),
    deliver(altered),
    signed({ req: "old-ctr", interval_ms: 2000 }, 5),
    deliver(sigNotFirst),
    deliver(valid6),
    { do: "advance", ms: 100 },
    deliver(valid6),
    { do: "advance", ms: 100 },
    { do: "stop" },
    { do: "boot" },
    { do: "wifi_up" },
    { do: "advance", ms: 100 },
    deliver(valid6),
    // A key in clear is refused even when signed; so is a fleet_key_enc that does not decrypt to a key.
    signed({ req: "clear-key", fleet_key: NEW_KEY }, 7),
    signed({ req: "bad-enc", fleet_key_enc: "00ff" }, 7),
    signed({ req: "rotate" }, 7, KEY, NEW_KEY),
    signed({ req: "old-key", interval_ms: 3000 }, 8),
    signed({ req: "new-key", interval_ms: 3000 }, 8, NEW_KEY),
    { do: "advance", ms: 4000 },
  ],
  expect: [
    { ev: "publish", topic: "config_ack/node-1", contains: '"result":"rejected"', min: 10, max: 10 },
    { ev: "publish", topic: "config_ack/node-1", contains: "must not be sent in clear", min: 1, max: 1 },
    { ev: "publish", topic: "config_ack/node-1", contains: "must be the new key, encrypted", min: 1, max: 1 },
    { ev: "write", name: "config.json", contains: '"fleet_key":"rotated-key-2"', min: 2, max: 2 },
    { ev: "publish", topic: "config_ack/node-1", contains: '"result":"applied"', min: 3, max: 3 },
    { ev: "publish", topic: "config_ack/node-1", contains: "required: this node applies only config changes signed", min: 1, max: 1 },
    { ev: "publish", topic: "config_ack/node-1", contains: "does not match", min: 3, max: 3 },
    { ev: "publish", topic: "config_ack/node-1", contains: "the last applied", min: 3, max: 3 },
    { ev: "publish", topic: "config_ack/node-1", contains: "must be the first member", min: 1, max: 1 },
    { ev: "publish", topic: "config_ack/node-1", contains: "rotated-key", max: 0 },
    { ev: "write", name: "config.json", contains: '"config_counter":8', min: 1, max: 1 },
  ],
};
writeFileSync(join(import.meta.dirname, "scenarios", "config-signed.json"), JSON.stringify(scenario, null, 1) + "\n");

// A keyless node takes a first fleet_key only when its config.json sets accept_first_key (issue 15); then it is keyed like any other.
const FIRST_KEY = "first-key-1";
const firstKey = (accept: boolean) => ({
  name: accept ? "config-first-key" : "config-first-key-refused",
  about: accept
    ? "accept_first_key: a keyless node takes a first fleet_key from an unsigned change (trust on first use), never acks it, and from then on applies only changes signed with it; the key is never taken in clear again. Made by make-signed-scenario.ts."
    : "Without accept_first_key (the default) a keyless node refuses fleet_key over MQTT, in clear or as fleet_key_enc, and keeps applying unsigned changes. Made by make-signed-scenario.ts.",
  files: { "config.json": { node_id: "node-2", interval_ms: 1000, heartbeat_ms: 5000, accept_first_key: accept } },
  sensors: { temperature: [21.0], humidity: [40.0] },
  steps: [
    { do: "boot" },
    { do: "wifi_up" },
    { do: "advance", ms: 100 },
    deliver('{"req":"enc","fleet_key_enc":"00ff"}'),
    deliver(`{"req":"first","fleet_key":"${FIRST_KEY}"}`),
    deliver('{"req":"unsigned","interval_ms":2000}'),
    signed({ req: "signed", interval_ms: 3000 }, 1, FIRST_KEY),
    signed({ req: "clear-signed", fleet_key: "another-key" }, 2, FIRST_KEY),
    { do: "advance", ms: 4000 },
  ],
  expect: accept
    ? [
        { ev: "publish", topic: "config_ack/node-2", contains: '"result":"applied"', min: 2, max: 2 },
        { ev: "publish", topic: "config_ack/node-2", contains: "must be the new key, encrypted", min: 1, max: 1 },
        { ev: "publish", topic: "config_ack/node-2", contains: "required: this node applies only config changes signed", min: 1, max: 1 },
        { ev: "publish", topic: "config_ack/node-2", contains: "must not be sent in clear", min: 1, max: 1 },
        { ev: "publish", contains: FIRST_KEY, max: 0 },
        { ev: "write", name: "config.json", contains: `"fleet_key":"${FIRST_KEY}"`, min: 2, max: 2 },
        { ev: "write", name: "config.json", contains: '"config_counter":1', min: 1, max: 1 },
      ]
    : [
        { ev: "publish", topic: "config_ack/node-2", contains: '"result":"applied"', min: 2, max: 2 },
        { ev: "publish", topic: "config_ack/node-2", contains: "must be the new key, encrypted", min: 1, max: 1 },
        { ev: "publish", topic: "config_ack/node-2", contains: '"key":"fleet_key","reason":"cannot be changed over MQTT', min: 2, max: 2 },
        { ev: "write", name: "config.json", contains: '"fleet_key":""', min: 2, max: 2 },
      ],
});
for (const accept of [true, false]) {
  const s = firstKey(accept);
  writeFileSync(join(import.meta.dirname, "scenarios", `${s.name}.json`), JSON.stringify(s, null, 1) + "\n");
}
