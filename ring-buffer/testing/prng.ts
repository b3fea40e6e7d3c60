// A seedable PRNG for the ring-buffer specs' randomised checks: the same sequence on every
// machine, so a failure names its seed.

/** mulberry32: small, seedable, good enough to spread states around. Returns uint32 values. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}
