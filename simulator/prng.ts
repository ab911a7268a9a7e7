/**
 * Seeded pseudo-random numbers, so `--seed` makes a run reproducible.
 * Each node gets its own stream derived from (fleet seed, node number), so a
 * node's readings do not depend on how the fleet is split into shards or
 * workers, nor on the order in which nodes happen to be scheduled.
 */

/** One step of splitmix32: spreads related inputs (seed, seed+1, ...) apart. */
function splitmix32(state: number): number {
  let z = (state + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** sfc32: small state, fast, and good enough for simulated sensors and jitter. */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  /**
   * Second normal deviate of the last Box-Muller pair, when `hasSpare`. A
   * number field with a flag: V8 updates it in place, where a field that may
   * hold undefined would get a new heap number at each pair.
   */
  private spare = 0;
  private hasSpare = false;

  constructor(seed: number, stream = 0) {
    const base = splitmix32((seed >>> 0) ^ Math.imul(stream >>> 0, 0x27d4eb2d));
    this.a = splitmix32(base);
    this.b = splitmix32(this.a);
    this.c = splitmix32(this.b);
    this.d = 1;
    // Discard the first outputs: sfc32 needs a few rounds to mix a fresh state.
    for (let i = 0; i < 12; i++) {
      this.next();
    }
  }

  /** Uniform in [0, 1). */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  /** Uniform in [min, max). */
  between(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  /** Standard normal deviate (Box-Muller). */
  normal(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    let u = 0;
    while (u === 0) {
      u = this.next();
    }
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    this.hasSpare = true;
    return r * Math.cos(2 * Math.PI * v);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return p > 0 && this.next() < p;
  }
}

/** A fresh 32-bit seed for runs that did not ask for one (printed, so they can be repeated). */
export function randomSeed(): number {
  return Math.floor(Math.random() * 4294967296) >>> 0;
}
