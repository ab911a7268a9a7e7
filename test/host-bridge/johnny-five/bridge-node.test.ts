/**
 * An Arduino (mock-firmata behind a real johnny-five Board) as a fleet
 * member against a real aedes broker: its readings, its config changes
 * (applied, rejected), and its failed reads (no value yet, board unplugged).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { connectFirmataBoard, type FirmataBoard } from "../../../host-bridge/johnny-five/firmata-board";
import { BridgeNode } from "../../../host-bridge/johnny-five/firmata-platform";
import { FirmataSensors } from "../../../host-bridge/johnny-five/firmata-sensors";
import { parseSensorSpecs } from "../../../host-bridge/johnny-five/sensor-spec";
import type { BrokerTarget } from "../../../broker/target";
import { sendConfigChange } from "../../../ops/config/change";
import { type EmbeddedBroker, startEmbeddedBroker } from "../../../broker/embedded";
import { MockArduino } from "./support/mock-arduino";
import { Observer, type Received, waitFor } from "./support/observer";

const NODE_ID = "bridge-test";
const WAIT_MS = 20_000;
/** Per test: several waits in a row, each generous for a loaded machine. */
const TEST_MS = 90_000;
/** An Uno's ADC: 10 bits against a 5 V reference. */
const ADC_MAX = 1023;
const AREF_MV = 5000;

interface Rig {
  arduino: MockArduino;
  board: FirmataBoard;
  sensors: FirmataSensors;
  node: BridgeNode;
  observer: Observer;
  stateDir: string;
  logs: string[];
}

let broker: EmbeddedBroker | undefined;
let rig: Rig | undefined;

async function startRig(specTexts: string[], counts: Record<number, number>, staleAfterMs?: number): Promise<Rig> {
  broker = await startEmbeddedBroker({ port: 0 });
  const specs = parseSensorSpecs(specTexts);
  if (!specs.ok) {
    throw new Error(specs.error);
  }
  const arduino = new MockArduino();
  const board = await connectFirmataBoard({ io: arduino.io, name: "mock Uno" }, 10_000);
  const sensors = new FirmataSensors(board.board, specs.value, { resolution: ADC_MAX, arefVolts: AREF_MV / 1000, staleAfterMs });
  for (const [channel, count] of Object.entries(counts)) {
    expect(arduino.setAnalog(Number(channel), count)).toBe(true);
  }
  const observer = await Observer.connect(broker.url);
  const stateDir = mkdtempSync(join(tmpdir(), "espfleet-bridge-"));
  const target: BrokerTarget = { url: broker.url, host: broker.host, port: broker.port, secure: false, username: "", password: "", ca: undefined, embedded: true };
  const logs: string[] = [];
  const node = await BridgeNode.start({
    nodeId: NODE_ID,
    broker: target,
    prefix: "",
    stateDir,
    sensors,
    initial: { interval_ms: 200, sensors: specs.value.map((s) => s.sensor) },
    log: (level, text) => logs.push(`${level}: ${text}`),
  });
  rig = { arduino, board, sensors, node, observer, stateDir, logs };
  return rig;
}

afterEach(async () => {
  if (rig !== undefined) {
    await rig.node.stop();
    rig.sensors.close();
    rig.arduino.close();
    await rig.board.close();
    await rig.observer.close();
    rmSync(rig.stateDir, { recursive: true, force: true });
    rig = undefined;
  }
  await broker?.close();
  broker = undefined;
});

function readingWith(r: Rig, key: string, after = 0): Received | undefined {
  return r.observer.readings.find((m) => (m.body.seq as number) > after && m.body[key] !== undefined);
}

