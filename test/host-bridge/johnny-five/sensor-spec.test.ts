/** `--sensor name:pin:controller`: what is accepted, and what each refusal says. */
import { describe, expect, it } from "vitest";
import { CONTROLLERS, parseSensorSpec, parseSensorSpecs, type SensorSpec } from "../../../host-bridge/johnny-five/sensor-spec";

function accepted(text: string): SensorSpec {
  const parsed = parseSensorSpec(text);
  if (!parsed.ok) {
    throw new Error(`expected "${text}" to parse: ${parsed.error}`);
  }
  return parsed.value;
}

function refusal(text: string): string {
  const parsed = parseSensorSpec(text);
  if (parsed.ok) {
    throw new Error(`expected "${text}" to be refused`);
  }
  return parsed.error;
}

function convert(sensor: string, count: number, arefVolts = 5): number {
  const read = accepted(`${sensor}:A0`).controller.read;
  if (read.kind !== "analog") {
    throw new Error(`${sensor} is not read as a plain analog input`);
  }
  return read.convert(count, { resolution: 1023, arefVolts });
}

describe("parseSensorSpec", () => {
  it("accepts name:pin:controller, case-insensitively, and fills in a sensor's only controller", () => {
    const lm35 = accepted("temperature:A0:LM35");
    expect([lm35.sensor, lm35.pin, lm35.channel, lm35.controller.name]).toEqual(["temperature", "A0", 0, "LM35"]);
    expect(lm35.controller.read).toEqual({ kind: "thermometer", j5Controller: "LM35" });
    const tmp36 = accepted("Temperature:a5:tmp36");
    expect([tmp36.sensor, tmp36.pin, tmp36.channel, tmp36.controller.name]).toEqual(["temperature", "A5", 5, "TMP36"]);
    expect(accepted("adc:A0").controller.name).toBe("RAW");
    expect(accepted("vdd:A3").controller.name).toBe("VOLTAGE");
    expect(accepted("humidity:A1").controller.name).toBe("HIH4030");
    expect(accepted("adc:A15").channel).toBe(15);
  });

  it("converts ADC counts into the contract's units", () => {
    expect(convert("adc", 0)).toBe(0);
    expect(convert("adc", 1023)).toBe(1023);
    expect(convert("vdd", 1023)).toBeCloseTo(5, 6);
    expect(convert("vdd", 1023, 3.3)).toBeCloseTo(3.3, 6);
    // HIH-4030 datasheet: 0 %RH at 0.16 of the supply, +0.0062 of it per %RH.
    expect(convert("humidity", Math.round(0.16 * 1023))).toBeCloseTo(0, 0);
    expect(convert("humidity", Math.round((0.16 + 0.0062 * 50) * 1023))).toBeCloseTo(50, 0);
  });

  it("says what shape a spec has when it has the wrong number of parts", () => {
    for (const text of ["temperature", "temperature:A0:LM35:extra", "temperature::LM35", ""]) {
      expect(refusal(text)).toContain("expected name:pin:controller, e.g. temperature:A0:LM35");
    }
  });

  it("names the sensors the node knows for an unknown sensor", () => {
    expect(refusal("pressure:A0:BMP180")).toBe('--sensor "pressure:A0:BMP180": unknown sensor "pressure"; the node reports temperature, humidity, adc, vdd');
  });

  it("asks for an analog input for a bad pin", () => {
    for (const pin of ["D3", "13", "A16", "AX"]) {
      expect(refusal(`adc:${pin}`)).toContain(`pin "${pin}" is not an analog input; use A0-A15`);
    }
  });

  it("lists the controllers of the sensor for an unknown or a missing controller", () => {
    const all = CONTROLLERS.temperature.map((c) => c.name).join(", ");
    expect(all).toContain("LM35");
    expect(all).toContain("TMP36");
    expect(refusal("temperature:A0:DHT22")).toBe(`--sensor "temperature:A0:DHT22": unknown temperature controller "DHT22"; use one of ${all}`);
    expect(refusal("temperature:A0")).toContain(`say which temperature sensor is wired: temperature:A0:<controller>, one of ${all}`);
    expect(refusal("adc:A0:LM35")).toContain('unknown adc controller "LM35"; use one of RAW');
  });
});

describe("parseSensorSpecs", () => {
  it("takes several sensors, each once", () => {
    const parsed = parseSensorSpecs(["temperature:A0:LM35", "adc:A2"]);
    expect(parsed.ok && parsed.value.map((s) => s.sensor)).toEqual(["temperature", "adc"]);
  });

  it("refuses a sensor given twice, and none at all", () => {
    const twice = parseSensorSpecs(["temperature:A0:LM35", "temperature:A1:TMP36"]);
    expect(twice.ok).toBe(false);
    expect(!twice.ok && twice.error).toContain('--sensor temperature is given twice ("temperature:A0:LM35" and "temperature:A1:TMP36")');
    const none = parseSensorSpecs([]);
    expect(!none.ok && none.error).toContain("give at least one --sensor");
  });

  it("passes on the first bad spec's message", () => {
    const parsed = parseSensorSpecs(["adc:A0", "vdd:B1"]);
    expect(!parsed.ok && parsed.error).toContain('--sensor "vdd:B1": pin "B1"');
  });
});
