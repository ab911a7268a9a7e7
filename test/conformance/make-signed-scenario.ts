/**
 * Writes scenarios/config-signed.json, config-signed-edges.json and config-first-key*.json: signed
 * config changes need real signatures in the scenario, made here by the operator's own signer
 * (ops/config/signing.ts) so the conformance suite checks that the
 * signer and the node's verifier (Node crypto vs the pure-Lua SHA-256)
 * agree; the edge cases are signed by hand (node:crypto) where the signer would not make them.
 * Run after changing the wire form: npx tsx test/conformance/make-signed-scenario.ts
 */
import { createHmac } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeConfigChange, encryptFleetKey } from "../../ops/config/signing";

const KEY = "3f0c5a0e9d1b4c7e8a2f6b5d4e3c2b1a";
const OTHER_KEY = "a-key-the-fleet-does-not-have";
const NEW_KEY = "rotated-key-2";
const deliver = (payload: string) => ({ do: "deliver", payload });
const signed = (body: Record<string, unknown>, counter: number, key = KEY, newKey?: string) =>
  deliver(encodeConfigChange(body, newKey !== undefined ? { key, counter, newKey } : { key, counter }));
const hmacHex = (key: string, text: string) => createHmac("sha256", key).update(text).digest("hex");
const write = (name: string, s: object) => writeFileSync(join(import.meta.dirname, "scenarios", `${name}.json`), JSON.stringify(s, null, 1) + "\n");

// ---- exact expectations: every acknowledgement, in order ---------------------

/** What a node without runtime changes reports as its settable config, with `over` applied. */
const view = (over: Record<string, unknown> = {}) => ({
  interval_ms: 1000,
  sensitivity: 0,
  heartbeat_ms: 5000,
  sensors: ["temperature", "humidity"],
  buffer_capacity: 50,
  qos: 1,
  flush_gap_ms: 50,
  ...over,
});
const REASON = {
  required: "required: this node applies only config changes signed with the fleet key",
  position: 'must be the first member, 64 hex digits: {"sig":"<hex>",...}',
  mismatch: "does not match: signed with another fleet key, or the message was altered",
  counter: (last: number) => `must be a whole number above ${last}, the last applied (an old message replayed?)`,
  clear: "must not be sent in clear: send fleet_key_enc",
  fixed: "cannot be changed over MQTT; set it in config.json",
  enc: "must be the new key, encrypted with the current one",
};
type Ack = [req: string, key: string, reason: string] | [req: string, config: Record<string, unknown>];
/** The acks on `topic`, exactly: [req, key, reason] for a rejection, [req, config view] for an application. */
const acks = (id: string, list: Ack[]) => ({
  ev: "publish",
  topic: `config_ack/${id}`,
  entries: list.map((a) => ({
    qos: 1,
    retain: false,
    payload:
      a.length === 3 ? { id, result: "rejected", errors: [{ key: a[1], reason: a[2] }], req: a[0] } : { id, result: "applied", config: a[1], req: a[0] },
  })),
});
/** Every key's default (the config-schema scenario shows each). */
const DEFAULTS = {
  node_id: "",
  wifi_ssid: "",
  wifi_password: "",
  mqtt_host: "127.0.0.1",
  mqtt_port: 1883,
  mqtt_secure: false,
  mqtt_user: "",
  mqtt_password: "",
  mqtt_keepalive_s: 60,
  fleet_key: "",
  config_counter: 0,
  accept_first_key: false,
  topic_prefix: "",
  topic_data: "sensor_data",
  topic_config: "config_change",
  interval_ms: 10000,
  sensitivity: 0,
  heartbeat_ms: 300000,
  sensors: ["temperature", "humidity"],
  buffer_capacity: 50,
  qos: 1,
  reconnect_min_ms: 1000,
  reconnect_max_ms: 60000,
  flush_gap_ms: 50,
  dht_pin: 4,
};
/** The config.json writes, exactly: the whole config, `stored` (the scenario's file) with each entry's changes. */
const writes = (stored: Record<string, unknown>, list: Record<string, unknown>[]) => ({
  ev: "write",
  name: "config.json",
  entries: list.map((over) => ({ contents: { ...DEFAULTS, ...stored, ...over } })),
});
/**
 * What the node does besides handling the changes, exactly: boot counter writes, timers (the sample
 * timer restarts at each new interval), the session (connect, retained status, subscription),
 * readings; and nothing refused.
 */
