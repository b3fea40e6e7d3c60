// The frontend's half of the xenbus handshake: publishing our XenbusState and waiting for the
// backend's. See ring-buffer/xenbus.ts for the states and xen-toolstack-and-drivers.md (d) for the
// blkif/netif sequences built on these two steps.
import { XENBUS_KEY, XenbusState, formatXenbusState, parseXenbusState, xenbusStateName } from '../../ring-buffer/xenbus.ts';
import type { XenstoreClient } from './client.ts';
import { XenbusDeviceGoneError, XenbusTimeoutError, isXenstoreError } from './errors.ts';

/** What the handshake needs of a xenstore client (a fake in tests). */
export type XenbusStore = Pick<XenstoreClient, 'read' | 'watch' | 'unwatch' | 'uniqueToken' | 'transaction' | 'closed'>;

export type SwitchStateResult = 'written' | 'unchanged';

export interface SwitchStateOptions {
  /** Told of every transition actually written: from is null when the old value did not parse. */
  readonly trace?: (path: string, from: XenbusState | null, to: XenbusState) => void;
}

function stateNode(dir: string): string {
  return `${dir}/${XENBUS_KEY.STATE}`;
}

/**
 * Sets `<dir>/state` to `state` unless it already holds it. Read and write share a transaction so
 * a toolstack removing the device in between cannot have us recreate its directory: a missing
 * state node is XenbusDeviceGoneError, not a write.
 */
export async function switchState(xs: XenbusStore, dir: string, state: XenbusState, options: SwitchStateOptions = {}): Promise<SwitchStateResult> {
  const node = stateNode(dir);
  const wanted = formatXenbusState(state);
  const outcome = await xs.transaction(async (tx) => {
    let current: string;
    try {
      current = await tx.read(node);
    } catch (e) {
      if (isXenstoreError(e, 'ENOENT')) throw new XenbusDeviceGoneError(dir);
      throw e;
    }
    const parsed = parseXenbusState(current);
    if (parsed.ok && parsed.value === state) return { result: 'unchanged' as const, from: parsed.value };
    await tx.write(node, wanted);
    return { result: 'written' as const, from: parsed.ok ? parsed.value : null };
  });
  if (outcome.result === 'written') options.trace?.(dir, outcome.from, state);
  return outcome.result;
}

/**
 * Waits until `<dir>/state` holds one of `states` and returns it. A missing node reads as
 * XenbusStateUnknown (the peer has not written it, or its directory went away), and a value that
 * does not parse matches nothing: a hostile peer can delay us until the timeout, no more.
 */
export async function waitForState(xs: XenbusStore, dir: string, states: readonly XenbusState[], timeoutMs: number): Promise<XenbusState> {
  if (states.length === 0) throw new RangeError('waitForState needs at least one state to wait for');
  const node = stateNode(dir);
  const token = xs.uniqueToken('xenbus-wait');
  let lastSeen: string | null = null;

  const outcome = new Promise<XenbusState>((resolve, reject) => {
    let settled = false;
    const settle = (f: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      f();
    };
    const timer = setTimeout(() => settle(() => reject(new XenbusTimeoutError(dir, states.map(xenbusStateName), lastSeen, timeoutMs))), timeoutMs);
    // Events can outpace reads; checking one at a time keeps lastSeen in step with the store.
    let chain: Promise<void> = Promise.resolve();
    const check = (): void => {
      chain = chain
        .then(async () => {
          if (settled) return;
          let raw: string | null;
          try {
            raw = await xs.read(node);
          } catch (e) {
            if (!isXenstoreError(e, 'ENOENT')) throw e;
            raw = null;
          }
          lastSeen = raw;
          const parsed = raw === null ? { ok: true as const, value: XenbusState.XenbusStateUnknown } : parseXenbusState(raw);
          if (parsed.ok && states.includes(parsed.value)) settle(() => resolve(parsed.value));
        })
        .catch((e: unknown) => settle(() => reject(e)));
    };
    // With no request outstanding a dead connection would only show as the timeout.
    xs.closed.then((e) => settle(() => reject(e)));
    xs.watch(node, token, () => check()).then(
      // Xenstored fires a new watch at once, but one more look costs a read and spares us
      // depending on it.
      () => check(),
      (e: unknown) => settle(() => reject(e)),
    );
  });

  try {
    return await outcome;
  } finally {
    // Cleanup must not mask the outcome; a dead connection has no watch left to remove anyway.
    await xs.unwatch(node, token).catch(() => undefined);
  }
}
