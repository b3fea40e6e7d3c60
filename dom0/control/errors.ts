// The errors of the control API. Two families:
// - command errors (ControlError and its subclasses): the daemon could not do what one request
//   asked. Each has a code and travels in that request's Response as a WireError; the client
//   turns it back into the same class with controlErrorFromWire(). The connection carries on.
// - protocol errors (ControlProtocolError): a frame that is not a message of this protocol, or
//   bigger than CONTROL_MAX_FRAME_SIZE. Whoever sees one closes the connection: a peer that sent
//   one impossible frame cannot be trusted to frame the next one right.
import { isDomainPhase, type DomainPhase } from './phases.ts';

/** A domain as the user names it: its name, or its domid. */
export type DomainRef = string | number;

export const CONTROL_ERROR_CODES = [
  'NoSuchDomain',
  'NameInUse',
  'BadConfig',
  'NotAllowedInPhase',
  'Busy',
  'BadRequest',
  'XenstoreError',
  'Unsupported',
  'Internal',
] as const;
export type ControlErrorCode = (typeof CONTROL_ERROR_CODES)[number];

/** A command error as it crosses the socket: the code, a message for humans, and typed details. */
export type WireError =
  | { readonly code: 'NoSuchDomain'; readonly message: string; readonly domain: DomainRef }
  | { readonly code: 'NameInUse'; readonly message: string; readonly name: string; readonly domid: number }
  | { readonly code: 'BadConfig'; readonly message: string; readonly problems: readonly string[] }
  | {
      readonly code: 'NotAllowedInPhase';
      readonly message: string;
      readonly op: string;
      readonly domid: number;
      readonly phase: DomainPhase;
      readonly allowed: readonly DomainPhase[];
    }
  | { readonly code: 'Busy'; readonly message: string }
  | { readonly code: 'BadRequest'; readonly message: string }
  | { readonly code: 'XenstoreError'; readonly message: string; readonly errno: string; readonly path: string }
  | { readonly code: 'Unsupported'; readonly message: string; readonly op: string }
  | { readonly code: 'Internal'; readonly message: string };

/** Base of every command error. */
export abstract class ControlError extends Error {
  abstract readonly code: ControlErrorCode;
  abstract toWire(): WireError;
}

/** No domain has that name or domid. */
export class NoSuchDomainError extends ControlError {
  override readonly name = 'NoSuchDomainError';
  readonly code = 'NoSuchDomain';
  constructor(readonly domain: DomainRef) {
    super(typeof domain === 'number' ? `no domain with domid ${domain}` : `no domain named ${JSON.stringify(domain)}`);
  }
  toWire(): WireError {
    return { code: this.code, message: this.message, domain: this.domain };
  }
}

/** `create` named a domain that already exists. */
export class NameInUseError extends ControlError {
  override readonly name = 'NameInUseError';
  readonly code = 'NameInUse';
  constructor(
    readonly domainName: string,
    readonly domid: number,
  ) {
    super(`a domain named ${JSON.stringify(domainName)} already exists (domid ${domid})`);
  }
  toWire(): WireError {
    return { code: this.code, message: this.message, name: this.domainName, domid: this.domid };
  }
}

/** The DomainConfig of a `create` failed validation; `problems` lists every reason. */
export class BadConfigError extends ControlError {
  override readonly name = 'BadConfigError';
  readonly code = 'BadConfig';
  constructor(readonly problems: readonly string[]) {
    super(problems.length === 1 ? `bad domain config: ${problems[0]}` : `bad domain config:\n  ${problems.join('\n  ')}`);
  }
  toWire(): WireError {
    return { code: this.code, message: this.message, problems: this.problems };
  }
}

/** The command is not legal in the domain's current phase (unpause of a running domain, ...). */
export class NotAllowedInPhaseError extends ControlError {
  override readonly name = 'NotAllowedInPhaseError';
  readonly code = 'NotAllowedInPhase';
  constructor(
    readonly op: string,
    readonly domid: number,
    readonly phase: DomainPhase,
    readonly allowed: readonly DomainPhase[],
  ) {
    super(`${op} is not allowed while domain ${domid} is ${phase} (only when ${allowed.join(', ')})`);
  }
  toWire(): WireError {
    return { code: this.code, message: this.message, op: this.op, domid: this.domid, phase: this.phase, allowed: this.allowed };
  }
}

/** Another command is already changing that domain; try again when it is done. */
export class BusyError extends ControlError {
  override readonly name = 'BusyError';
  readonly code = 'Busy';
  toWire(): WireError {
    return { code: this.code, message: this.message };
  }
}