const lifecycle = (id: string, o: { boots: number[]; timers: [t: number, ms: number][]; stops: number[]; online: [t: number, state: string, boot: number][]; readings: [t: number, seq: number, boot: number, up: number][] }) => [
  { ev: "write", name: "boot.txt", entries: o.boots.map((boot) => ({ contents: { boot } })) },
  { ev: "timer", entries: o.timers.map(([t, ms]) => ({ t, name: "sample", ms, repeat: true })) },
  { ev: "timer_stop", entries: o.stops.map((t) => ({ t, name: "sample" })) },
  { ev: "wifi_connect", count: o.boots.length },
  { ev: "connect", count: o.boots.length },
  { ev: "subscribe", count: o.boots.length },
  { ev: "close", count: o.boots.length - 1 },
  { ev: "publish", topic: `status/${id}`, entries: o.online.map(([t, state, boot]) => ({ t, payload: { id, state, boot, fw: "0.1.0" }, retain: true })) },
  {
    ev: "publish",
    topic: "sensor_data",
    entries: o.readings.map(([t, seq, boot, up]) => ({ t, payload: { temperature: 21, humidity: 40, id, seq, boot, up }, qos: 1, retain: false })),
  },
  { ev: "publish_refused", count: 0 },
  { ev: "write_failed", count: 0 },
];

const valid6 = encodeConfigChange({ req: "ok-6", interval_ms: 2000 }, { key: KEY, counter: 6 });
// The same signed text with its body changed after signing.
const altered = valid6.replace('"interval_ms":2000', '"interval_ms":100');
// A valid signature moved off the front: the node only looks for it there.
const sigNotFirst = `{"req":"late-sig",${valid6.slice(1, 73)},"ctr":9}`;

const scenario1Stored = { node_id: "node-1", interval_ms: 1000, heartbeat_ms: 5000, fleet_key: KEY, config_counter: 5 };
const scenario = {
  name: "config-signed",
  about:
    "With fleet_key set, only config changes signed with it and carrying a counter above the last applied one are applied; the counter survives a reboot; " +
    "a signed change rotates the key with fleet_key_enc (the new key encrypted with the current one), never with fleet_key in clear (issue 15). Made by make-signed-scenario.ts.",
  files: { "config.json": scenario1Stored },
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
    acks("node-1", [
      ["unsigned", "sig", REASON.required],
      ["wrong-key", "sig", REASON.mismatch],
      ["ok-6", "sig", REASON.mismatch], // altered after signing
      ["old-ctr", "ctr", REASON.counter(5)],
      ["late-sig", "sig", REASON.position],
      ["ok-6", view({ interval_ms: 2000 })],
      ["ok-6", "ctr", REASON.counter(6)], // replayed
      ["ok-6", "ctr", REASON.counter(6)], // replayed after a reboot: the counter was stored
      ["clear-key", "fleet_key", REASON.clear],
      ["bad-enc", "fleet_key_enc", REASON.enc],
      ["rotate", view({ interval_ms: 2000 })],
      ["old-key", "sig", REASON.mismatch],
      ["new-key", view({ interval_ms: 3000 })],
    ]),
    writes(scenario1Stored, [
      { fleet_key: KEY, config_counter: 6, interval_ms: 2000 },
      { fleet_key: NEW_KEY, config_counter: 7, interval_ms: 2000 },
      { fleet_key: NEW_KEY, config_counter: 8, interval_ms: 3000 },
    ]),
    { ev: "publish", topic: "config_ack/node-1", contains: "rotated-key", count: 0 },
    // Rebooted at 300 ms (stop: retained offline), with the applied interval and counter.
    ...lifecycle("node-1", {
      boots: [1, 2],
      timers: [[0, 1000], [100, 2000], [300, 2000], [400, 3000]],
      stops: [100, 300, 400],
      online: [[10, "online", 1], [300, "offline", 1], [310, "online", 2]],
      readings: [[3400, 1, 2, 3]],
    }),
  ],
};
write("config-signed", scenario);

// ---- edges of the signed form, the counter and the encrypted key ---------------

