// One Error subclass per way a ring can fail. Two families:
// - the peer broke the protocol (an impossible shared index): RingOverflowError and
//   ByteRingOverflowError. These are latched by the ring that saw them: a peer that lied once is
//   not trusted again, so every later call on that ring throws the same error object.
// - the local caller misused the ring (put on a full ring, take from an empty one, a view that
//   cannot hold a ring): RingFullError, RingEmptyError, RingLayoutError. These are bugs on our
//   side and are not latched.

/** Which shared producer index was found impossible. */
export type RingIndexName = 'req_prod' | 'rsp_prod';

/**
 * The peer published a producer index that no well-behaved peer can publish. The legitimate
 * values form a window of free-running indices [min, max] computed from our private indices:
 * - req_prod, seen by the back end: from req_cons (a producer never goes back past what was
 *   consumed) to rsp_prod_pvt + RING_SIZE (RING_REQUEST_PROD_OVERFLOW: no more requests than
 *   the ring holds);
 * - rsp_prod, seen by the front end: from rsp_cons to the last req_prod we pushed (no more
 *   responses than requests outstanding; tighter than RING_RESPONSE_PROD_OVERFLOW's RING_SIZE).
 */
export class RingOverflowError extends Error {
  override readonly name = 'RingOverflowError';
  constructor(
    /** The shared index that was read. */
    readonly index: RingIndexName,
    /** The value read from shared memory (uint32). */
    readonly observed: number,
    /** Lowest legitimate value (uint32, free-running). */
    readonly min: number,
    /** Highest legitimate value (uint32, free-running; may have wrapped below min). */
    readonly max: number,
    /** RING_SIZE of the ring. */
    readonly ringSize: number,
  ) {
    super(
      `shared ${index}=${observed} is impossible: a well-behaved peer publishes ${min}..${max} ` +
        `(free-running uint32, ring size ${ringSize})`,
    );
  }
}

/** A byte ring whose shared indices claim more bytes in flight than the ring holds. */
export class ByteRingOverflowError extends Error {
  override readonly name = 'ByteRingOverflowError';
  constructor(
    /** Which ring, e.g. 'xencons.out' or 'xenstore.req'. */
    readonly ring: string,
    readonly cons: number,
    readonly prod: number,
    readonly ringSize: number,
  ) {
    super(
      `${ring}: prod=${prod} cons=${cons} puts ${(prod - cons) >>> 0} bytes in flight, ` +
        `more than the ring's ${ringSize}`,
    );
  }
}

/** The caller tried to produce into a ring that has no free slot on its side. */
export class RingFullError extends Error {
  override readonly name = 'RingFullError';
  constructor(readonly side: 'front' | 'back', detail: string) {
    super(`${side} ring: ${detail}`);
  }
}

/** The caller tried to consume when nothing is there. */
export class RingEmptyError extends Error {
  override readonly name = 'RingEmptyError';
  constructor(readonly side: 'front' | 'back', detail: string) {
    super(`${side} ring: ${detail}`);
  }
}

/** A memory view or entry size that cannot hold the ring it is asked to hold. */
export class RingLayoutError extends Error {
  override readonly name = 'RingLayoutError';
}
