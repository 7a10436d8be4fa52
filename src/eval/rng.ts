/**
 * A small seeded PRNG (mulberry32): the bootstrap must give the same intervals for the same seed on every
 * machine, which Math.random cannot promise.
 */
export class Mulberry32 {
  private a: number;
  constructor(seed: number) {
    this.a = seed >>> 0;
  }
  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number {
    this.a = (this.a + 0x6d2b79f5) | 0;
    let t = Math.imul(this.a ^ (this.a >>> 15), this.a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }
  /** Uniform integer in [0, m) (m < 2^21 keeps the product exact). */
  index(m: number): number {
    return Math.floor((this.nextUint32() * m) / 4294967296);
  }
}

/** Convenience: a () => number in [0, 1). */
export function mulberry32(seed: number): () => number {
  const r = new Mulberry32(seed);
  return () => r.next();
}
