/**
 * Differential fuzz of `config_change` (issue 15): the same generated message
 * goes through the TypeScript core (JSON.parse, node:crypto: the simulator's
 * platform) and through the BUILT cold code, firmware/dist/cfg.lua, on a
 * 32-bit Lua 5.1 (and 5.3) in WebAssembly, with NodeMCU's sjson and crypto as
 * the virtual device emulates them (test/fuzz/cfg-harness.lua). Both must
 * reach the same outcome: the same config applied and stored, or the same
 * rejection keys and reasons, in the same order.
 *
 * The generators aim at what differs between JS and Lua: every name of
 * Object.prototype (and Lua metamethod names) as a key, a sensor, a target id
 * or a request id; `length`; multibyte UTF-8, raw and \u-escaped, around the
 * byte limits (512-byte message, 32-byte req, 64-byte key); keys repeated in
 * the JSON text; nesting deeper than sjson's 20 levels; numbers at each key's
 * bounds, ±1, fractions, huge, -0; signed changes with good and bad
 * signatures, counters and encrypted keys (fleet_key_enc).
 *
 * npm test runs a small budget with a fixed seed (ESPFLEET_FUZZ_RUNS, default
 * 2,000; ESPFLEET_FUZZ_SEED, default 15); `npm run fuzz` runs 30,000 (Lua 5.1 and 5.3, about 2 minutes) with a
 * fresh seed, printed so a failure can be replayed:
 *   ESPFLEET_FUZZ_SEED=<seed> npm run fuzz
 * Needs `npm run build:firmware` first (it tests the built Lua).
 */
import { createHmac } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configChange, defaultConfig, ENVELOPE_KEYS, FIELD_COUNT, fieldSpec, Kind, MAX_COUNTER, type NodeConfig } from "../../firmware/core/config";
import type { Platform } from "../../firmware/core/platform";
import { type LuaVersion, WasmLua } from "../../common/wasm-lua";
import { encryptFleetKey } from "../../ops/config/signing";

const root = join(import.meta.dirname, "..", "..");
const CFG_LUA = join(root, "firmware", "dist", "cfg.lua");

const fuzzing = process.env.ESPFLEET_FUZZ_RUNS !== undefined;
const RUNS = Number(process.env.ESPFLEET_FUZZ_RUNS ?? 2000);
const SEED = process.env.ESPFLEET_FUZZ_SEED !== undefined ? Number(process.env.ESPFLEET_FUZZ_SEED) : fuzzing ? Date.now() % 2147483647 : 15;
/** Lua 5.3 too in `npm run fuzz` (NodeMCU has 5.3 builds); npm test keeps to the shipped 5.1. */
const VERSIONS: LuaVersion[] = fuzzing ? ["5.1", "5.3"] : ["5.1"];

// ---- the nodes a message meets ------------------------------------------

const KEY = "k3y-0f-the-fleet";
const NEW_KEY = "n3w-k3y-0f-the-fleet";
const config = (over: Partial<NodeConfig>): NodeConfig => ({ ...defaultConfig(), node_id: "node-1", ...over });
const NODES: NodeConfig[] = [
  config({}),
  config({ fleet_key: KEY, config_counter: 100 }),
  config({ accept_first_key: true }),
  config({ node_id: "nœud-€1", sensors: ["adc"], interval_ms: 100 }),
];

// ---- names ---------------------------------------------------------------

/** Every name an object answers for in JS without owning it, and Lua's metamethod names. */
const PROTOTYPE_NAMES = [
  ...Object.getOwnPropertyNames(Object.prototype),
  ...["__proto__", "length", "prototype", "0", "1", "-1", ""],
  ...["__index", "__newindex", "__call", "__tostring", "__len", "__metatable", "__gc", "_G", "_ENV", "nil", "self"],
];
const SCHEMA = Array.from({ length: FIELD_COUNT }, (_, i) => fieldSpec(i));
const SCHEMA_KEYS = SCHEMA.map((s) => s[0]);
const SENSORS = ["temperature", "humidity", "adc", "vdd"];
const MULTIBYTE = ["é", "€", "😀", "\u{e000}", "\u{ffff}", "ÿ", "ñ", "\u{10ffff}", "ก", "\u{0301}"];

