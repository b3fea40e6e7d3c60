// The messages of the control socket. The client sends Requests (and console input once a
// console is attached); the daemon sends one Response per Request, with the same id, and Events
// and console output on connections that asked for them.
//
//   Request   { id, command }                    client -> daemon
//   Response  { id, ok: true, result }           daemon -> client
//             { id, ok: false, error }
//   Event     { event }                          daemon -> client (after subscribe-events / xenstore-watch)
//   Console   { console: { domid, data } }       both ways (after console-attach)
//
// parseClientMessage / parseServerMessage check the envelope of a decoded frame; a value that is
// none of these is a ControlProtocolError, fatal to the connection. The command inside a Request
// is checked separately (parseCommand), because a bad command is answered, not fatal.
import { SHUTDOWN_REASONS, type ShutdownReason } from '../../hypervisor/xen/domain-events.ts';
import type { ControlCommand, ControlOp, ResultOf } from './commands.ts';
import { asRecord, ControlProtocolError, type WireError } from './errors.ts';
import { isDomainPhase, type DomainPhase } from './phases.ts';

export interface Request<C extends ControlCommand = ControlCommand> {
  /** Chosen by the client, unique among its outstanding requests; a uint32. */
  readonly id: number;
  readonly command: C;
}

/** A Request as it arrives, before its command is checked. */
export interface UncheckedRequest {
  readonly id: number;
  readonly command: unknown;
}

export type Response<K extends ControlOp = ControlOp> =
  | { readonly id: number; readonly ok: true; readonly result: ResultOf<K> }
  | { readonly id: number; readonly ok: false; readonly error: WireError };

/** A Response as it arrives at the client: the result's shape is the daemon's word for it. */
export type UncheckedResponse =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: unknown };

/** Something that happened, for connections that subscribed to it. */
export type ControlEvent =
  /** A domain entered a phase; `from` is null for a domain just registered. */
  | {
      readonly kind: 'phase';
      readonly domid: number;
      readonly name: string;
      readonly from: DomainPhase | null;
      readonly to: DomainPhase;
      /** Why, when the move is to shutdown or crashed. */
      readonly reason?: ShutdownReason;
    }
  /** The domain is gone from the registry (after dying). */
  | { readonly kind: 'removed'; readonly domid: number; readonly name: string }
  /** A xenstore watch fired. */
  | { readonly kind: 'xenstore-watch'; readonly path: string; readonly token: string };

export interface EventMessage {
  readonly event: ControlEvent;
}

/** Console bytes: guest output from the daemon, keyboard input from the client. */
export interface ConsoleMessage {
  readonly console: { readonly domid: number; readonly data: Uint8Array };
}

export type ClientMessage = Request | ConsoleMessage;
export type ServerMessage = Response | EventMessage | ConsoleMessage;

const UINT32_MAX = 0xffffffff;

function isId(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= UINT32_MAX;
}

function onlyKeys(r: Record<string, unknown>, keys: readonly string[], what: string): void {
  for (const k of Object.keys(r)) if (!keys.includes(k)) throw new ControlProtocolError(`${what} with unexpected field ${JSON.stringify(k)}`);
}

function parseConsole(r: Record<string, unknown>): ConsoleMessage {
  onlyKeys(r, ['console'], 'console message');
  const c = asRecord(r.console);
  if (c === undefined || !isId(c.domid) || !(c.data instanceof Uint8Array)) throw new ControlProtocolError('console message must be { console: { domid, data: bytes } }');
  onlyKeys(c, ['domid', 'data'], 'console message');
  return { console: { domid: c.domid, data: c.data } };
}

/** The daemon's check of a frame from a client. */
export function parseClientMessage(value: unknown): UncheckedRequest | ConsoleMessage {
  const r = asRecord(value);
  if (r === undefined) throw new ControlProtocolError('a message must be a map');
  if ('console' in r) return parseConsole(r);
  onlyKeys(r, ['id', 'command'], 'request');
  if (!isId(r.id)) throw new ControlProtocolError('request without a uint32 id');
  if (!('command' in r)) throw new ControlProtocolError(`request ${r.id} without a command`);
  return { id: r.id, command: r.command };
}

/** The client's check of a frame from the daemon. */
export function parseServerMessage(value: unknown): UncheckedResponse | EventMessage | ConsoleMessage {
  const r = asRecord(value);
  if (r === undefined) throw new ControlProtocolError('a message must be a map');
  if ('console' in r) return parseConsole(r);
  if ('event' in r) {
    onlyKeys(r, ['event'], 'event');
    return { event: parseEvent(r.event) };
  }
  if (!isId(r.id)) throw new ControlProtocolError('response without a uint32 id');
  if (r.ok === true) {
    onlyKeys(r, ['id', 'ok', 'result'], 'response');
    return { id: r.id, ok: true, result: r.result };
  }
  if (r.ok === false) {
    onlyKeys(r, ['id', 'ok', 'error'], 'response');
    return { id: r.id, ok: false, error: r.error };
  }
  throw new ControlProtocolError(`response ${r.id} with ok neither true nor false`);
}

const REASONS: ReadonlySet<unknown> = new Set(SHUTDOWN_REASONS.values());

function parseEvent(value: unknown): ControlEvent {
  const e = asRecord(value);
  const bad = (): never => {
    throw new ControlProtocolError(`malformed event ${JSON.stringify(e?.kind ?? null)}`);
  };
  if (e === undefined) return bad();
  switch (e.kind) {
    case 'phase': {
      onlyKeys(e, ['kind', 'domid', 'name', 'from', 'to', 'reason'], 'phase event');
      if (!isId(e.domid) || typeof e.name !== 'string' || !(e.from === null || isDomainPhase(e.from)) || !isDomainPhase(e.to)) bad();
      if (e.reason !== undefined && !REASONS.has(e.reason)) bad();
      const base = { kind: 'phase' as const, domid: e.domid as number, name: e.name as string, from: e.from as DomainPhase | null, to: e.to as DomainPhase };
      return e.reason === undefined ? base : { ...base, reason: e.reason as ShutdownReason };
    }
    case 'removed':
      onlyKeys(e, ['kind', 'domid', 'name'], 'removed event');
      if (!isId(e.domid) || typeof e.name !== 'string') bad();
      return { kind: 'removed', domid: e.domid as number, name: e.name as string };
    case 'xenstore-watch':
      onlyKeys(e, ['kind', 'path', 'token'], 'watch event');
      if (typeof e.path !== 'string' || typeof e.token !== 'string') bad();
      return { kind: 'xenstore-watch', path: e.path as string, token: e.token as string };
    default:
      return bad();
  }
}
