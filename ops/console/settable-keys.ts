/**
 * The config keys a `config_change` may set, from the node's own schema
 * (firmware/core/config.ts), for the page's form: kind, bounds, unit and
 * default of each. The page shows them; the server checks every value with
 * the node's code before anything is sent (config-changes.ts).
 */
import { defaultConfig, Kind, schema, SENSOR_UNITS } from "../../firmware/core/config";

export interface SettableKey {
  key: string;
  kind: "integer" | "decimal" | "text" | "flag" | "sensors" | "template";
  min: number;
  max: number;
  unit: string;
  default: unknown;
}

function kindName(kind: Kind): SettableKey["kind"] {
  switch (kind) {
    case Kind.Integer:
      return "integer";
    case Kind.Decimal:
      return "decimal";
    case Kind.Text:
      return "text";
    case Kind.Flag:
      return "flag";
    case Kind.Sensors:
      return "sensors";
    default:
      return "template";
  }
}

export function settableKeys(): SettableKey[] {
  const defaults = defaultConfig() as unknown as Record<string, unknown>;
  return schema()
    .filter((spec) => spec[5])
    .map((spec) => ({ key: spec[0], kind: kindName(spec[1]), min: spec[2], max: spec[3], unit: spec[4], default: defaults[spec[0]] }));
}

/** Sensor names a node may enable, with the unit of each reading. */
export function sensorUnits(): Record<string, string> {
  return { ...SENSOR_UNITS };
}