const multibyteText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: "binary", maxLength: 12 }),
  fc.string({ unit: "grapheme", maxLength: 12 }),
  fc.tuple(fc.constantFrom(...MULTIBYTE), fc.integer({ min: 0, max: 40 }), fc.string({ unit: "grapheme-ascii", maxLength: 3 })).map(([c, n, tail]) => c.repeat(n) + tail),
);
const name: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...PROTOTYPE_NAMES) },
  { weight: 1, arbitrary: fc.constantFrom("fleet_key", "fleet_key_enc", "sig", "ctr", "accept_first_key", "config_counter") },
  { weight: 3, arbitrary: fc.constantFrom(...SCHEMA_KEYS, ...ENVELOPE_KEYS, "fleet_key_enc") },
  { weight: 2, arbitrary: multibyteText },
  { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
);

// ---- values ----------------------------------------------------------------

/** The bounds of every numeric key, ±1, ±0.5, fractions, huge, -0. */
const BOUNDARY_NUMBERS = [
  ...new Set(
    SCHEMA.filter((s) => s[1] === Kind.Integer || s[1] === Kind.Decimal).flatMap((s) => [s[2], s[3], s[2] - 1, s[3] + 1, s[2] + 0.5, s[3] - 0.5, s[3] + 1e-9]),
  ),
  ...[0, -0, 0.1, 1e-300, -1, 1e21, 1e308, -1e308, 2 ** 31 - 1, 2 ** 31, 2 ** 53, 2 ** 53 + 2, Number.MAX_SAFE_INTEGER, Number.MIN_VALUE, 0.30000000000000004],
];
const number: fc.Arbitrary<number> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...BOUNDARY_NUMBERS) },
  { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
  { weight: 1, arbitrary: fc.integer({ min: -10, max: 100_000_000 }) },
);
/** JSON nested `depth` levels around `inner` (arrays and objects alternating by the seed). */
const nested = (inner: unknown): fc.Arbitrary<unknown> =>
  fc.tuple(fc.integer({ min: 1, max: 30 }), fc.boolean()).map(([depth, objects]) => {
    let v = inner;
    for (let i = 0; i < depth; i++) {
      v = objects && i % 2 === 0 ? { [`k${i}`]: v } : [v];
    }
    return v;
  });
const scalar: fc.Arbitrary<unknown> = fc.oneof(number, multibyteText, fc.boolean(), fc.constant(null), fc.constantFrom(...PROTOTYPE_NAMES));
const list: fc.Arbitrary<unknown[]> = fc.array(fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...SENSORS, ...PROTOTYPE_NAMES) }, { weight: 1, arbitrary: scalar }), { maxLength: 6 });
const value: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: scalar },
  { weight: 2, arbitrary: list },
  { weight: 1, arbitrary: fc.constantFrom({}, [], { length: 1 }, { length: 0 }, { length: 1, 0: "adc" }, { 0: "adc", 1: "vdd" }, { __proto__: null, constructor: 1 }) },
  { weight: 1, arbitrary: fc.dictionary(name, scalar, { maxKeys: 3 }) },
  { weight: 1, arbitrary: scalar.chain(nested) },
);
/** A key's value: mostly one made for its kind, at its bounds. */
function valueFor(key: string): fc.Arbitrary<unknown> {
  const spec = SCHEMA.find((s) => s[0] === key);
  if (spec === undefined) {
    return value;
  }
  const [, kind, min, max] = spec;
  const own =
    kind === Kind.Text || kind === Kind.Template
      ? fc.oneof(
          multibyteText,
          fc.constantFrom("x".repeat(max), "x".repeat(max + 1), "é".repeat(max / 2), "é".repeat(max / 2 + 1), "{id}", "a/{id}", "a/{id}/b", "+", "#", "{id}/{id}", "a{id}"),
        )
      : kind === Kind.Sensors
        ? list
        : kind === Kind.Flag
          ? fc.oneof(fc.boolean(), fc.constantFrom(0, 1, "true", null))
          : fc.oneof(fc.constantFrom(min, max, min - 1, max + 1, min + 0.5, -0, (min + max) / 2), number);
  return fc.oneof({ weight: 4, arbitrary: own }, { weight: 1, arbitrary: value });
}

// ---- messages -----------------------------------------------------------

interface Message {
  entries: [string, unknown][];
  /** Escape every non-ASCII character as \uXXXX (surrogate pairs as two escapes). */
  escape: boolean;
  spaces: boolean;
  /** "unsigned", or how the message is signed. */
  sign: "unsigned" | "good" | "other-key" | "not-first";
  ctr: unknown;
  /** Rotate to this key (fleet_key_enc made with the signing key and ctr). */
  rotate: string | undefined;
  /** Replace the whole text (non-objects, broken JSON). */
  raw: string | undefined;
  node: number;
  fsFull: boolean;
}

