/** IPC between scripts/bench-fleet.ts and its measured child processes. */
export interface BenchChildSettings {
  mode: "baseline" | "simulator";
  nodes: number;
  port: number;
  /** Topic prefix of this side's nodes (each side its own: a fan-out reaches one side). */
  prefix: string;
  intervalMs: number;
  connectRate: number;
  /** The reading the bare clients publish (a simulator reading of the same sensors). */
  payload: string;
  /** Where the simulator's node folders go (`--state-dir`); undefined: tmpfs when there is one. */
  stateParent?: string;
}

export type ToBenchChild = { type: "measure"; ms: number } | { type: "stop" };

export type FromBenchChild =
  | { type: "connected"; connectMs: number }
  | { type: "window"; msgs: number; seconds: number; cpuUs: number; rssBefore: number; rss: number; heapBefore: number; heap: number; connected: number }
  | { type: "stopped" };
