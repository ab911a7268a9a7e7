/**
 * What the virtual device's sensors read: a DHT (temperature, humidity), the
 * ADC and the supply voltage. dht.read() is synchronous on the device, so the
 * host samples this model and mirrors the values into Lua at each entry.
 *
 * The default model is deliberately simple (a slow daily swing plus a little
 * noise, deterministic per seed); anything with `sample()` can replace it,
 * e.g. an adapter over the simulator's sensor models.
 */

export interface SensorSnapshot {
  /** °C */
  temperature: number;
  /** %RH */
  humidity: number;
  /** dht.OK (0), dht.ERROR_CHECKSUM (-1) or dht.ERROR_TIMEOUT (-2). */
  dhtStatus: number;
  /** adc.read(0): 0..1024 */
  adc: number;
  /** adc.readvdd33(): millivolts (only read in VDD33 mode). */
  vddMv: number;
}

export interface SensorSource {
  sample(uptimeMs: number): SensorSnapshot;
}

const DAY_MS = 86_400_000;

/** mulberry32: a tiny seeded PRNG, enough for sensor noise. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class SimpleSensors implements SensorSource {
  private readonly random: () => number;
  private readonly base: { temperature: number; humidity: number; adc: number };
  /** Values fixed by a test or the host (override the model while set). */
  readonly overrides: Partial<SensorSnapshot> = {};

  constructor(seed: number) {
    this.random = prng(seed);
    this.base = { temperature: 19 + this.random() * 5, humidity: 40 + this.random() * 15, adc: 300 + this.random() * 300 };
  }

  sample(uptimeMs: number): SensorSnapshot {
    const phase = Math.sin((2 * Math.PI * uptimeMs) / DAY_MS);
    const noise = (scale: number): number => (this.random() - 0.5) * 2 * scale;
    const round = (v: number, digits: number): number => Math.round(v * 10 ** digits) / 10 ** digits;
    return {
      temperature: round(this.base.temperature + 2 * phase + noise(0.1), 1),
      humidity: round(Math.min(100, Math.max(0, this.base.humidity - 5 * phase + noise(0.5))), 1),
      dhtStatus: 0,
      adc: Math.round(Math.min(1024, Math.max(0, this.base.adc + 100 * phase + noise(3)))),
      vddMv: Math.round(3300 + noise(10)),
      ...this.overrides,
    };
  }
}

/** The snapshot as the Lua side parses it: "t|h|status|adc|vdd". */
export function encodeSnapshot(s: SensorSnapshot): string {
  return `${s.temperature}|${s.humidity}|${s.dhtStatus}|${s.adc}|${s.vddMv}`;
}