const SETTABLE = SCHEMA.filter((s) => s[5]).map((s) => s[0]);
const entry: fc.Arbitrary<[string, unknown]> = fc
  .oneof({ weight: 3, arbitrary: fc.constantFrom(...SETTABLE) }, { weight: 2, arbitrary: name })
  .chain((k) => valueFor(k).map((v): [string, unknown] => [k, v]));
const envelope: fc.Arbitrary<[string, unknown][]> = fc.tuple(
  fc.oneof(
    { weight: 6, arbitrary: fc.constant(undefined) },
    { weight: 2, arbitrary: fc.constantFrom("node-1", "nœud-€1", "other") },
    { weight: 2, arbitrary: fc.array(fc.oneof(fc.constantFrom("node-1", "nœud-€1", "x"), name, scalar), { maxLength: 4 }) },
    { weight: 1, arbitrary: value },
  ),
  fc.oneof(
    { weight: 4, arbitrary: fc.constant(undefined) },
    { weight: 4, arbitrary: fc.string({ maxLength: 10 }) },
    { weight: 2, arbitrary: fc.oneof(multibyteText, fc.constantFrom("r".repeat(32), "r".repeat(33), "é".repeat(16), "é".repeat(17), "😀".repeat(8), "😀".repeat(9))) },
    { weight: 1, arbitrary: scalar },
  ),
).map(([target, req]) => {
  const out: [string, unknown][] = [];
  if (target !== undefined) out.push(["target", target]);
  if (req !== undefined) out.push(["req", req]);
  return out;
});
const message: fc.Arbitrary<Message> = fc.record({
  entries: fc
    .tuple(envelope, fc.array(entry, { maxLength: 4 }), fc.array(fc.nat(), { maxLength: 1 }), valueFor("interval_ms"))
    .map(([env, body, dups, interval]) => {
      const all = [...env, ...body];
      // the same key again later in the text, with another value: the last one wins in JSON.parse and in sjson
      for (const d of dups) {
        if (all.length > 0) all.push([all[d % all.length][0], interval]);
      }
      return all;
    }),
  escape: fc.boolean(),
  spaces: fc.boolean(),
  sign: fc.constantFrom("unsigned", "unsigned", "good", "good", "good", "other-key", "not-first"),
  ctr: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(101, 100, 99, 1000, MAX_COUNTER, MAX_COUNTER + 1, 101.5, -0) }, { weight: 1, arbitrary: scalar }),
  rotate: fc.oneof(
    { weight: 3, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.oneof(fc.constantFrom(NEW_KEY, "x", "k".repeat(64), "k".repeat(65), 'quo"te', "back\\slash", "sp ace"), multibyteText) },
  ),
  raw: fc.oneof(
    { weight: 12, arbitrary: fc.constant(undefined) },
    {
      weight: 1,
      arbitrary: fc.oneof(
        fc.constantFrom("", "{}", "[]", "null", "42", '"text"', "true", "[1,2]", '[{"interval_ms":2000}]', "{not json", '{"interval_ms":2000', "{}}", '{"a":1,}'),
        fc.string({ unit: "binary", maxLength: 20 }),
        fc.integer({ min: 14, max: 40 }).map((n) => "[".repeat(n) + "]".repeat(n)),
      ),
    },
  ),
  node: fc.integer({ min: 0, max: NODES.length - 1 }),
  fsFull: fc.integer({ min: 0, max: 19 }).map((n) => n === 0),
});

/**
 * Messages most of which a node applies: a valid envelope, settable keys at
 * (or just inside) their bounds, a good signature for the keyed node, a first
 * key for the node that accepts one, a rotation, multibyte req: so that
 * what is applied, stored and acked is compared too, not only rejections.
 */