/** The request is well framed but not a valid command (unknown op, missing or mistyped field). */
export class BadRequestError extends ControlError {
  override readonly name = 'BadRequestError';
  readonly code = 'BadRequest';
  toWire(): WireError {
    return { code: this.code, message: this.message };
  }
}

/** A xenstore command failed in the store: `errno` is xenstored's name for it ('ENOENT', 'EACCES'). */
export class XenstoreOpError extends ControlError {
  override readonly name = 'XenstoreOpError';
  readonly code = 'XenstoreError';
  constructor(
    readonly errno: string,
    readonly path: string,
    message?: string,
  ) {
    super(message ?? `${path}: ${errno}`);
  }
  toWire(): WireError {
    return { code: this.code, message: this.message, errno: this.errno, path: this.path };
  }
}

/** The daemon knows the command but does not carry it out (yet). */
export class UnsupportedCommandError extends ControlError {
  override readonly name = 'UnsupportedCommandError';
  readonly code = 'Unsupported';
  constructor(
    readonly op: string,
    message?: string,
  ) {
    super(message ?? `${op} is not supported by this xltsd`);
  }
  toWire(): WireError {
    return { code: this.code, message: this.message, op: this.op };
  }
}

/** The daemon failed in a way that is its own fault; the message says what it was doing. */
export class InternalControlError extends ControlError {
  override readonly name = 'InternalControlError';
  readonly code = 'Internal';
  toWire(): WireError {
    return { code: this.code, message: this.message };
  }
}

/** Fatal to the connection: a frame that breaks the protocol. */
export class ControlProtocolError extends Error {
  override readonly name = 'ControlProtocolError';
}

/** Fatal to the connection: a frame announced bigger than the limit (a hostile or broken peer). */
export class ControlFrameTooLargeError extends ControlProtocolError {
  constructor(
    readonly size: number,
    readonly limit: number,
  ) {
    super(`frame of ${size} bytes announced; the limit is ${limit}`);
  }
}

/** Fatal: the connection ended (closed by either side) with requests still waiting. */
export class ControlConnectionClosedError extends Error {
  override readonly name = 'ControlConnectionClosedError';
}

/**
 * What any failure becomes on the wire: a ControlError as itself, anything else as Internal with
 * its message (the daemon does not leak stacks to clients).
 */
export function toWireError(err: unknown): WireError {
  if (err instanceof ControlError) return err.toWire();
  return { code: 'Internal', message: err instanceof Error ? err.message : String(err) };
}

/**
 * Rebuilds the error class from a WireError the daemon sent. A malformed one is a protocol error:
 * the daemon broke the contract.
 */
export function controlErrorFromWire(value: unknown): ControlError {
  const w = asRecord(value);
  const code = w?.code;
  const message = w?.message;
  if (w === undefined || typeof message !== 'string' || typeof code !== 'string') throw new ControlProtocolError('error without a code and message');
  const bad = (): never => {
    throw new ControlProtocolError(`${code} error with malformed details`);
  };
  let e: ControlError;
  switch (code) {
    case 'NoSuchDomain':
      e = typeof w.domain === 'string' || typeof w.domain === 'number' ? new NoSuchDomainError(w.domain) : bad();
      break;
    case 'NameInUse':
      e = typeof w.name === 'string' && typeof w.domid === 'number' ? new NameInUseError(w.name, w.domid) : bad();
      break;
    case 'BadConfig':
      e = Array.isArray(w.problems) && w.problems.every((p) => typeof p === 'string') ? new BadConfigError(w.problems as string[]) : bad();
      break;
    case 'NotAllowedInPhase':
      if (typeof w.op !== 'string' || typeof w.domid !== 'number' || !isDomainPhase(w.phase) || !Array.isArray(w.allowed) || !w.allowed.every(isDomainPhase)) bad();
      e = new NotAllowedInPhaseError(w.op as string, w.domid as number, w.phase as DomainPhase, w.allowed as DomainPhase[]);
      break;
    case 'Busy':
      e = new BusyError(message);
      break;
    case 'BadRequest':
      e = new BadRequestError(message);
      break;
    case 'XenstoreError':
      e = typeof w.errno === 'string' && typeof w.path === 'string' ? new XenstoreOpError(w.errno, w.path) : bad();
      break;
    case 'Unsupported':
      e = typeof w.op === 'string' ? new UnsupportedCommandError(w.op) : bad();
      break;
    case 'Internal':
      e = new InternalControlError(message);
      break;
    default:
      // A newer daemon may know codes we do not: keep its words, as an internal error.
      e = new InternalControlError(`${code}: ${message}`);
  }
  // The daemon's message is the one the user should see (it may say more than ours).
  e.message = message;
  return e;
}

export function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array) ? (value as Record<string, unknown>) : undefined;
}
