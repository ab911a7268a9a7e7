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

/**
 * Slots of one channel's state in a node's row of a ChannelSlab. "No value"
 * is NaN (a sensor's value is never NaN: the model clamps it to its range).
 */
const LEVEL = 0;
const AMPLITUDE = 1;
/** Milliseconds of model time since boot. */
const CLOCK_MS = 2;
const WALK = 3;
/** Pending injected faults, consumed read by read. */
const THROW_READS = 4;
const FAIL_READS = 5;
const STUCK_READS_LEFT = 6;
const SPIKE_READS = 7;
/** The value a stuck sensor repeats (NaN: none, the sensor never answered before the fault). */
const STUCK_VALUE = 8;
/** Last value returned (NaN until the first), so a stuck sensor repeats what it last said. */
const LAST = 9;
const SLOTS_PER_CHANNEL = 10;
/** A node's row: its four channels in SIMULATED_SENSORS order, then the supply's drain per hour. */
const DRAIN = SIMULATED_SENSORS.length * SLOTS_PER_CHANNEL;
const ROW = DRAIN + 1;

/**
 * The numbers of many nodes' sensor models in one Float64Array: the model
 * changes them at every read, and as fields of small objects (one Channel
 * object per sensor) each double lived in a heap number of its own (a field
 * with a double is boxed in V8 with pointer compression): 4 × 128 B of
 * objects plus ~20 boxes, ~0.8 KB per node, that every young collection
 * had to visit (issue 14). Here a node costs its row, 41 × 8 B. Rows are
 * handed out from slabs of a fixed size; a slab is freed with the last
 * model that uses it (tests make models by the thousand).
 */
const ROWS_PER_SLAB = 256;
let slab = new Float64Array(ROWS_PER_SLAB * ROW);
let slabRows = 0;

function takeRow(): { cells: Float64Array; base: number } {
  if (slabRows === ROWS_PER_SLAB) {
    slab = new Float64Array(ROWS_PER_SLAB * ROW);
    slabRows = 0;
  }
  return { cells: slab, base: ROW * slabRows++ };
}

/** Index of a sensor's channel in SIMULATED_SENSORS and SHAPE_LIST, or -1. */
function channelIndex(name: string): number {
  switch (name) {
    case "temperature":
      return 0;
    case "humidity":
      return 1;
    case "adc":
      return 2;
    case "vdd":
      return 3;
    default:
      return -1;
  }
}

const SHAPE_LIST: readonly ChannelShape[] = SIMULATED_SENSORS.map((name) => SHAPES[name]);
/** The supply's channel: no daily cycle, a drain. */
const VDD = channelIndex("vdd");

/** Where the model learns the node's current sampling interval (the node's live config). */
export interface IntervalSource {
  intervalMs(): number;
}

