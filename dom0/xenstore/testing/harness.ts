// Drives the engine directly with fake sessions: a session records the watch events it is
// given, and op() runs one request and returns its reply as text.
import { XS } from '../../../ring-buffer/xs-wire.ts';
import type { XenstoreEngine, XsSession } from '../engine.ts';
import { latin1, latin1Bytes } from '../payload.ts';
import type { XsTransaction } from '../transaction.ts';
import { XsWatchList } from '../watches.ts';

export class FakeSession implements XsSession {
  readonly watches = new XsWatchList();
  readonly transactions = new Map<number, XsTransaction>();
  readonly events: Array<[path: string, token: string]> = [];

  constructor(
    readonly domid: number,
    readonly privileged = domid === 0,
  ) {}

  deliverWatchEvent(path: string, token: string): void {
    this.events.push([path, token]);
  }

  /** The events received since the last call. */
  take(): Array<[string, string]> {
    return this.events.splice(0);
  }
}

export interface OpResult {
  readonly ok: boolean;
  /** Reply payload as text; for errors, the error name without its nul. */
  readonly text: string;
}

export type XsTypeName = Exclude<keyof typeof XS, 'XS_DEBUG' | 'XS_TYPE_COUNT' | 'XS_INVALID'>;

/** Runs one request. `payload` strings are sent as given: add the '\0's the protocol wants. */
export function op(engine: XenstoreEngine, s: XsSession, type: XsTypeName | number, payload: string, txId = 0): OpResult {
  const t = typeof type === 'number' ? type : XS[type];
  const reply = engine.handle(s, { type: t, txId, payload: latin1Bytes(payload) });
  const text = latin1(reply.payload);
  if (reply.type === XS.XS_ERROR) return { ok: false, text: text.replace(/\0$/, '') };
  return { ok: true, text };
}

/** op() that must succeed; returns the reply text. */
export function must(engine: XenstoreEngine, s: XsSession, type: XsTypeName, payload: string, txId = 0): string {
  const r = op(engine, s, type, payload, txId);
  if (!r.ok) throw new Error(`${type} ${JSON.stringify(payload)} failed with ${r.text}`);
  return r.text;
}

/** The error name an op fails with ('' if it succeeded). */
export function failure(engine: XenstoreEngine, s: XsSession, type: XsTypeName, payload: string, txId = 0): string {
  const r = op(engine, s, type, payload, txId);
  return r.ok ? '' : r.text;
}