/** `text` signed by hand: the signature over `{` + rest, put after `head` (normally {"sig":"). */
const signedText = (text: string, head = '{"sig":"', key = KEY) => `${head}${hmacHex(key, text)}",${text.slice(1)}`;
/** `bytes` (Latin-1, one byte each) encrypted as fleet_key_enc for `ctr`, even ones the signer would not take. */
const encryptBytes = (bytes: string, ctr: number, key = KEY) => {
  let out = "";
  for (let i = 0; i < bytes.length; i++) {
    const stream = createHmac("sha256", key).update(`fleet_key_enc:${ctr}:${Math.floor(i / 32)}`).digest();
    out += ((bytes.charCodeAt(i) ^ (stream[i % 32] as number)) & 0xff).toString(16).padStart(2, "0");
  }
  return out;
};
/** The first keystream byte for `ctr` under `key` (HMAC of "fleet_key_enc:<ctr>:0"). */
const firstStreamByte = (ctr: number | string, key = KEY) => createHmac("sha256", key).update(`fleet_key_enc:${ctr}:0`).digest()[0] as number;
/** A counter from `from` on whose first keystream byte under `key` the node would take as a key character. */
const printableCounter = (from: number, key: string) => {
  const takes = (b: number) => b >= 32 && b <= 126 && b !== 34 && b !== 92;
  let ctr = from;
  while (!takes(firstStreamByte(ctr, key))) ctr++;
  return ctr;
};
/** A hex digit d for which byte d0, at keystream position `i`, decrypts to a character the node takes. */
const oddDigit = (ctr: number, key: string, i: number) => {
  const k = createHmac("sha256", key).update(`fleet_key_enc:${ctr}:0`).digest()[i] as number;
  const d = [..."0123456789abcdef"].find((x) => {
    const b = (parseInt(x, 16) * 16) ^ k;
    return b >= 32 && b <= 126 && b !== 34 && b !== 92;
  });
  if (d === undefined) throw new Error(`no odd digit for ctr ${ctr}`);
  return d;
};
const rotation = (req: string, ctr: number, enc: string) => deliver(signedText(`{"req":"${req}","fleet_key_enc":"${enc}","ctr":${ctr}}`));
const KEY_40 = "k".repeat(40);
const KEY_64 = "K".repeat(64);
const valid = (req: string, ctr: number) => signedText(`{"req":"${req}","interval_ms":2000,"ctr":${ctr}}`);
const edgesStored = { node_id: "node-3", interval_ms: 1000, heartbeat_ms: 5000, fleet_key: KEY, config_counter: 5 };
const edges = {
  name: "config-signed-edges",
  about:
    "The edges of a signed change: a counter that is no whole number or above 2147483647 (the largest a NodeMCU integer build holds) is refused, 2147483647 itself taken; " +
    "a signature in capitals, of 65 digits, with a non-hex digit, after another member or made void by a later sig member is refused before the HMAC is checked; " +
    "fleet_key_enc decrypts to bytes 32-126 but no quote or backslash, 1 to 64 of them (a 40-byte key uses the second keystream block), and is refused when it is no lowercase hex, " +
    "no string, or sent to a keyless node. Made by make-signed-scenario.ts.",
  files: { "config.json": edgesStored },
  sensors: { temperature: [21.0], humidity: [40.0] },
  steps: [
    { do: "boot" },
    { do: "wifi_up" },
    { do: "advance", ms: 100 },
    deliver(signedText('{"req":"frac-ctr","interval_ms":2000,"ctr":6.5}')),
    deliver(signedText('{"req":"big-ctr","interval_ms":2000,"ctr":2147483648}')),
    deliver(signedText('{"req":"text-ctr","interval_ms":2000,"ctr":"6"}')),
    deliver(valid("caps", 6).replace(/"sig":"([0-9a-f]{64})"/, (_, h: string) => `"sig":"${h.toUpperCase()}"`)),
    deliver(valid("long-sig", 6).replace(/^\{"sig":"([0-9a-f]{64})"/, '{"sig":"$10"')),
    deliver(valid("bad-high", 6).replace(/^\{"sig":"[0-9a-f]/, '{"sig":"g')),
    deliver(valid("bad-low", 6).replace(/^(\{"sig":"[0-9a-f]{63})[0-9a-f]/, "$1g")),
    // "1g": read as 16 - 1, a byte, if the second digit were not checked.
    deliver(valid("bad-pair", 6).replace(/^\{"sig":"[0-9a-f]{2}/, '{"sig":"1g')),
    deliver(signedText('{"req":"fixed-keyed","mqtt_host":"elsewhere","ctr":6}')),
    // Signed correctly over `{` + the rest, but after another member, or with a second sig the JSON keeps.
    deliver(signedText('{"sig":"x","req":"sig-second","interval_ms":2000,"ctr":6}', '{"abc":"')),
    deliver(signedText('{"sig":5,"req":"sig-twice","interval_ms":2000,"ctr":6}')),
    rotation("key-40", 6, encryptFleetKey(KEY, 6, KEY_40)),
    // From here signed with the key just rotated to.
    deliver(signedText(`{"req":"space-tilde","fleet_key_enc":"${encryptFleetKey(KEY_40, 7, " ~")}","ctr":7}`, '{"sig":"', KEY_40)),
    deliver(signedText(`{"req":"quote","fleet_key_enc":"${encryptBytes('a"b', 8, " ~")}","ctr":8}`, '{"sig":"', " ~")),
    deliver(signedText(`{"req":"backslash","fleet_key_enc":"${encryptBytes("a\\b", 8, " ~")}","ctr":8}`, '{"sig":"', " ~")),
    deliver(signedText(`{"req":"unit-sep","fleet_key_enc":"${encryptBytes("a\x1fb", 8, " ~")}","ctr":8}`, '{"sig":"', " ~")),
    deliver(signedText(`{"req":"del","fleet_key_enc":"${encryptBytes("a\x7fb", 8, " ~")}","ctr":8}`, '{"sig":"', " ~")),
    deliver(signedText(`{"req":"key-65","fleet_key_enc":"${encryptBytes("x".repeat(65), 8, " ~")}","ctr":8}`, '{"sig":"', " ~")),
    deliver(signedText(`{"req":"upper-hex","fleet_key_enc":"${encryptBytes("ab", 8, " ~").toUpperCase()}","ctr":8}`, '{"sig":"', " ~")),
    // One digit more, chosen so that, read as a whole byte, it would decrypt to a character the node takes.
    deliver(signedText(`{"req":"odd-hex","fleet_key_enc":"${encryptBytes("ab", 8, " ~")}${oddDigit(8, " ~", 2)}","ctr":8}`, '{"sig":"', " ~")),
    // "0g" is no byte; with a keystream byte the node would take, decrypting it anyway would give a key.
    deliver(signedText(`{"req":"no-hex","fleet_key_enc":"0g","ctr":${printableCounter(8, " ~")}}`, '{"sig":"', " ~")),
    deliver(signedText('{"req":"number","fleet_key_enc":5,"ctr":8}', '{"sig":"', " ~")),
    deliver(signedText(`{"req":"key-64","fleet_key_enc":"${encryptFleetKey(" ~", 8, KEY_64)}","ctr":8}`, '{"sig":"', " ~")),
    deliver(signedText('{"req":"max-ctr","interval_ms":3000,"ctr":2147483647}', '{"sig":"', KEY_64)),
    deliver(signedText('{"req":"after-max","interval_ms":4000,"ctr":2147483647}', '{"sig":"', KEY_64)),
    { do: "advance", ms: 100 },
  ],
  expect: [
    acks("node-3", [
      ["frac-ctr", "ctr", REASON.counter(5)],
      ["big-ctr", "ctr", REASON.counter(5)],
      ["text-ctr", "ctr", REASON.counter(5)],
      ["caps", "sig", REASON.position],
      ["long-sig", "sig", REASON.position],
      ["bad-high", "sig", REASON.position],
      ["bad-low", "sig", REASON.position],
      ["bad-pair", "sig", REASON.position],
      ["fixed-keyed", "mqtt_host", REASON.fixed],
      ["sig-second", "sig", REASON.position],
      ["sig-twice", "sig", REASON.position],
      ["key-40", view()],
      ["space-tilde", view()],
      ["quote", "fleet_key_enc", REASON.enc],
      ["backslash", "fleet_key_enc", REASON.enc],
      ["unit-sep", "fleet_key_enc", REASON.enc],
      ["del", "fleet_key_enc", REASON.enc],
      ["key-65", "fleet_key_enc", REASON.enc],
      ["upper-hex", "fleet_key_enc", REASON.enc],
      ["odd-hex", "fleet_key_enc", REASON.enc],
      ["no-hex", "fleet_key_enc", REASON.enc],
      ["number", "fleet_key_enc", REASON.enc],
      ["key-64", view()],
      ["max-ctr", view({ interval_ms: 3000 })],
      ["after-max", "ctr", REASON.counter(2147483647)],
    ]),
    writes(edgesStored, [
      { fleet_key: KEY_40, config_counter: 6 },
      { fleet_key: " ~", config_counter: 7 },
      { fleet_key: KEY_64, config_counter: 8 },
      { fleet_key: KEY_64, config_counter: 2147483647, interval_ms: 3000 },
    ]),
    ...lifecycle("node-3", { boots: [1], timers: [[0, 1000], [100, 3000]], stops: [100], online: [[10, "online", 1]], readings: [] }),
  ],
};
write("config-signed-edges", edges);

// A keyless node takes a first fleet_key only when its config.json sets accept_first_key (issue 15); then it is keyed like any other.
const FIRST_KEY = "first-key-1";
const firstStored = (accept: boolean) => ({ node_id: "node-2", interval_ms: 1000, heartbeat_ms: 5000, accept_first_key: accept });
const firstKey = (accept: boolean) => ({
  name: accept ? "config-first-key" : "config-first-key-refused",
  about: accept
    ? "accept_first_key: a keyless node takes a first fleet_key from an unsigned change (trust on first use), never acks it, and from then on applies only changes signed with it; the key is never taken in clear again. Made by make-signed-scenario.ts."
    : "Without accept_first_key (the default) a keyless node refuses fleet_key over MQTT, in clear or as fleet_key_enc, and keeps applying unsigned changes. Made by make-signed-scenario.ts.",
  files: { "config.json": firstStored(accept) },
  sensors: { temperature: [21.0], humidity: [40.0] },
  steps: [
    { do: "boot" },
    { do: "wifi_up" },
    { do: "advance", ms: 100 },
    // accept_first_key opens fleet_key to a keyless node, no other key.
    deliver('{"req":"host","mqtt_host":"elsewhere"}'),
    // Encrypted under the empty key (ctr missing: NaN): a keyless node refuses it without decrypting.
    deliver(`{"req":"enc","fleet_key_enc":"${encryptBytes("ab", NaN, "")}"}`),
    deliver(`{"req":"first","fleet_key":"${FIRST_KEY}"}`),
    deliver('{"req":"unsigned","interval_ms":2000}'),
    signed({ req: "signed", interval_ms: 3000 }, 1, FIRST_KEY),
    signed({ req: "clear-signed", fleet_key: "another-key" }, 2, FIRST_KEY),
    { do: "advance", ms: 4000 },
  ],
  expect: accept
    ? [
        acks("node-2", [
          ["host", "mqtt_host", REASON.fixed],
          ["enc", "fleet_key_enc", REASON.enc],
          ["first", view()],
          ["unsigned", "sig", REASON.required],
          ["signed", view({ interval_ms: 3000 })],
          ["clear-signed", "fleet_key", REASON.clear],
        ]),
        writes(firstStored(accept), [
          { fleet_key: FIRST_KEY, config_counter: 0, interval_ms: 1000 },
          { fleet_key: FIRST_KEY, config_counter: 1, interval_ms: 3000 },
        ]),
        { ev: "publish", contains: FIRST_KEY, count: 0 },
        ...lifecycle("node-2", { boots: [1], timers: [[0, 1000], [100, 3000]], stops: [100], online: [[10, "online", 1]], readings: [[3100, 1, 1, 3]] }),
      ]
    : [
        acks("node-2", [
          ["host", "mqtt_host", REASON.fixed],
          ["enc", "fleet_key_enc", REASON.enc],
          ["first", "fleet_key", REASON.fixed],
          ["unsigned", view({ interval_ms: 2000 })],
          // Keyless: sig and ctr are envelope, not checked; the counter stays 0.
          ["signed", view({ interval_ms: 3000 })],
          ["clear-signed", "fleet_key", REASON.fixed],
        ]),
        writes(firstStored(accept), [{ interval_ms: 2000 }, { interval_ms: 3000 }]),
        ...lifecycle("node-2", {
          boots: [1],
          timers: [[0, 1000], [100, 2000], [100, 3000]],
          stops: [100, 100],
          online: [[10, "online", 1]],
          readings: [[3100, 1, 1, 3]],
        }),
      ],
});
for (const accept of [true, false]) {
  const s = firstKey(accept);
  write(s.name, s);
}
