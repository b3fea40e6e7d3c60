// Per-domain limits, with C xenstored's defaults (tools/xenstored/domain.c). Each value is the
// largest amount allowed: a domain may own `nodes` nodes, and the request that would make it
// `nodes + 1` is refused. They bind unprivileged callers only; 0 disables a limit, as in
// xenstored.
import { XENSTORE_LIMITS } from '../../ring-buffer/xs-wire.ts';

export interface XenstoreQuotas {
  /** Nodes a domain may own. Over it: ENOSPC. */
  readonly nodes: number;
  /** Bytes of one node: its value plus its children's names (nul-terminated). Over it: ENOSPC. */
  readonly nodeSize: number;
  /** Watches per connection. Over it: E2BIG. */
  readonly watches: number;
  /** Open transactions per connection. Over it: ENOSPC. */
  readonly transactions: number;
  /** Distinct nodes one transaction may touch. Over it: ENOSPC. */
  readonly transactionNodes: number;
  /** Requests read but not yet answered (reply not yet taken by the peer); at it, reading stops. */
  readonly outstandingRequests: number;
  /**
   * Watch events queued for a guest that is not reading its ring; further events are dropped
   * (oxenstored's maxwatchevents), so a guest cannot grow our memory by never reading.
   */
  readonly queuedWatchEvents: number;
  /** ACL entries on one node. Over it: ENOSPC. */
  readonly permsPerNode: number;
  /** Payload bytes of one message; the wire maximum, not lowerable per domain. */
  readonly payload: number;
}

export const XENSTORED_DEFAULT_QUOTAS: XenstoreQuotas = Object.freeze({
  nodes: 1000,
  nodeSize: 2048,
  watches: 128,
  transactions: 10,
  transactionNodes: 1024,
  outstandingRequests: 20,
  queuedWatchEvents: 1024,
  permsPerNode: 5,
  payload: XENSTORE_LIMITS.XENSTORE_PAYLOAD_MAX,
});

/** Defaults overridden by `overrides`; payload cannot exceed the wire's XENSTORE_PAYLOAD_MAX. */
export function resolveQuotas(overrides: Partial<XenstoreQuotas> = {}): XenstoreQuotas {
  const q = { ...XENSTORED_DEFAULT_QUOTAS, ...overrides };
  for (const [k, v] of Object.entries(q)) {
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`quota ${k} must be a non-negative integer, got ${v}`);
  }
  if (q.payload === 0 || q.payload > XENSTORE_LIMITS.XENSTORE_PAYLOAD_MAX) {
    throw new RangeError(`quota payload must be 1..${XENSTORE_LIMITS.XENSTORE_PAYLOAD_MAX}`);
  }
  return Object.freeze(q);
}

/** True when `used` more would still be within `limit` (0 = unlimited). */
export function withinQuota(used: number, limit: number): boolean {
  return limit === 0 || used <= limit;
}
