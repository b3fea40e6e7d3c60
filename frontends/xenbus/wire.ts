// xsd_sockmsg framing and the payload grammar of docs/misc/xenstore.txt, client side: requests are
// encoded here, and every byte the server sends is parsed here before the client acts on it. A
// message that does not parse is a XenstoreProtocolError, which the client treats as fatal.
//
// Payload notation of xenstore.txt: `<path>|` is a string followed by a NUL; `<value|>` is raw
// bytes, possibly with NULs, never terminated; `<x>|*` is zero or more NUL-terminated strings.
import { parseXenbusUnsigned } from '../../ring-buffer/xenbus.ts';
import { XENSTORE_LIMITS, XS, XSD_SOCKMSG_SIZE, type XsType, xsdSockmsg } from '../../ring-buffer/xs-wire.ts';
import { XenstoreArgumentError, XenstoreProtocolError, type XsdErrorCode } from './errors.ts';

const { XENSTORE_PAYLOAD_MAX } = XENSTORE_LIMITS;

/** One message, header decoded, payload a private copy. */
export interface XsMessage {
  readonly type: XsType;
  readonly reqId: number;
  readonly txId: number;
  readonly payload: Uint8Array;
}

const TYPE_NAMES = new Map<number, string>();
for (const [name, value] of Object.entries(XS)) {
  // XS_DEBUG is the old alias of XS_CONTROL; XS_TYPE_COUNT and XS_INVALID are not messages.
  if (name !== 'XS_DEBUG' && name !== 'XS_TYPE_COUNT' && name !== 'XS_INVALID') TYPE_NAMES.set(value, name);
}

/** Xen's name of a message type, e.g. 'XS_READ'. */
export function xsTypeName(type: number): string {
  return TYPE_NAMES.get(type) ?? `XS_#${type}`;
}

function isXsType(type: number): type is XsType {
  return TYPE_NAMES.has(type);
}

/** Refuses a payload over XENSTORE_PAYLOAD_MAX. */
export function checkPayloadSize(type: XsType, payload: Uint8Array): void {
  if (payload.byteLength > XENSTORE_PAYLOAD_MAX) {
    // xenstored drops a connection that sends more; a guest cannot reconnect, so never send it.
    throw new XenstoreArgumentError(`${xsTypeName(type)} payload of ${payload.byteLength} bytes exceeds XENSTORE_PAYLOAD_MAX (${XENSTORE_PAYLOAD_MAX})`);
  }
}

/** Header plus payload, ready for the transport. */
export function encodeMessage(type: XsType, reqId: number, txId: number, payload: Uint8Array): Uint8Array {
  checkPayloadSize(type, payload);
  const out = new Uint8Array(XSD_SOCKMSG_SIZE + payload.byteLength);
  xsdSockmsg.encode({ type, req_id: reqId, tx_id: txId, len: payload.byteLength }, out, 0);
  out.set(payload, XSD_SOCKMSG_SIZE);
  return out;
}

/**
 * Reassembles messages from a byte stream cut anywhere (a ring delivers what fits, a socket what
 * the kernel had). The header is checked as soon as its 16 bytes are in, before any payload byte
 * is kept, so a lying len never makes us buffer more than XENSTORE_PAYLOAD_MAX.
 */
export class XsMessageDecoder {
  private readonly header = new Uint8Array(XSD_SOCKMSG_SIZE);
  private headerFill = 0;
  private pending: { type: XsType; reqId: number; txId: number; payload: Uint8Array; fill: number } | null = null;
  private broken: XenstoreProtocolError | null = null;

  constructor(private readonly onMessage: (m: XsMessage) => void) {}

  /**
   * Consumes `chunk`, calling onMessage for each message it completes. Throws (and keeps throwing)
   * XenstoreProtocolError once the stream is known bad.
   */
  push(chunk: Uint8Array): void {
    if (this.broken !== null) throw this.broken;
    let at = 0;
    while (at < chunk.byteLength) {
      if (this.pending === null) {
        const n = Math.min(XSD_SOCKMSG_SIZE - this.headerFill, chunk.byteLength - at);
        this.header.set(chunk.subarray(at, at + n), this.headerFill);
        this.headerFill += n;
        at += n;
        if (this.headerFill < XSD_SOCKMSG_SIZE) break;
        this.headerFill = 0;
        const h = xsdSockmsg.decode(this.header);
        if (h.len > XENSTORE_PAYLOAD_MAX) this.fail(`message of ${h.len} bytes exceeds XENSTORE_PAYLOAD_MAX (${XENSTORE_PAYLOAD_MAX})`);
        if (!isXsType(h.type)) this.fail(`unknown message type ${h.type}`);
        this.pending = { type: h.type, reqId: h.req_id, txId: h.tx_id, payload: new Uint8Array(h.len), fill: 0 };
      } else {
        const p = this.pending;
        const n = Math.min(p.payload.byteLength - p.fill, chunk.byteLength - at);
        p.payload.set(chunk.subarray(at, at + n), p.fill);
        p.fill += n;
        at += n;
      }
      const p = this.pending;
      if (p !== null && p.fill === p.payload.byteLength) {
        this.pending = null;
        this.onMessage({ type: p.type, reqId: p.reqId, txId: p.txId, payload: p.payload });
      }
    }
  }

  private fail(reason: string): never {
    this.broken = new XenstoreProtocolError(reason);
    throw this.broken;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: false });

/**
 * A request payload: each string NUL-terminated, then `tail` raw (XS_WRITE's value). A NUL inside a
 * string would move the server's field boundaries, so it is refused here.
 */
