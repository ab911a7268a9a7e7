/** Messages between `espfleet run --workers N` and its worker processes (IPC, JSON). */
import type { LogLevel } from "../firmware/core/platform";
import type { FleetSnapshot } from "./fleet-counters";
import type { FleetOptions } from "./fleet";

/** FleetOptions that survive JSON: no callbacks, the CA and client certificate as base64. */
export type WorkerFleetOptions = Omit<FleetOptions, "log" | "broker"> & {
  broker: Omit<FleetOptions["broker"], "ca" | "cert" | "key"> & { caBase64?: string; certBase64?: string; keyBase64?: string };
  logLevel: LogLevel;
  verbose: boolean;
};

export type ToWorker = { type: "start"; options: WorkerFleetOptions } | { type: "stop" };

export type FromWorker =
  | { type: "started"; keptStored: number }
  | { type: "snapshot"; snapshot: FleetSnapshot }
  | { type: "line"; line: string }
  | { type: "stopped"; snapshot: FleetSnapshot }
  | { type: "failed"; message: string };
