/**
 * A seeded PRNG (mulberry32): the same seed gives the same kill times, post kinds and batch sizes,
 * so a failing round can be run again. Timing on a real machine still varies; the choices do not.
 */
export interface Prng {
  /** In [0, 1). */
  next(): number;
  /** An integer in [min, max]. */
  int(min: number, max: number): number;
  chance(probability: number): boolean;
}

export function createPrng(seed: number): Prng {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    chance: (probability) => next() < probability,
  };
}

/** Each round's own seed, so round k makes the same choices however many posts rounds before it made. */
export function roundSeed(seed: number, round: number): number {
  return createPrng((seed ^ Math.imul(round + 1, 0x9e3779b1)) >>> 0).int(0, 0x7fff_ffff);
}
