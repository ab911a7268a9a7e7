/**
 * Simulated sensors of one node: temperature and humidity of a room on a
 * daily cycle plus a random walk, a light-dependent ADC, a supply voltage
 * that drains, measurement noise, and faults (failed reads, stuck values,
 * spikes) either at random or injected by a test.
 *
 * Every value is a function of the seed and the sequence of reads: the node
 * has its own PRNG stream for its sensors, and each sensor has its own model
 * clock, which advances by the node's sampling interval at each read. Timer
 * jitter therefore never changes a value, and `--seed` reproduces a run read
 * for read.
 */
import type { SensorRead } from "../firmware/core/platform";
import { Prng } from "./prng";

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

export const SIMULATED_SENSORS = ["temperature", "humidity", "adc", "vdd"] as const;
export type SensorName = (typeof SIMULATED_SENSORS)[number];

export type FaultKind = "fail" | "stuck" | "spike" | "throw";

/** Probability per read of starting each kind of fault (0 = never). */
export interface FaultRates {
  fail: number;
  stuck: number;
  spike: number;
  /**
   * The sensor model throws an exception instead of answering: a drill of
   * fault isolation (issue 15). The node it happens to is marked faulted and
   * stops; the rest of the fleet and the broker run on.
   */
  throw: number;
}

export const NO_FAULTS: FaultRates = { fail: 0, stuck: 0, spike: 0, throw: 0 };

/** What --faults asks for: rates for every node, and per-node rates for the nodes named with `@<node-id>`. */
export interface FaultPlan {
  all: FaultRates;
  /** node id -> that node's rates (the fleet-wide ones, with the kinds named for it replaced). */
  nodes: Record<string, FaultRates>;
}

/** The exception a `throw` fault raises (tests look for it). */
export class SimulatedSensorException extends Error {
  constructor(sensor: string) {
    super(`simulated exception in the sensor model reading ${sensor} (--faults throw)`);
    this.name = "SimulatedSensorException";
  }
}

/** How one sensor behaves; the numbers are in the sensor's own unit. */
interface ChannelShape {
  /** Per-node level is drawn from [min, max]. */
  level: [number, number];
  /** Amplitude of the daily cycle, drawn from [min, max]. */
  dailyAmplitude: [number, number];
  /** Hour of the daily maximum. */
  peakHour: number;
  /** Random-walk step size per sqrt(minute) and its pull-back time in minutes. */
  walkSigma: number;
  walkTauMin: number;
  /** Standard deviation of the per-read noise. */
  noise: number;
  /** Size of a spike (added or subtracted). */
  spike: number;
  /** Physical limits of the sensor. */
  range: [number, number];
  /** Whole numbers only (ADC counts). */
  integer: boolean;
}

const SHAPES: Record<SensorName, ChannelShape> = {
  temperature: {
    level: [18, 24],
    dailyAmplitude: [1.5, 4],
    peakHour: 15,
    walkSigma: 0.08,
    walkTauMin: 90,
    noise: 0.05,
    spike: 25,
    range: [-40, 80],
    integer: false,
  },
  humidity: {
    level: [35, 60],
    dailyAmplitude: [4, 10],
    // Relative humidity falls as a room warms: its peak is opposite the temperature's.
    peakHour: 3,
    walkSigma: 0.3,
    walkTauMin: 90,
    noise: 0.2,
    spike: 40,
    range: [0, 100],
    integer: false,
  },
  adc: {
    level: [300, 600],
    dailyAmplitude: [150, 350],
    peakHour: 13,
    walkSigma: 6,
    walkTauMin: 30,
    noise: 3,
    spike: 500,
    range: [0, 1024],
    integer: true,
  },
  vdd: {
    level: [3.28, 3.34],
    dailyAmplitude: [0, 0],
    peakHour: 0,
    walkSigma: 0.001,
    walkTauMin: 10,
    noise: 0.004,
    spike: -0.6,
    range: [2.4, 3.6],
    integer: false,
  },
};

/** Supply drain in volts per hour, drawn per node (a weakening battery or regulator). */
const VDD_DRAIN_V_PER_HOUR: [number, number] = [0.002, 0.02];
/** A stuck sensor repeats its value for this many reads. */
const STUCK_READS: [number, number] = [5, 50];

