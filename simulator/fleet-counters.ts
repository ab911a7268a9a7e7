/**
 * Counters of one fleet process, bumped by every node's platform. Plain
 * numbers on one shared object: cheaper than per-node counters at 19,000
 * nodes, and summed across worker processes by the parent.
 */
export class FleetCounters {
  /** Nodes whose MQTT session is up right now. */
  connected = 0;
  connectAttempts = 0;
  connects = 0;
  connectFailures = 0;
  /** Established sessions that were lost. */
  disconnects = 0;
  /** Readings handed to the broker, including resends after a lost session. */
  published = 0;
  /** Readings the broker acknowledged (PUBACK; for QoS 0: written out). */
  acked = 0;
  configApplied = 0;
  configRejected = 0;
  /** Nodes stopped by an exception in their own code path (issue 15): the rest run on. */
  faulted = 0;
}

/** What the live view and the bench read: counters plus gauges sampled from the nodes. */
export interface FleetSnapshot {
  /** Nodes started so far (connects are paced). */
  started: number;
  /** Nodes this process (or all workers) will run. */
  total: number;
  connected: number;
  connectAttempts: number;
  connects: number;
  connectFailures: number;
  disconnects: number;
  published: number;
  acked: number;
  configApplied: number;
  configRejected: number;
  /** Readings waiting in the nodes' offline buffers. */
  buffered: number;
  /** Readings the nodes dropped since boot because their buffer was full. */
  dropped: number;
  /** Node files (config, boot counter) that could not be written. */
  storageErrors: number;
  /** Nodes stopped by an exception in their own code path, or whose worker process stayed down. */
  faulted: number;
  /** Worker processes restarted after they died (--workers). */
  workerRestarts: number;
}

export function emptySnapshot(total: number): FleetSnapshot {
  return {
    started: 0,
    total,
    connected: 0,
    connectAttempts: 0,
    connects: 0,
    connectFailures: 0,
    disconnects: 0,
    published: 0,
    acked: 0,
    configApplied: 0,
    configRejected: 0,
    buffered: 0,
    dropped: 0,
    storageErrors: 0,
    faulted: 0,
    workerRestarts: 0,
  };
}

/** Sum of snapshots (one per worker process). */
export function addSnapshots(snapshots: FleetSnapshot[], total: number): FleetSnapshot {
  const sum = emptySnapshot(total);
  for (const s of snapshots) {
    for (const key of Object.keys(sum) as (keyof FleetSnapshot)[]) {
      if (key !== "total") {
        sum[key] += s[key];
      }
    }
  }
  return sum;
}