const VALID_VALUES: Record<string, unknown[]> = {
  interval_ms: [100, 2000, 86_400_000, 2000.0, 1e3],
  sensitivity: [0, -0, 0.1, 0.30000000000000004, 1000, 999.999, 1e-300],
  heartbeat_ms: [1000, 86_400_000, 5000],
  sensors: [["adc"], ["temperature", "humidity", "adc", "vdd"], ["vdd", "temperature"]],
  buffer_capacity: [0, -0, 100, 50],
  qos: [0, 1],
  flush_gap_ms: [0, 10000, 7],
};
const likelyApplied: fc.Arbitrary<Message> = fc.record({
  entries: fc
    .tuple(
      fc.constantFrom(undefined, "node-1", "nœud-€1", ["node-1", "nœud-€1"], ["x", "node-1"]),
      fc.oneof(fc.constant(undefined), fc.string({ maxLength: 10 }), fc.constantFrom("é".repeat(16), "😀".repeat(8), "€".repeat(10) + "ab", "__proto__")),
      fc.subarray(Object.keys(VALID_VALUES), { maxLength: 3 }).chain((keys) => fc.tuple(...keys.map((k) => fc.constantFrom(...(VALID_VALUES[k] as unknown[])).map((v): [string, unknown] => [k, v])))),
      fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom("first-key", "k".repeat(64), "é".repeat(32), "€".repeat(22)) }),
    )
    .map(([target, req, body, firstKey]) => {
      const out: [string, unknown][] = [];
      if (target !== undefined) out.push(["target", target]);
      if (req !== undefined) out.push(["req", req]);
      out.push(...body);
      if (firstKey !== undefined) out.push(["fleet_key", firstKey]);
      return out;
    }),
  escape: fc.boolean(),
  spaces: fc.boolean(),
  sign: fc.constantFrom("unsigned", "good", "good"),
  ctr: fc.constantFrom(101, 1000, MAX_COUNTER, 100),
  rotate: fc.constantFrom(undefined, undefined, NEW_KEY, "k".repeat(64), " ~!#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}"),
  raw: fc.constant(undefined),
  node: fc.integer({ min: 0, max: NODES.length - 1 }),
  fsFull: fc.integer({ min: 0, max: 19 }).map((n) => n === 0),
});

const hmacHex = (key: string, text: string): string => createHmac("sha256", key).update(text).digest("hex");

function escapeNonAscii(text: string): string {
  return text.replace(/[\u0080-\uffff]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
}

/** The wire text of `m`: members in order (repeats kept), `ctr` and `fleet_key_enc` when signed, the signature first. */
function wireText(m: Message): string {
  if (m.raw !== undefined) {
    return m.raw;
  }
  const entries = [...m.entries];
  const signed = m.sign !== "unsigned";
  if (signed) {
    if (m.rotate !== undefined && typeof m.ctr === "number") {
      entries.push(["fleet_key_enc", encryptFleetKey(m.sign === "other-key" ? "not-the-key" : KEY, m.ctr, m.rotate)]);
    }
    entries.push(["ctr", m.ctr]);
  }
  const sep = m.spaces ? ", " : ",";
  const colon = m.spaces ? ": " : ":";
  let body = "{" + entries.map(([k, v]) => JSON.stringify(k) + colon + (JSON.stringify(v) ?? "null")).join(sep) + "}";
  if (m.escape) {
    body = escapeNonAscii(body);
  }
  if (!signed) {
    return body;
  }
  const sig = hmacHex(m.sign === "other-key" ? "not-the-key" : KEY, body);
  const rest = body.slice(1);
  return m.sign === "not-first" ? `{${rest.slice(0, -1)}${rest.length > 1 ? sep : ""}"sig":"${sig}"}` : `{"sig":"${sig}"${rest === "}" ? "" : sep}${rest}`;
}

// ---- the two runtimes ------------------------------------------------------

interface Outcome {
  apply?: unknown;
  ack?: unknown;
  writes: unknown;
}

/** Lua cannot tell `{}` from `[]`: compare them as one. */
function normalise(value: unknown): unknown {
  if (Array.isArray(value)) {
    return value.length === 0 ? "<empty>" : value.map(normalise);
  }
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value);
    return entries.length === 0 ? "<empty>" : Object.fromEntries(entries.map(([k, v]) => [k, normalise(v)]));
  }
  return value;
}

function runTs(payload: string, current: NodeConfig, fsFull: boolean): Outcome {
  const writes: [string, unknown][] = [];
  const platform = {
    decodeJson: (text: string): unknown => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        return undefined;
      }
    },
    encodeJson: (v: object): string => JSON.stringify(v),
    hmacSha256Hex: hmacHex,
    writeFile: (name: string, contents: string): boolean => {
      if (fsFull) return false;
      writes.push([name, JSON.parse(contents)]);
      return true;
    },
    readFile: (): undefined => undefined,
    log: (): void => undefined,
  } as unknown as Platform;
  const out = configChange(platform, structuredClone(current), current.node_id, payload);
  const result = { apply: out.apply, ack: out.ack === undefined ? undefined : (JSON.parse(out.ack) as unknown), writes };
  return normalise(JSON.parse(JSON.stringify(result))) as Outcome;
}

