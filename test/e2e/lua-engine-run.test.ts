/**
 * Issue 12, item 4: `espfleet run --engine lua --nodes 5` as a user runs it,
 * with a plain mqtt.js consumer on `sensor_data`. Before the fix the summary
 * stayed at `0 acked` (the Lua engine did not count PUBACKs) and every
 * reading carried `"failed":["vdd"]` (the default sensors include vdd, and
 * the virtual boards powered on in ADC_TOUT mode, where adc.readvdd33()
 * answers 65535). Now the boards are in the ADC mode their sensors need, and
 * acks are counted on the wire as the TypeScript engine counts them.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { afterAll, describe, expect, it } from "vitest";
import { ADC_MODE, adcModeFor } from "../../simulator/lua-engine";
import { requireBuiltFirmware } from "../device/support/harness";
import { CliRun } from "./support/cli-process";
import { freePort } from "./support/mosquitto";

type Reading = Record<string, unknown>;

describe("run --engine lua (issue 12)", () => {
  const dirs: string[] = [];
  const clients: MqttClient[] = [];
  const runs: CliRun[] = [];
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync()));
    for (const run of runs) {
      await run.interrupt();
    }
    for (const dir of dirs) {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  /** `run --engine lua` for `seconds` on a free port; the readings a plain consumer heard, and the output. */
  async function runLua(extra: string[], seconds: number): Promise<{ code: number | null; out: string; readings: Reading[] }> {
    requireBuiltFirmware();
    const port = await freePort();
    const stateDir = mkdtempSync(join(tmpdir(), "espfleet-lua-run-"));
    dirs.push(stateDir);
    const run = CliRun.start(["run", "--engine", "lua", "--nodes", "5", "--port", String(port), "--state-dir", stateDir, "--fresh", "--duration", `${seconds}s`, ...extra]);
    runs.push(run);
    await run.waitFor(/listening on mqtt:/);
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: `lua-run-${process.pid}`, protocolVersion: 4, reconnectPeriod: 0 });
    clients.push(client);
    const readings: Reading[] = [];
    client.on("message", (_topic, payload) => readings.push(JSON.parse(payload.toString()) as Reading));
    await client.subscribeAsync("sensor_data", { qos: 1 });
    const code = await run.exited;
    return { code, out: run.out, readings };
  }

  it("with the default sensors: every node reads vdd, and the summary counts the acks", async () => {
    const { code, out, readings } = await runLua([], 10);
    expect(code, out).toBe(0);
    const ids = [...new Set(readings.map((r) => r.id))].sort();
    expect(ids, out).toEqual(["node-0001", "node-0002", "node-0003", "node-0004", "node-0005"]);
    // No reading says a sensor failed; each has the default sensors' values.
    expect(readings.filter((r) => "failed" in r)).toEqual([]);
    for (const r of readings) {
      expect(typeof r.vdd).toBe("number");
      expect(r.vdd as number).toBeGreaterThan(3);
      expect(r.vdd as number).toBeLessThan(3.6);
      expect(typeof r.temperature).toBe("number");
    }
    // The final line: every published reading acknowledged (QoS 1, a local broker), at least one per node.
    const final = /stopped after [\d.]+ s: (\d+) readings published, (\d+) acked/.exec(out);
    expect(final, out).not.toBeNull();
    const [published, acked] = [Number(final?.[1]), Number(final?.[2])];
    expect(acked).toBeGreaterThanOrEqual(5);
    expect(acked).toBe(published);
    // The live summary (printed every 5 s off a terminal) counts them too.
    expect(out).toMatch(/5\/5 connected · 0 offline · [\d.]+ msg\/s · [1-9][\d,]* acked/);
  }, 40_000);

  it("with adc and vdd, the TypeScript engine says too (as the Lua engine does) that a board reads one or the other", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "espfleet-lua-run-"));
    dirs.push(stateDir);
    const ts = CliRun.start(["run", "--nodes", "1", "--port", "0", "--state-dir", stateDir, "--sensors", "temperature,adc,vdd", "--duration", "1s"]);
    runs.push(ts);
    expect(await ts.exited, ts.out).toBe(0);
    expect(ts.out).toContain("note: a real ESP8266 reads either adc or vdd (one ADC: adc.force_init_mode)");
  }, 30_000);

  it("the board's ADC mode follows its sensors: VDD33 for vdd without adc, as on NodeMCU", () => {
    expect(adcModeFor(["temperature", "humidity", "vdd"])).toBe(ADC_MODE.vdd33);
    expect(adcModeFor(["vdd"])).toBe(ADC_MODE.vdd33);
    // One ADC: reading A0 needs ADC_TOUT mode, and then vdd fails as on hardware (the run command says so).
    expect(adcModeFor(["adc", "vdd"])).toBe(ADC_MODE.adc);
    expect(adcModeFor(["temperature", "humidity"])).toBe(ADC_MODE.adc);
    expect(adcModeFor(undefined)).toBe(ADC_MODE.adc);
  });
});
