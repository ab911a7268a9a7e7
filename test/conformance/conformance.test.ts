/**
 * Differential conformance: every scenario runs through the TypeScript core
 * in Node and through the transpiled core under Lua 5.1 and Lua 5.3; the
 * traces (publishes compared as parsed JSON, timer changes, connects, file
 * writes) must be identical. Each scenario also states a few expectations,
 * so an empty or broken trace cannot pass by being equally broken everywhere.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import * as tstl from "typescript-to-lua";
import { beforeAll, describe, expect, it } from "vitest";
import { nodeCodec } from "./host-codec";
import { runScenario, Scenario } from "./runner";
import type { TraceEntry } from "./scenario-platform";

const here = import.meta.dirname;
const root = join(here, "..", "..");
const bundle = join(root, "build", "conformance", "runner.lua");
const scenarioDir = join(here, "scenarios");
const LUAS = ["lua5.1", "lua5.3"];

interface Expectation {
  ev: string;
  topic?: string;
  name?: string;
  /** Text the entry (as JSON) must contain, e.g. a reason in an ack. */
  contains?: string;
  min?: number;
  max?: number;
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

beforeAll(() => {
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
      const nodeTrace = JSON.parse(JSON.stringify(runScenario(scenario, nodeCodec))) as TraceEntry[];

      it("meets the scenario's expectations in Node", () => {
        for (const e of scenario.expect ?? []) {
          const n = nodeTrace.filter(
            (t) =>
              t.ev === e.ev &&
              (e.topic === undefined || t.topic === e.topic) &&
              (e.name === undefined || t.name === e.name) &&
              (e.contains === undefined || JSON.stringify(t).includes(e.contains)),
          ).length;
          const what = `${e.ev} ${e.topic ?? e.name ?? ""} ${e.contains ?? ""}`;
          expect(n, what).toBeGreaterThanOrEqual(e.min ?? 0);
          expect(n, what).toBeLessThanOrEqual(e.max ?? Infinity);
        }
      });

      for (const lua of LUAS) {
        it(`gives the same trace on ${lua}`, () => {
          expect(normalise(runLua(lua, path))).toEqual(normalise(nodeTrace));
        });
      }
    });
  }
});
