// One Error subclass per way a xenstore conversation can fail. Two families:
// - per request: the server answered XS_ERROR (XenstoreError), the caller asked for something that
//   cannot be sent (XenstoreArgumentError), a transaction kept conflicting (XenstoreTransactionConflictError);
//   the connection carries on.
// - fatal: the server broke the protocol (XenstoreProtocolError), lied about ring indices
//   (XenstoreRingIndexError), or the connection ended (XenstoreClosedError). The client latches the
//   first one, rejects every outstanding and later request with that same object, and never talks
//   to that server again: a server that sent one impossible message cannot be trusted with the next.

import { XSD_ERRORS, type XsdErrorName } from '../../ring-buffer/xs-wire.ts';

/**
 * The errno names xenstored sends in XS_ERROR replies (ring-buffer's XSD_ERRORS). A server may
 * know names we do not (newer xenstoreds add at the end), so XenstoreError.code is any E-name.
 */
export const XSD_ERROR_NAMES = XSD_ERRORS;
export type { XsdErrorName };
export type XsdErrorCode = XsdErrorName | `E${string}`;

/** The server refused a request: an XS_ERROR reply carrying `code` (e.g. 'ENOENT'). */
export class XenstoreError extends Error {
  override readonly name = 'XenstoreError';
  constructor(
    readonly code: XsdErrorCode,
    /** The request's message type, e.g. 'XS_READ'. */
    readonly op: string,
    /** The path the request named, when it named one. */
    readonly path: string | undefined,
  ) {
    super(`${op}${path === undefined ? '' : ` ${path}`}: ${code}`);
  }
}

/** Whether `e` is a XenstoreError with the given code. */
export function isXenstoreError(e: unknown, code?: XsdErrorCode): e is XenstoreError {
  return e instanceof XenstoreError && (code === undefined || e.code === code);
}

/** The caller asked for a request that must not be sent (a NUL in a path, a payload over 4096). */
export class XenstoreArgumentError extends Error {
  override readonly name = 'XenstoreArgumentError';
}

/** transaction() saw EAGAIN on every attempt it was allowed. */
export class XenstoreTransactionConflictError extends Error {
  override readonly name = 'XenstoreTransactionConflictError';
  constructor(readonly attempts: number) {
    super(`transaction still conflicted (EAGAIN) after ${attempts} attempts`);
  }
}

/** Fatal: the server sent a message no well-behaved xenstored sends. */
export class XenstoreProtocolError extends Error {
  override readonly name = 'XenstoreProtocolError';
}

/** Fatal: the server published ring indices that are impossible, or flagged the ring as broken. */
export class XenstoreRingIndexError extends Error {
  override readonly name = 'XenstoreRingIndexError';
}

/** Fatal: the connection is gone (closed by us, or the transport ended). */
export class XenstoreClosedError extends Error {
  override readonly name = 'XenstoreClosedError';
}

/** waitForState() saw none of the wanted states before its deadline. */
export class XenbusTimeoutError extends Error {
  override readonly name = 'XenbusTimeoutError';
  constructor(
    readonly path: string,
    readonly wanted: readonly string[],
    /** The last value read from the state node (raw), or null if it never existed. */
    readonly lastSeen: string | null,
    readonly timeoutMs: number,
  ) {
    super(`${path}/state: no ${wanted.join('|')} within ${timeoutMs} ms (last ${lastSeen === null ? 'absent' : JSON.stringify(lastSeen)})`);
  }
}

/** switchState() found no state node: the device directory is gone, and writing would recreate it. */
export class XenbusDeviceGoneError extends Error {
  override readonly name = 'XenbusDeviceGoneError';
  constructor(readonly path: string) {
    super(`${path}/state does not exist: the device was removed`);
  }
}