describe("bridge node on a johnny-five board", () => {
  it("publishes an LM35's temperature, a raw ADC count and an HIH-4030's humidity on its readings topic", async () => {
    // LM35: 10 mV/°C. 61 counts of 1023 at 5 V = 298.1 mV = 29.8 °C; johnny-five reports whole °C.
    // HIH-4030: Vout/Vsupply = 0.0062·RH + 0.16.
    const r = await startRig(["temperature:A0:LM35", "humidity:A1:HIH4030", "adc:A2"], { 0: 61, 1: 600, 2: 512 });
    const reading = await waitFor(() => readingWith(r, "temperature"), WAIT_MS, "a reading with a temperature");
    expect(reading.topic).toBe("sensor_data");
    expect(reading.body.id).toBe(NODE_ID);
    expect(reading.body.temperature).toBe(Math.round((61 / ADC_MAX) * AREF_MV / 10));
    expect(reading.body.adc).toBe(512);
    const humidity = (600 / ADC_MAX - 0.16) / 0.0062;
    expect(reading.body.humidity).toBeCloseTo(humidity, 2);
    expect(reading.body.failed).toBeUndefined();

    // The core reads the latest value at each sample.
    r.arduino.setAnalog(0, 41); // 200.4 mV = 20 °C
    const later = await waitFor(
      () => r.observer.readings.find((m) => m.body.temperature === Math.round((41 / ADC_MAX) * AREF_MV / 10)),
      WAIT_MS,
      "a reading with the new temperature",
    );
    expect(later.body.seq as number).toBeGreaterThan(reading.body.seq as number);
  }, TEST_MS);

  it("converts with the TMP36's 500 mV offset when the spec says TMP36", async () => {
    // TMP36: (mV - 500) / 10. 153 counts = 747.8 mV = 24.8 °C (an LM35 would be 75 °C).
    const r = await startRig(["temperature:A0:TMP36"], { 0: 153 });
    const reading = await waitFor(() => readingWith(r, "temperature"), WAIT_MS, "a reading with a temperature");
    expect(reading.body.temperature).toBe(Math.round(((153 / ADC_MAX) * AREF_MV - 500) / 10));
  }, TEST_MS);

  it("applies and acknowledges a config_change of interval_ms and sensors, and stores it", async () => {
    const r = await startRig(["temperature:A0:LM35", "humidity:A1:HIH4030", "adc:A2"], { 0: 61, 1: 600, 2: 512 });
    await waitFor(() => readingWith(r, "humidity"), WAIT_MS, "a first reading with humidity");
    const outcome = await sendConfigChange(
      r.observer.client,
      "",
      { req: "bridge-apply", target: NODE_ID, interval_ms: 300, sensors: ["temperature", "adc"] },
      { ids: [NODE_ID] },
      WAIT_MS,
    );
    expect(outcome.rejected).toEqual([]);
    expect(outcome.applied.map((a) => a.id)).toEqual([NODE_ID]);
    expect(outcome.applied[0].config?.interval_ms).toBe(300);
    expect(outcome.applied[0].config?.sensors).toEqual(["temperature", "adc"]);
    expect(r.node.core.settings().interval_ms).toBe(300);

    // Readings after the ack carry the new sensor list.
    const seqAtAck = Math.max(...r.observer.readings.map((m) => m.body.seq as number));
    const after = await waitFor(() => r.observer.readings.find((m) => (m.body.seq as number) > seqAtAck), WAIT_MS, "a reading after the change");
    expect(after.body.temperature).toBe(30); // A0 still at 61 counts: 29.8 °C, whole °C from johnny-five
    expect(after.body.adc).toBe(512);
    expect(after.body.humidity).toBeUndefined();

    await r.node.storage.flush();
    const stored = JSON.parse(readFileSync(join(r.stateDir, NODE_ID, "config.json"), "utf8")) as Record<string, unknown>;
    expect(stored.interval_ms).toBe(300);
    expect(stored.sensors).toEqual(["temperature", "adc"]);
  }, TEST_MS);

  it("acknowledges a bad config_change as rejected and keeps running with its config", async () => {
    const r = await startRig(["temperature:A0:LM35"], { 0: 61 });
    await waitFor(() => readingWith(r, "temperature"), WAIT_MS, "a first reading");
    const outcome = await sendConfigChange(r.observer.client, "", { req: "bridge-reject", target: NODE_ID, interval_ms: 5, intervall: 1 }, { ids: [NODE_ID] }, WAIT_MS);
    expect(outcome.applied).toEqual([]);
    expect(outcome.rejected.map((a) => a.id)).toEqual([NODE_ID]);
    const keys = (outcome.rejected[0].errors ?? []).map((e) => e.key).sort();
    expect(keys).toEqual(["interval_ms", "intervall"]);
    expect(r.node.core.settings().interval_ms).toBe(200);

    const seqAtAck = Math.max(...r.observer.readings.map((m) => m.body.seq as number));
    const after = await waitFor(() => readingWith(r, "temperature", seqAtAck), WAIT_MS, "a reading after the rejected change");
    expect(after.body.id).toBe(NODE_ID);
  }, TEST_MS);

  it("reports a sensor with no value yet, its recovery, and an unplugged board as failed reads", async () => {
    const r = await startRig(["temperature:A0:LM35", "adc:A2"], { 2: 100 });
    const first = await waitFor(() => r.observer.readings.find((m) => Array.isArray(m.body.failed)), WAIT_MS, "a reading with a failed sensor");
    expect(first.body.failed).toEqual(["temperature"]);
    expect(first.body.temperature).toBeUndefined();
    expect(first.body.adc).toBe(100);
    const failedEvent = await waitFor(() => r.observer.events.find((e) => e.body.code === "sensor_read_failed"), WAIT_MS, "a sensor_read_failed event");
    expect(failedEvent.body.sensor).toBe("temperature");
    expect(failedEvent.body.reason).toBe("no reading from A0 yet");

    r.arduino.setAnalog(0, 61);
    await waitFor(() => r.observer.events.find((e) => e.body.code === "sensor_recovered"), WAIT_MS, "a sensor_recovered event");
    const recovered = await waitFor(() => readingWith(r, "temperature"), WAIT_MS, "a reading with a temperature");
    expect(recovered.body.failed).toBeUndefined();

    r.arduino.unplug();
    const lost = await waitFor(
      () => r.observer.readings.find((m) => (m.body.seq as number) > (recovered.body.seq as number) && Array.isArray(m.body.failed)),
      WAIT_MS,
      "a reading after the board was unplugged",
    );
    expect(lost.body.failed).toEqual(["temperature", "adc"]);
    const lostEvent = await waitFor(
      () => r.observer.events.find((e) => e.body.code === "sensor_read_failed" && String(e.body.reason).includes("disconnected")),
      WAIT_MS,
      "a sensor_read_failed event saying the board is gone",
    );
    expect(["temperature", "adc"]).toContain(lostEvent.body.sensor);
  }, TEST_MS);

  it("reports an input that stopped streaming (a hung sketch) as failed instead of repeating its last value", async () => {
    const r = await startRig(["temperature:A0:LM35"], { 0: 61 }, 1000);
    const good = await waitFor(() => readingWith(r, "temperature"), WAIT_MS, "a first reading");
    r.arduino.freeze();
    const stale = await waitFor(
      () => r.observer.readings.find((m) => (m.body.seq as number) > (good.body.seq as number) && Array.isArray(m.body.failed)),
      WAIT_MS,
      "a reading with the silent sensor failed",
    );
    expect(stale.body.failed).toEqual(["temperature"]);
    const event = await waitFor(() => r.observer.events.find((e) => e.body.code === "sensor_read_failed"), WAIT_MS, "a sensor_read_failed event");
    expect(String(event.body.reason)).toMatch(/^nothing from A0 for \d+\.\d s; is the sketch still running\?$/);
  }, TEST_MS);

  it("reports a sensor a config_change enables but no --sensor wired as failed, saying how to wire it", async () => {
    const r = await startRig(["temperature:A0:LM35"], { 0: 61 });
    await waitFor(() => readingWith(r, "temperature"), WAIT_MS, "a first reading");
    const outcome = await sendConfigChange(r.observer.client, "", { req: "bridge-vdd", target: NODE_ID, sensors: ["temperature", "vdd"] }, { ids: [NODE_ID] }, WAIT_MS);
    expect(outcome.applied.map((a) => a.id)).toEqual([NODE_ID]);
    const failed = await waitFor(() => r.observer.readings.find((m) => Array.isArray(m.body.failed)), WAIT_MS, "a reading with vdd failed");
    expect(failed.body.failed).toEqual(["vdd"]);
    expect(failed.body.temperature).toBe(30); // A0 at 61 counts: 29.8 °C, whole °C from johnny-five
    const event = await waitFor(() => r.observer.events.find((e) => e.body.code === "sensor_read_failed"), WAIT_MS, "a sensor_read_failed event");
    expect(event.body.sensor).toBe("vdd");
    expect(String(event.body.reason)).toContain("--sensor vdd:<pin>:<controller>");
  }, TEST_MS);

  it("refuses a spec naming an analog input the board does not have", async () => {
    broker = await startEmbeddedBroker({ port: 0 });
    const arduino = new MockArduino();
    const board = await connectFirmataBoard({ io: arduino.io }, 10_000);
    arduino.close();
    const specs = parseSensorSpecs(["adc:A9"]);
    expect(specs.ok).toBe(true);
    if (specs.ok) {
      expect(() => new FirmataSensors(board.board, specs.value, { resolution: ADC_MAX, arefVolts: 5 })).toThrow(/analog inputs A0-A5, no A9/);
    }
  }, TEST_MS);
});
