/**
 * Writes scenarios/config-signed.json: signed config changes need real
 * signatures in the scenario, made here by the operator's own signer
 * (simulator/config-signing.ts) so the conformance suite checks that the
 * signer and the node's verifier (Node crypto vs the pure-Lua SHA-256)
 * agree. Run after changing the wire form: npx tsx test/conformance/make-signed-scenario.ts
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeConfigChange } from "../../simulator/config-signing";

const KEY = "3f0c5a0e9d1b4c7e8a2f6b5d4e3c2b1a";
const OTHER_KEY = "a-key-the-fleet-does-not-have";
const NEW_KEY = "rotated-key-2";
const deliver = (payload: string) => ({ do: "deliver", payload });
const signed = (body: Record<string, unknown>, counter: number, key = KEY) => deliver(encodeConfigChange(body, { key, counter }));

const valid6 = encodeConfigChange({ req: "ok-6", interval_ms: 2000 }, { key: KEY, counter: 6 });
// The same signed text with its body changed after signing.
const altered = valid6.replace('"interval_ms":2000', '"interval_ms":100');
// A valid signature moved off the front: the node only looks for it there.
const sigNotFirst = `{"req":"late-sig",${valid6.slice(1, 73)},"ctr":9}`;

const scenario = {
  name: "config-signed",
  about: "With fleet_key set, only config changes signed with it and carrying a counter above the last applied one are applied; the counter survives a reboot; a signed change can rotate the key. Made by make-signed-scenario.ts.",
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
    signed({ req: "rotate", fleet_key: NEW_KEY }, 7),
    signed({ req: "old-key", interval_ms: 3000 }, 8),
    signed({ req: "new-key", interval_ms: 3000 }, 8, NEW_KEY),
    { do: "advance", ms: 4000 },
  ],
  expect: [
    { ev: "publish", topic: "config_ack/node-1", contains: '"result":"rejected"', min: 8, max: 8 },
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