export class SensorModel {
  /** The slab holding this node's row of channel state, and where the row starts. */
  private readonly cells: Float64Array;
  private readonly base: number;
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
    const row = takeRow();
    this.cells = row.cells;
    this.base = row.base;
    // Drawn in the order the Channel objects of earlier versions drew them: a seed reads as it always did.
    for (let i = 0; i < SHAPE_LIST.length; i++) {
      const at = this.base + i * SLOTS_PER_CHANNEL;
      const shape = SHAPE_LIST[i];
      this.cells[at + LEVEL] = p.between(shape.level[0], shape.level[1]);
      this.cells[at + AMPLITUDE] = p.between(shape.dailyAmplitude[0], shape.dailyAmplitude[1]);
      this.cells[at + STUCK_VALUE] = Number.NaN;
      this.cells[at + LAST] = Number.NaN;
    }
    this.cells[this.base + DRAIN] = p.between(VDD_DRAIN_V_PER_HOUR[0], VDD_DRAIN_V_PER_HOUR[1]);
  }

  /**
   * Make the next `reads` reads of `sensor` fail, repeat the last value, or
   * spike. Used by tests and fault drills; adds to faults already pending.
   */
  inject(sensor: SensorName, kind: FaultKind, reads: number): void {
    const index = channelIndex(sensor);
    if (index < 0) {
      // (Typed as a SensorName, but a caller may pass any text: the row of another node must stay untouched.)
      throw new Error(`no simulated sensor named "${String(sensor)}"`);
    }
    const at = this.base + index * SLOTS_PER_CHANNEL;
    const cells = this.cells;
    if (kind === "throw") {
      cells[at + THROW_READS] += reads;
    } else if (kind === "fail") {
      cells[at + FAIL_READS] += reads;
    } else if (kind === "stuck") {
      cells[at + STUCK_READS_LEFT] += reads;
      cells[at + STUCK_VALUE] = cells[at + LAST];
    } else {
      cells[at + SPIKE_READS] += reads;
    }
  }

  /** One read: the value in the sensor's unit, or why it failed (Platform.readSensor). */
  read(name: string): SensorRead {
    // A switch on the known names: `name` comes from the wire, and a lookup in a plain object answers for `constructor`, `toString`... (issue 15).
    const index = channelIndex(name);
    if (index < 0) {
      return `no simulated sensor named "${name}"; the simulator has ${SIMULATED_SENSORS.join(", ")}`;
    }
    const cells = this.cells;
    const at = this.base + index * SLOTS_PER_CHANNEL;
    const shape = SHAPE_LIST[index];
    const dt = Math.max(0, this.interval.intervalMs());
    cells[at + CLOCK_MS] += dt;
    this.stepWalk(at, shape, dt);
    this.rollFaults(at);
    if (cells[at + THROW_READS] > 0) {
      cells[at + THROW_READS]--;
      throw new SimulatedSensorException(name);
    }
    if (cells[at + FAIL_READS] > 0) {
      cells[at + FAIL_READS]--;
      return "simulated read failure: sensor did not answer (timeout)";
    }
    const stuck = cells[at + STUCK_VALUE];
    if (cells[at + STUCK_READS_LEFT] > 0 && !Number.isNaN(stuck)) {
      cells[at + STUCK_READS_LEFT]--;
      return stuck;
    }
    cells[at + STUCK_READS_LEFT] = 0;
    let value = this.trueValue(index, at, shape) + shape.noise * this.prng.normal();
    if (cells[at + SPIKE_READS] > 0) {
      cells[at + SPIKE_READS]--;
      value += shape.spike;
    }
    value = clamp(value, shape.range);
    if (shape.integer) {
      value = Math.round(value);
    }
    cells[at + LAST] = value;
    return value;
  }

  /** Ornstein-Uhlenbeck step: wanders, but is pulled back towards the cycle. */
  private stepWalk(at: number, shape: ChannelShape, dtMs: number): void {
    const minutes = dtMs / 60_000;
    const pull = Math.min(1, minutes / shape.walkTauMin);
    const walk = this.cells[at + WALK];
    this.cells[at + WALK] = walk + (-walk * pull + shape.walkSigma * Math.sqrt(minutes) * this.prng.normal());
  }

  /** Random faults start with the configured probability per read (one draw each, in a fixed order). */
  private rollFaults(at: number): void {
    const rates = this.faults;
    const p = this.prng;
    const cells = this.cells;
    if (rates.fail > 0 && p.chance(rates.fail)) {
      cells[at + FAIL_READS]++;
    }
    if (rates.stuck > 0 && p.chance(rates.stuck) && cells[at + STUCK_READS_LEFT] === 0 && !Number.isNaN(cells[at + LAST])) {
      cells[at + STUCK_READS_LEFT] = Math.floor(p.between(STUCK_READS[0], STUCK_READS[1] + 1));
      cells[at + STUCK_VALUE] = cells[at + LAST];
    }
    if (rates.spike > 0 && p.chance(rates.spike)) {
      cells[at + SPIKE_READS]++;
    }
    // Drawn last and only when asked for, so a seed without `throw` reads as it always did.
    if (rates.throw > 0 && p.chance(rates.throw)) {
      cells[at + THROW_READS]++;
    }
  }

  private trueValue(index: number, at: number, shape: ChannelShape): number {
    const cells = this.cells;
    const clockMs = cells[at + CLOCK_MS];
    const hours = clockMs / HOUR_MS;
    if (index === VDD) {
      return cells[at + LEVEL] - cells[this.base + DRAIN] * hours + cells[at + WALK];
    }
    const dayPosition = ((this.dayStartMs + clockMs) % DAY_MS) / DAY_MS;
    const cycle = Math.cos(2 * Math.PI * (dayPosition - shape.peakHour / 24));
    return cells[at + LEVEL] + cells[at + AMPLITUDE] * cycle + cells[at + WALK];
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