function runLua(lua: WasmLua, payload: string, current: NodeConfig, fsFull: boolean): Outcome {
  const [text] = lua.callHelper("cfg_change", payload, JSON.stringify(current), current.node_id, fsFull ? "1" : "0");
  const r = JSON.parse(text ?? "{}") as { apply?: unknown; ack?: string; writes?: [string, string][] };
  const writes = Array.isArray(r.writes) ? r.writes.map(([n, c]) => [n, JSON.parse(c) as unknown]) : [];
  return normalise({ apply: r.apply, ack: r.ack === undefined ? undefined : (JSON.parse(r.ack) as unknown), writes }) as Outcome;
}

const states = new Map<LuaVersion, WasmLua>();

beforeAll(() => {
  if (!existsSync(CFG_LUA)) {
    throw new Error(`${CFG_LUA} not found: run \`npm run build:firmware\` first (the fuzz tests the built Lua)`);
  }
  for (const version of VERSIONS) {
    const lua = new WasmLua({ version });
    lua.addSource("nodemcu_common.lua", readFileSync(join(root, "device", "lua", "nodemcu_common.lua"), "utf8"));
    lua.addSource("nodemcu_codecs.lua", readFileSync(join(root, "device", "lua", "nodemcu_codecs.lua"), "utf8"));
    lua.addSource("cfg.lua", readFileSync(CFG_LUA, "utf8"));
    lua.run(readFileSync(join(import.meta.dirname, "cfg-harness.lua"), "utf8"), "@cfg-harness.lua");
    states.set(version, lua);
  }
});
afterAll(() => {
  for (const lua of states.values()) lua.close();
});

/** The outcome in TS, checked against every Lua; returns it for further checks. */
function same(payload: string, node: NodeConfig, fsFull = false): Outcome {
  const ts = runTs(payload, node, fsFull);
  for (const [version, lua] of states) {
    expect(runLua(lua, payload, node, fsFull), `Lua ${version} vs TS on ${JSON.stringify(payload)} for ${node.node_id}`).toEqual(ts);
  }
  return ts;
}

const stats = { runs: 0, applied: 0, rejected: 0, ignored: 0, signed: 0, rotations: 0, rotated: 0, firstKeys: 0, reasons: new Map<string, number>() };

