// Failures of the block frontend, one class per way it can go wrong.
import type { BlkifRsp } from '../../ring-buffer/blkif.ts';

/** The backend answered a request with BLKIF_RSP_ERROR or BLKIF_RSP_EOPNOTSUPP. */
export class BlkfrontRequestError extends Error {
  constructor(readonly operation: string, readonly status: BlkifRsp | number) {
    super(`${operation} failed: backend status ${status}`);
    this.name = 'BlkfrontRequestError';
  }
}

/** The backend did not offer what the call needs (feature-flush-cache, feature-discard). */
export class BlkfrontUnsupportedError extends Error {
  constructor(readonly feature: string) {
    super(`the backend does not offer ${feature}`);
    this.name = 'BlkfrontUnsupportedError';
  }
}

/** The backend broke the protocol (unknown response id, bad xenstore value): the device is dead. */
export class BlkfrontProtocolError extends Error {
  constructor(why: string) {
    super(`blkif protocol violation: ${why}`);
    this.name = 'BlkfrontProtocolError';
  }
}

/** A request outside the disk, misaligned, or issued after close(). */
export class BlkfrontUsageError extends Error {
  constructor(why: string) {
    super(why);
    this.name = 'BlkfrontUsageError';
  }
}