export function requestPayload(strings: readonly string[], tail?: Uint8Array): Uint8Array {
  const parts = strings.map((s) => {
    if (s.includes('\0')) throw new XenstoreArgumentError(`${JSON.stringify(s)} contains a NUL`);
    return encoder.encode(s);
  });
  const size = parts.reduce((n, p) => n + p.byteLength + 1, 0) + (tail?.byteLength ?? 0);
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength + 1;
  }
  if (tail !== undefined) out.set(tail, at);
  return out;
}

/** Checks a path argument before it goes on the wire; the server judges its syntax. */
export function checkPath(path: string): void {
  if (path.length === 0) throw new XenstoreArgumentError('empty xenstore path');
  if (path.includes('\0')) throw new XenstoreArgumentError(`xenstore path ${JSON.stringify(path)} contains a NUL`);
  if (encoder.encode(path).byteLength > XENSTORE_LIMITS.XENSTORE_ABS_PATH_MAX) {
    throw new XenstoreArgumentError(`xenstore path longer than XENSTORE_ABS_PATH_MAX (${XENSTORE_LIMITS.XENSTORE_ABS_PATH_MAX})`);
  }
}

/** `<x>|*`: zero or more NUL-terminated strings (XS_DIRECTORY, XS_GET_PERMS, XS_WATCH_EVENT). */
export function parseStringList(payload: Uint8Array, what: string): string[] {
  if (payload.byteLength === 0) return [];
  if (payload[payload.byteLength - 1] !== 0) throw new XenstoreProtocolError(`${what}: last string is not NUL-terminated`);
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < payload.byteLength; i++) {
    if (payload[i] === 0) {
      out.push(decoder.decode(payload.subarray(start, i)));
      start = i + 1;
    }
  }
  return out;
}

/**
 * One string reply (`<path>|`, `<transid>|`, `OK|`, `E<name>|`). Servers disagree on whether the
 * terminating NUL is sent, so one trailing NUL is optional; a NUL anywhere else is malformed.
 */
export function parseSingleString(payload: Uint8Array, what: string): string {
  const end = payload.byteLength > 0 && payload[payload.byteLength - 1] === 0 ? payload.byteLength - 1 : payload.byteLength;
  const body = payload.subarray(0, end);
  if (body.includes(0)) throw new XenstoreProtocolError(`${what}: reply holds more than one string`);
  return decoder.decode(body);
}

/** The `OK|` that acknowledges a write, mkdir, rm, set_perms, watch, unwatch or transaction end. */
export function expectOk(payload: Uint8Array, what: string): void {
  const s = parseSingleString(payload, what);
  if (s !== 'OK') throw new XenstoreProtocolError(`${what}: expected OK, got ${JSON.stringify(s.slice(0, 64))}`);
}

/** An errno name: 'E' and capitals or digits, as xsd_errors spells them. */
const ERROR_NAME_RE = /^E[A-Z0-9]{1,30}$/;

/** The errno name of an XS_ERROR payload. */
export function parseErrorName(payload: Uint8Array, what: string): XsdErrorCode {
  const s = parseSingleString(payload, what);
  if (!ERROR_NAME_RE.test(s)) throw new XenstoreProtocolError(`${what}: XS_ERROR names no errno: ${JSON.stringify(s.slice(0, 64))}`);
  return s as XsdErrorCode;
}

/** `<transid>|`: an unsigned decimal uint32; 0 is not a transaction id. */
export function parseTransactionId(payload: Uint8Array): number {
  const s = parseSingleString(payload, 'XS_TRANSACTION_START');
  const r = parseXenbusUnsigned(s);
  if (!r.ok || r.value === 0) throw new XenstoreProtocolError(`XS_TRANSACTION_START: bad transaction id ${JSON.stringify(s.slice(0, 64))}`);
  return r.value;
}

/** The access a <perm-as-string> grants: n, r, w or b in front of the domid. */
export type XsPermAccess = 'none' | 'read' | 'write' | 'both';

/**
 * One entry of a node's permission list. The first entry names the owner (who may do anything)
 * and the access of every domain not listed; the rest grant or deny specific domains.
 */
export interface XsPermission {
  readonly domid: number;
  readonly access: XsPermAccess;
}

const PERM_LETTER: Record<XsPermAccess, string> = { none: 'n', read: 'r', write: 'w', both: 'b' };
const LETTER_PERM: Readonly<Record<string, XsPermAccess>> = { n: 'none', r: 'read', w: 'write', b: 'both' };
/** domid_t is 16 bits; the DOMID_* specials live at the top of that range. */
const DOMID_MAX = 0xffff;

export function formatPermission(p: XsPermission): string {
  if (!Number.isInteger(p.domid) || p.domid < 0 || p.domid > DOMID_MAX) throw new XenstoreArgumentError(`permission domid ${p.domid} is not a domid_t`);
  const letter = PERM_LETTER[p.access];
  if (letter === undefined) throw new XenstoreArgumentError(`unknown permission access ${String(p.access)}`);
  return `${letter}${p.domid}`;
}

export function parsePermission(s: string): XsPermission {
  const access = LETTER_PERM[s.charAt(0)];
  const domid = parseXenbusUnsigned(s.slice(1), DOMID_MAX);
  if (access === undefined || !domid.ok) throw new XenstoreProtocolError(`XS_GET_PERMS: bad permission ${JSON.stringify(s.slice(0, 64))}`);
  return { domid: domid.value, access };
}