class Channel {
  readonly level: number;
  readonly amplitude: number;
  /** Milliseconds of model time since boot. */
  clockMs = 0;
  walk = 0;
  /** Pending injected faults, consumed read by read. */
  throwReads = 0;
  failReads = 0;
  stuckReads = 0;
  spikeReads = 0;
  /**
   * The value a stuck sensor repeats, when `hasStuckValue`. A number field
   * with a flag, not `number | undefined`: V8 then updates the number in
   * place, where a field that may hold undefined gets a new heap number at
   * each read (kept by this long-lived object, so copied by every young
   * collection until promoted: four per reading per node; issue 14).
   */
  stuckValue = 0;
  hasStuckValue = false;
  /** Last value returned (when `hasLast`), so a stuck sensor repeats what it last said. */
  last = 0;
  hasLast = false;

  constructor(
    readonly shape: ChannelShape,
    prng: Prng,
  ) {
    this.level = prng.between(shape.level[0], shape.level[1]);
    this.amplitude = prng.between(shape.dailyAmplitude[0], shape.dailyAmplitude[1]);
  }
}

/** Where the model learns the node's current sampling interval (the node's live config). */
export interface IntervalSource {
  intervalMs(): number;
}

export class SensorModel {
  private readonly channels: Record<SensorName, Channel>;
  private readonly drainPerHour: number;
  /** One stream for every draw of this node's sensors (levels, walks, noise, faults). */
  private readonly prng: Prng;

  /**
   * @param seed fleet seed
   * @param nodeNumber 1-based node number (node-0001 is 1): selects the node's PRNG stream
   * @param dayStartMs time of day (ms after midnight) at which the model clock starts
   * @param faults random fault rates
   * @param interval how far the model clock moves per read
   */
  constructor(
    seed: number,
    nodeNumber: number,
    private readonly dayStartMs: number,
    private readonly faults: FaultRates,
    private readonly interval: IntervalSource,
  ) {
    // Stream 2n+1: sensors; stream 2n is the node's reconnect-jitter PRNG (see fleet.ts).
    this.prng = new Prng(seed, nodeNumber * 2 + 1);
    const p = this.prng;
    this.channels = {
      temperature: new Channel(SHAPES.temperature, p),
      humidity: new Channel(SHAPES.humidity, p),
      adc: new Channel(SHAPES.adc, p),
      vdd: new Channel(SHAPES.vdd, p),
    };
    this.drainPerHour = p.between(VDD_DRAIN_V_PER_HOUR[0], VDD_DRAIN_V_PER_HOUR[1]);
  }

  /**
   * Make the next `reads` reads of `sensor` fail, repeat the last value, or
   * spike. Used by tests and fault drills; adds to faults already pending.
   */
  inject(sensor: SensorName, kind: FaultKind, reads: number): void {
    const channel = this.channels[sensor];
    if (kind === "throw") {
      channel.throwReads += reads;
    } else if (kind === "fail") {
      channel.failReads += reads;
    } else if (kind === "stuck") {
      channel.stuckReads += reads;
      channel.stuckValue = channel.last;
      channel.hasStuckValue = channel.hasLast;
    } else {
      channel.spikeReads += reads;
    }
  }

  /** One read: the value in the sensor's unit, or why it failed (Platform.readSensor). */
  read(name: string): SensorRead {
    // Own properties only: `name` comes from the wire, and a plain object answers for `constructor`, `toString`... (issue 15).
    const channel = Object.prototype.hasOwnProperty.call(this.channels, name) ? this.channels[name as SensorName] : undefined;
    if (channel === undefined) {
      return `no simulated sensor named "${name}"; the simulator has ${SIMULATED_SENSORS.join(", ")}`;
    }
    const dt = Math.max(0, this.interval.intervalMs());
    channel.clockMs += dt;
    this.stepWalk(channel, dt);
    this.rollFaults(channel);
    if (channel.throwReads > 0) {
      channel.throwReads--;
      throw new SimulatedSensorException(name);
    }
    if (channel.failReads > 0) {
      channel.failReads--;
      return "simulated read failure: sensor did not answer (timeout)";
    }
    if (channel.stuckReads > 0 && channel.hasStuckValue) {
      channel.stuckReads--;
      return channel.stuckValue;
    }
    channel.stuckReads = 0;
    let value = this.trueValue(name as SensorName, channel) + channel.shape.noise * this.prng.normal();
    if (channel.spikeReads > 0) {
      channel.spikeReads--;
      value += channel.shape.spike;
    }
    value = clamp(value, channel.shape.range);
    if (channel.shape.integer) {
      value = Math.round(value);
    }
    channel.last = value;
    channel.hasLast = true;
    return value;
  }

