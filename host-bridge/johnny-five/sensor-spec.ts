/**
 * `--sensor name:pin:controller`: which of the node's sensors (temperature,
 * humidity, adc, vdd: the names the core and the MQTT contract know) is
 * wired to which analog input of the Arduino, and how its ADC count becomes
 * a value in the contract's unit.
 *
 * Temperature uses johnny-five's own analog Thermometer controllers. The
 * other sensors are read as a johnny-five Sensor (the ADC count, 0-1023)
 * and converted here: johnny-five has no analog hygrometer (its Hygrometer
 * controllers are all I2C), no "raw count" or "voltage" controller.
 */
import { SENSOR_UNITS } from "../../firmware/core/config";
import type { Parsed } from "../../common/units";

/** How a reading is taken with johnny-five. */
export type ControllerKind =
  /** five.Thermometer with this johnny-five controller; the value is its `celsius`. */
  | { kind: "thermometer"; j5Controller: string }
  /** five.Sensor; the value is `convert(count)`. */
  | { kind: "analog"; convert: (count: number, conversion: AdcConversion) => number };

/** What turns an ADC count into volts. */
export interface AdcConversion {
  /** Largest count (1023 on a 10-bit AVR ADC). */
  resolution: number;
  /** Analog reference voltage, V (5 on an Uno, 3.3 on 3.3 V boards). */
  arefVolts: number;
}

export interface ControllerInfo {
  name: string;
  describe: string;
  read: ControllerKind;
}

export interface SensorSpec {
  /** A sensor name of the core: temperature, humidity, adc, vdd. */
  sensor: string;
  /** johnny-five pin name, "A0" … */
  pin: string;
  /** Analog channel: 0 for A0. */
  channel: number;
  controller: ControllerInfo;
  /** The text as given, for messages. */
  text: string;
}

/** Arduino Mega has A0-A15, the most of the StandardFirmata boards. */
const MAX_ANALOG_CHANNEL = 15;

const thermometer = (name: string, describe: string): ControllerInfo => ({ name, describe, read: { kind: "thermometer", j5Controller: name } });
const analog = (name: string, describe: string, convert: (count: number, c: AdcConversion) => number): ControllerInfo => ({
  name,
  describe,
  read: { kind: "analog", convert },
});

/** Controllers per sensor name; the first is the default where a sensor has only one. */
export const CONTROLLERS: Record<string, readonly ControllerInfo[]> = {
  temperature: [
    thermometer("LM35", "LM35, 10 mV/°C from 0 °C (johnny-five reports whole °C)"),
    thermometer("TMP36", "TMP36, 10 mV/°C with 500 mV at 0 °C (whole °C)"),
    thermometer("LM335", "LM335, 10 mV/K (whole °C)"),
    thermometer("GROVE", "Grove temperature sensor (thermistor, B 3975)"),
    thermometer("TINKERKIT", "TinkerKit thermistor module (B 3950)"),
  ],
  humidity: [
    // Datasheet: Vout = Vsupply (0.0062 RH + 0.16) at 25 °C; ratiometric, so the ADC count alone gives RH.
    analog("HIH4030", "Honeywell HIH-4030/4031 on the same 5 V as the ADC reference, %RH at 25 °C", (count, c) => (count / c.resolution - 0.16) / 0.0062),
  ],
  adc: [analog("RAW", "the ADC count itself, 0-1023", (count) => count)],
  vdd: [analog("VOLTAGE", "volts at the pin: count × aref / 1023 (use a divider for more than aref)", (count, c) => (count * c.arefVolts) / c.resolution)],
};

const SENSOR_NAMES = Object.keys(SENSOR_UNITS);

function names(list: readonly ControllerInfo[]): string {
  return list.map((c) => c.name).join(", ");
}

/** One `--sensor` value: `temperature:A0:LM35`, `adc:A0` (controller optional where there is only one). */
export function parseSensorSpec(text: string): Parsed<SensorSpec> {
  const fail = (why: string): Parsed<SensorSpec> => ({ ok: false, error: `--sensor "${text}": ${why}` });
  const parts = text.trim().split(":");
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p.trim() === "")) {
    return fail("expected name:pin:controller, e.g. temperature:A0:LM35, humidity:A1:HIH4030 or adc:A2");
  }
  const sensor = parts[0].trim().toLowerCase();
  const controllers = CONTROLLERS[sensor];
  if (controllers === undefined || !SENSOR_NAMES.includes(sensor)) {
    return fail(`unknown sensor "${parts[0]}"; the node reports ${SENSOR_NAMES.join(", ")}`);
  }
  const pin = parts[1].trim().toUpperCase();
  const match = /^A(\d{1,2})$/.exec(pin);
  if (match === null || Number(match[1]) > MAX_ANALOG_CHANNEL) {
    return fail(`pin "${parts[1]}" is not an analog input; use A0-A${MAX_ANALOG_CHANNEL} (an Uno or Nano has A0-A5)`);
  }
  let controller: ControllerInfo | undefined;
  if (parts.length === 3) {
    const wanted = parts[2].trim().toUpperCase();
    controller = controllers.find((c) => c.name === wanted);
    if (controller === undefined) {
      return fail(`unknown ${sensor} controller "${parts[2]}"; use one of ${names(controllers)}`);
    }
  } else if (controllers.length === 1) {
    controller = controllers[0];
  } else {
    return fail(`say which ${sensor} sensor is wired: ${sensor}:${pin}:<controller>, one of ${names(controllers)}`);
  }
  return { ok: true, value: { sensor, pin, channel: Number(match[1]), controller, text } };
}

/** Every `--sensor`: at least one, each sensor name at most once. */
export function parseSensorSpecs(texts: readonly string[]): Parsed<SensorSpec[]> {
  if (texts.length === 0) {
    return { ok: false, error: "give at least one --sensor name:pin:controller, e.g. --sensor temperature:A0:LM35" };
  }
  const specs: SensorSpec[] = [];
  for (const text of texts) {
    const parsed = parseSensorSpec(text);
    if (!parsed.ok) {
      return parsed;
    }
    const twice = specs.find((s) => s.sensor === parsed.value.sensor);
    if (twice !== undefined) {
      return {
        ok: false,
        error: `--sensor ${parsed.value.sensor} is given twice ("${twice.text}" and "${text}"); a node reports one value per sensor name`,
      };
    }
    specs.push(parsed.value);
  }
  return { ok: true, value: specs };
}

/** The controller table for --help. */
export function describeControllers(): string {
  const lines: string[] = [];
  for (const sensor of SENSOR_NAMES) {
    const list = CONTROLLERS[sensor] ?? [];
    for (const c of list) {
      lines.push(`  ${sensor}:A<n>:${c.name}`.padEnd(30) + ` ${c.describe} [${SENSOR_UNITS[sensor]}]`);
    }
  }
  return lines.join("\n");
}