describe("config_change: the TypeScript core and the built Lua agree (issue 15)", () => {
  it(`on ${RUNS} generated messages (seed ${SEED})`, () => {
    fc.assert(
      fc.property(fc.oneof({ weight: 3, arbitrary: message }, { weight: 1, arbitrary: likelyApplied }), (m) => {
        const payload = wireText(m);
        const outcome = same(payload, NODES[m.node], m.fsFull);
        stats.runs++;
        const ack = outcome.ack as { result?: string; errors?: { key: string; reason: string }[] } | undefined;
        if (ack === undefined) stats.ignored++;
        else if (ack.result === "applied") stats.applied++;
        else stats.rejected++;
        if (m.sign !== "unsigned" && m.raw === undefined) stats.signed++;
        if (m.rotate !== undefined && m.raw === undefined && m.sign !== "unsigned") stats.rotations++;
        const key = (outcome.apply as NodeConfig | undefined)?.fleet_key;
        if (key !== undefined && key !== NODES[m.node].fleet_key) {
          if (NODES[m.node].fleet_key === "") stats.firstKeys++;
          else stats.rotated++;
        }
        for (const e of Array.isArray(ack?.errors) ? ack.errors : []) {
          const key = `${e.reason.slice(0, 30)}`;
          stats.reasons.set(key, (stats.reasons.get(key) ?? 0) + 1);
        }
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: !fuzzing },
    );
    if (fuzzing) {
      process.stdout.write(
        `fuzz: seed ${SEED}, ${stats.runs} runs: ${stats.applied} applied, ${stats.rejected} rejected, ${stats.ignored} not addressed; ` +
          `${stats.signed} signed, ${stats.rotations} with fleet_key_enc (${stats.rotated} rotated), ${stats.firstKeys} first keys taken; reasons: ${[...stats.reasons].map(([r, n]) => `${n}× ${r}`).join("; ")}\n`,
      );
    }
    // The budget must reach both outcomes, or the generators have drifted.
    expect(stats.applied).toBeGreaterThan(0);
    expect(stats.rejected).toBeGreaterThan(0);
  }, Math.max(60_000, RUNS * 50));

  it("on every prototype and metamethod name as a key, a sensor, a target and a request id", () => {
    for (const node of NODES) {
      for (const n of PROTOTYPE_NAMES) {
        for (const body of [{ [n]: 1 }, { [n]: { length: 1 } }, { sensors: [n] }, { sensors: ["adc", n] }, { target: n, interval_ms: 2000 }, { target: [n, node.node_id] }, { req: n }]) {
          // JSON.stringify of { __proto__: 1 } built by a literal would drop it: write the text by hand.
          const text = "{" + Object.entries(body).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(",") + "}";
          const payload = Object.keys(body).length === 0 ? `{${JSON.stringify(n)}:1}` : text;
          const outcome = same(payload, node);
          if (node.fleet_key === "" && n !== "" && (Object.hasOwn(body, n) || Object.hasOwn(body, "sensors"))) {
            // Never applied: a prototype name is no config key and no sensor.
            expect((outcome.ack as { result?: string } | undefined)?.result, payload).not.toBe("applied");
          }
        }
      }
    }
  });

  it("at every numeric key's bounds, ±1, ±0.5, -0 and beyond", () => {
    for (const spec of SCHEMA) {
      for (const v of [...BOUNDARY_NUMBERS, spec[2], spec[3], spec[2] - 1, spec[3] + 1]) {
        for (const node of [NODES[0], NODES[2]]) {
          same(`{"${spec[0]}":${Object.is(v, -0) ? "-0" : JSON.stringify(v)}}`, node);
        }
      }
    }
  });

  it("at the byte limits, with 1-, 2-, 3- and 4-byte characters", () => {
    for (const c of ["x", "é", "€", "😀"]) {
      const bytes = Buffer.byteLength(c);
      for (let n = Math.floor(32 / bytes) - 1; n <= Math.floor(32 / bytes) + 1; n++) {
        same(JSON.stringify({ req: c.repeat(n), interval_ms: 2000 }), NODES[0]);
        same(escapeNonAscii(JSON.stringify({ req: c.repeat(n), interval_ms: 2000 })), NODES[0]);
      }
      // 512 bytes: the message around the limit
      const head = '{"req":"r","note":"';
      for (let pad = -4; pad <= 4; pad++) {
        const n = Math.floor((512 - head.length - 2) / bytes) + pad;
        same(head + c.repeat(Math.max(0, n)) + '"}', NODES[1]);
      }
      // a first key of 64 bytes and one over
      for (const n of [Math.floor(64 / bytes), Math.floor(64 / bytes) + 1]) {
        same(JSON.stringify({ fleet_key: c.repeat(n) }), NODES[2]);
      }
    }
  });

  it("on fleet_key and fleet_key_enc of every type, signed or not, on every node", () => {
    const values = ['""', '"00"', '"0g"', '"zz"', '"abc"', `"${"00".repeat(65)}"`, "0", "-0", "null", "true", "[]", "{}", '["00"]', '{"length":1}', '"é"'];
    for (const node of NODES) {
      for (const key of ["fleet_key", "fleet_key_enc"]) {
        for (const v of values) {
          const body = `{"req":"k",${JSON.stringify(key)}:${v}}`;
          same(body, node);
          for (const ctr of ["101", "1e2", "101.5", '"101"', "null"]) {
            const signedBody = `{${JSON.stringify(key)}:${v},"ctr":${ctr}}`;
            same(`{"sig":"${hmacHex(KEY, signedBody)}",${signedBody.slice(1)}`, node);
          }
        }
      }
    }
  });

  it("rotates the key only from a good signature, and to the key that was encrypted", () => {
    const node = NODES[1];
    for (const newKey of [NEW_KEY, "k".repeat(64), "k".repeat(65), "x", "sp ace", "é"]) {
      for (const ctr of [101, 2 ** 31 - 1]) {
        const body = `{"req":"rot","fleet_key_enc":"${encryptFleetKey(KEY, ctr, newKey)}","ctr":${ctr}}`;
        const outcome = same(`{"sig":"${hmacHex(KEY, body)}",${body.slice(1)}`, node);
        const applied = (outcome.apply as NodeConfig | undefined)?.fleet_key;
        const valid = /^[ !#-[\]-~]{1,64}$/.test(newKey);
        expect(applied, newKey).toBe(valid ? newKey : undefined);
      }
    }
  });
});
