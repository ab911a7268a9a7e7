/**
 * Differential conformance: every scenario runs through the TypeScript core
 * in Node and through the transpiled core under Lua 5.1 and Lua 5.3; the
 * traces (publishes compared as parsed JSON, timer changes, connects, file
 * writes) must be identical. Each scenario also states a few expectations,
 * so an empty or broken trace cannot pass by being equally broken everywhere.
 *
 * ESPFLEET_CONFORMANCE_NODE_ONLY=1 runs the Node half alone (the mutation run,
 * vitest.mutate.config.ts: the Lua half would transpile Stryker's instrumented
 * source). The Node trace is made inside each test, not while collecting, so
 * a mutant that Stryker activates before the tests is the code that runs.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { nodeCodec } from "./host-codec";
import { runScenario, Scenario } from "./runner";
import type { TraceEntry } from "./scenario-platform";

const here = import.meta.dirname;
const root = join(here, "..", "..");
const bundle = join(root, "build", "conformance", "runner.lua");
const scenarioDir = join(here, "scenarios");
const LUAS = process.env.ESPFLEET_CONFORMANCE_NODE_ONLY === "1" ? [] : ["lua5.1", "lua5.3"];

/**
 * What a scenario states about the entries of its trace with event `ev` (and
 * `topic`, `name`, `contains` when given), exactly: how many there are
 * (`count`) or what they are (`entries`, all of them in order; each field
 * listed must equal the entry's, payloads whole, e.g.
 * `{"t":1000,"payload":{"id":"node-1","seq":1,...}}`; fields not listed are
 * not compared). No bounds: since the Lua side runs the same source, a loose
 * bound is all that would stand against a bug in it. And nothing unexpected:
 * every entry of the trace must fall under some expectation.
 */
interface Expectation {
  ev: string;
  topic?: string;
  name?: string;
  /** Text the entry (as JSON) must contain, e.g. a reason in an ack. */
  contains?: string;
  count?: number;
  entries?: Record<string, unknown>[];
}

/** Lua cannot tell `{}` from `[]` (cjson and sjson encode both as `{}`): compare them as one. */
function normalise(value: unknown): unknown {
  if (Array.isArray(value)) {
    return value.length === 0 ? "<empty>" : value.map(normalise);
  }
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value);
    if (entries.length === 0) {
      return "<empty>";
    }
    return Object.fromEntries(entries.map(([k, v]) => [k, normalise(v)]));
  }
  return value;
}

function runLua(lua: string, scenarioFile: string): unknown {
  const run = spawnSync(lua, [join(here, "run.lua"), bundle, scenarioFile], { encoding: "utf8", maxBuffer: 64 << 20 });
  if (run.status !== 0) {
    throw new Error(`${lua} failed on ${scenarioFile}:\n${run.stderr}`);
  }
  return JSON.parse(run.stdout) as unknown;
}

const files = readdirSync(scenarioDir).filter((f) => f.endsWith(".json")).sort();

beforeAll(async () => {
  if (LUAS.length === 0) {
    return;
  }
  // Loaded here, not at the top: the Node half alone (the mutation run) needs neither, and they take a second to load.
  const ts = (await import("typescript")).default;
  const tstl = await import("typescript-to-lua");
  const result = tstl.transpileProject(join(here, "tsconfig.lua.json"));
  const errors = result.diagnostics.filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (errors.length > 0) {
    throw new Error(ts.flattenDiagnosticMessageText(errors[0].messageText, "\n"));
  }
});

describe("conformance: TypeScript core vs transpiled Lua", () => {
  it("has scenarios", () => {
    expect(files.length).toBeGreaterThanOrEqual(10);
  });

  for (const file of files) {
    const path = join(scenarioDir, file);
    const scenario = JSON.parse(readFileSync(path, "utf8")) as Scenario & { expect?: Expectation[] };

    describe(scenario.name, () => {
      const nodeTrace = (): TraceEntry[] => JSON.parse(JSON.stringify(runScenario(scenario, nodeCodec))) as TraceEntry[];

      it("meets the scenario's expectations in Node", () => {
        const trace = nodeTrace();
        // The fake platform's own complaints: a step it does not know, a module or a call the device would refuse.
        expect(trace.filter((t) => t.ev.startsWith("bad_"))).toEqual([]);
        const selects = (e: Expectation, t: TraceEntry) =>
          t.ev === e.ev &&
          (e.topic === undefined || t.topic === e.topic) &&
          (e.name === undefined || t.name === e.name) &&
          (e.contains === undefined || JSON.stringify(t).includes(e.contains));
        const unexpected = trace.filter((t) => !(scenario.expect ?? []).some((e) => selects(e, t)));
        expect(unexpected, "trace entries no expectation covers").toEqual([]);
        for (const e of scenario.expect ?? []) {
          const matching = trace.filter((t) => selects(e, t));
          const what = `${e.ev} ${e.topic ?? e.name ?? ""} ${e.contains ?? ""}`;
          expect(e.count !== undefined || e.entries !== undefined, `${what}: count or entries`).toBe(true);
          if (e.count !== undefined) {
            expect(matching.length, what).toBe(e.count);
          }
          if (e.entries !== undefined) {
            const listed = e.entries;
            expect(matching.map((t, i) => Object.fromEntries(Object.keys(listed[i] ?? {}).map((k) => [k, t[k]]))), what).toEqual(listed);
          }
        }
      });

      for (const lua of LUAS) {
        it(`gives the same trace on ${lua}`, () => {
          expect(normalise(runLua(lua, path))).toEqual(normalise(nodeTrace()));
        });
      }
    });
  }
});