  /** Ornstein-Uhlenbeck step: wanders, but is pulled back towards the cycle. */
  private stepWalk(channel: Channel, dtMs: number): void {
    const minutes = dtMs / 60_000;
    const pull = Math.min(1, minutes / channel.shape.walkTauMin);
    channel.walk += -channel.walk * pull + channel.shape.walkSigma * Math.sqrt(minutes) * this.prng.normal();
  }

  /** Random faults start with the configured probability per read (one draw each, in a fixed order). */
  private rollFaults(channel: Channel): void {
    const rates = this.faults;
    const p = this.prng;
    if (rates.fail > 0 && p.chance(rates.fail)) {
      channel.failReads++;
    }
    if (rates.stuck > 0 && p.chance(rates.stuck) && channel.stuckReads === 0 && channel.hasLast) {
      channel.stuckReads = Math.floor(p.between(STUCK_READS[0], STUCK_READS[1] + 1));
      channel.stuckValue = channel.last;
      channel.hasStuckValue = true;
    }
    if (rates.spike > 0 && p.chance(rates.spike)) {
      channel.spikeReads++;
    }
    // Drawn last and only when asked for, so a seed without `throw` reads as it always did.
    if (rates.throw > 0 && p.chance(rates.throw)) {
      channel.throwReads++;
    }
  }

  private trueValue(name: SensorName, channel: Channel): number {
    const hours = channel.clockMs / HOUR_MS;
    if (name === "vdd") {
      return channel.level - this.drainPerHour * hours + channel.walk;
    }
    const dayPosition = ((this.dayStartMs + channel.clockMs) % DAY_MS) / DAY_MS;
    const cycle = Math.cos(2 * Math.PI * (dayPosition - channel.shape.peakHour / 24));
    return channel.level + channel.amplitude * cycle + channel.walk;
  }
}

function clamp(value: number, [min, max]: [number, number]): number {
  return value < min ? min : value > max ? max : value;
}

/**
 * "fail=0.01,stuck=0.001,spike=0.002" -> rates; each is a probability per read.
 * Returns an error text for anything else (node-scoped items are refused here: see parseFaultPlan).
 */
export function parseFaultRates(text: string): FaultRates | string {
  const plan = parseFaultPlan(text);
  if (typeof plan === "string") {
    return plan;
  }
  const scoped = Object.keys(plan.nodes);
  if (scoped.length > 0) {
    return `"@${scoped[0]}" names a node; only fleet-wide rates are accepted here`;
  }
  return plan.all;
}

/**
 * `--faults`: comma-separated `kind=p` items, p a probability per read (0 to
 * 1), kind fail, stuck, spike or throw; `kind=p@node-0003` applies to that
 * node only. Each kind may be given once per scope. Returns an error text
 * for anything else.
 */
export function parseFaultPlan(text: string): FaultPlan | string {
  const all: FaultRates = { ...NO_FAULTS };
  // No prototype: node names come from the command line ("__proto__" must be just a name).
  const plan: FaultPlan = { all, nodes: Object.create(null) as Record<string, FaultRates> };
  if (text.trim() === "" || text.trim() === "none") {
    return plan;
  }
  const seen = new Set<string>();
  const scoped: [string, FaultKind, number][] = [];
  for (const part of text.split(",")) {
    const match = /^\s*(fail|stuck|spike|throw)\s*[=:]\s*(\d*\.?\d+)\s*(?:@\s*([A-Za-z0-9._-]+)\s*)?$/.exec(part);
    if (match === null || Number(match[2]) > 1) {
      return `"${part.trim()}" is not a fault rate; use e.g. fail=0.01,stuck=0.001,spike=0.002,throw=0.0001 (probability per read, 0 to 1; kind=p@node-0003 for one node)`;
    }
    const kind = match[1] as FaultKind;
    const node = match[3];
    const key = `${kind}@${node ?? ""}`;
    if (seen.has(key)) {
      return `${kind} is given twice${node !== undefined ? ` for ${node}` : ""}; give each kind once (e.g. fail=0.1,stuck=0.01)`;
    }
    seen.add(key);
    if (node === undefined) {
      all[kind] = Number(match[2]);
    } else {
      scoped.push([node, kind, Number(match[2])]);
    }
  }
  // Fleet-wide rates first, whatever the order of the items; a node's own items replace them.
  for (const [node, kind, rate] of scoped) {
    plan.nodes[node] ??= { ...all };
    plan.nodes[node][kind] = rate;
  }
  return plan;
}

/** The rates of one node under a plan. */
export function faultRatesFor(plan: FaultPlan, nodeId: string): FaultRates {
  return Object.prototype.hasOwnProperty.call(plan.nodes, nodeId) ? plan.nodes[nodeId] : plan.all;
}
