// Xenbus protocol core (io/xenbus.h and the xenstore conventions every split driver shares): the
// XenbusState values, strict parsing of the values a peer writes into xenstore, the generic node
// names of a device directory, and the device directory paths. Frontends and backends both build
// on this; neither knows the other.
//
// Trust: every value parsed here was written by a peer that may be hostile (a guest writes its
// frontend directory, a driver domain its backend directory). Parsers never throw on garbage and
// never produce NaN: they return a closed result that the caller must look at.

/**
 * enum xenbus_state: the state of one end of a split device, as written in its `state` node.
 * Both ends publish their own state and watch the other's.
 */
export const XenbusState = {
  XenbusStateUnknown: 0,
  XenbusStateInitialising: 1,
  /** Early initialisation done; waiting for the peer or the hotplug scripts. */
  XenbusStateInitWait: 2,
  /** Ring details published; waiting for the peer to connect. */
  XenbusStateInitialised: 3,
  XenbusStateConnected: 4,
  /** Shutting down after an error or an unplug. */
  XenbusStateClosing: 5,
  XenbusStateClosed: 6,
  XenbusStateReconfiguring: 7,
  XenbusStateReconfigured: 8,
} as const;
export type XenbusState = (typeof XenbusState)[keyof typeof XenbusState];
export type XenbusStateName = keyof typeof XenbusState;

const STATE_NAMES: readonly XenbusStateName[] = (Object.keys(XenbusState) as XenbusStateName[]).sort(
  (a, b) => XenbusState[a] - XenbusState[b],
);

export function isXenbusState(n: unknown): n is XenbusState {
  return typeof n === 'number' && Number.isInteger(n) && n >= XenbusState.XenbusStateUnknown && n <= XenbusState.XenbusStateReconfigured;
}

/** Xen's name of a state, e.g. 'XenbusStateConnected', for logs and errors. */
export function xenbusStateName(state: XenbusState): XenbusStateName {
  const name = STATE_NAMES[state];
  if (name === undefined) throw new RangeError(`${String(state)} is not a XenbusState`);
  return name;
}

/** The outcome of parsing a value a peer wrote: the value, or why it was refused. */
export type XenbusParse<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; /** What was read, for the log line. */ readonly raw: string; readonly reason: string };

const utf8 = new TextDecoder('utf-8', { fatal: false });
/** Bounds what a refusal carries into logs: a peer may write up to a whole payload of garbage. */
const RAW_SHOWN = 64;

function asText(raw: string | Uint8Array): string {
  return typeof raw === 'string' ? raw : utf8.decode(raw);
}

function refuse<T>(text: string, reason: string): XenbusParse<T> {
  const shown = text.length > RAW_SHOWN ? `${text.slice(0, RAW_SHOWN)}...` : text;
  return { ok: false, raw: shown, reason };
}

/**
 * Parses a `state` node. Only the canonical form is accepted: one decimal digit 0..8, nothing
 * around it. A C sscanf("%d") would also take " 4", "+4", "04" or "4junk"; a peer that writes
 * those is not following the protocol and we would rather see it than guess.
 */
export function parseXenbusState(raw: string | Uint8Array): XenbusParse<XenbusState> {
  const text = asText(raw);
  if (text.length !== 1) return refuse(text, text.length === 0 ? 'empty state' : 'a state is one decimal digit');
  const code = text.charCodeAt(0) - 0x30;
  if (!isXenbusState(code)) return refuse(text, 'not a XenbusState (0..8)');
  return { ok: true, value: code };
}

/** The `state` node value for `state`. Throws RangeError for a number that is not a state. */
export function formatXenbusState(state: XenbusState): string {
  if (!isXenbusState(state)) throw new RangeError(`${String(state)} is not a XenbusState`);
  return String(state);
}

/** Digits of the largest uint32; a longer run of digits cannot be in range. */
const MAX_U32_DIGITS = 10;

/**
 * Parses an unsigned decimal a peer wrote (ring-ref, event-channel, backend-id, ring-page-order,
 * multi-queue-num-queues...): digits only, no sign, no spaces, no leading zero, at most `max`
 * (0xffffffff by default).
 */
export function parseXenbusUnsigned(raw: string | Uint8Array, max = 0xffffffff): XenbusParse<number> {
  if (!Number.isInteger(max) || max < 0 || max > 0xffffffff) throw new RangeError(`max must be a uint32, got ${max}`);
  const text = asText(raw);
  if (text.length === 0) return refuse(text, 'empty number');
  if (text.length > MAX_U32_DIGITS) return refuse(text, `more than ${MAX_U32_DIGITS} digits`);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return refuse(text, 'not an unsigned decimal');
  }
  if (text.length > 1 && text.charCodeAt(0) === 0x30) return refuse(text, 'leading zero');
  const value = Number(text);
  if (value > max) return refuse(text, `above ${max}`);
  return { ok: true, value };
}

/**
 * Node names of a device directory that every split driver uses. Driver-specific names (blkif's
 * `sectors`, netif's `mac`...) belong to that driver's protocol module.
 */
export const XENBUS_KEY = {
  /** In a frontend directory: the backend directory's path. */
  BACKEND: 'backend',
  /** In a frontend directory: the backend's domid. */
  BACKEND_ID: 'backend-id',
  /** In a backend directory: the frontend directory's path. */
  FRONTEND: 'frontend',
  /** In a backend directory: the frontend's domid. */
  FRONTEND_ID: 'frontend-id',
  /** Both sides: this end's XenbusState. */
  STATE: 'state',
  /** In a backend directory: 1 while the toolstack wants the device, 0 to unplug it. */
  ONLINE: 'online',
  /** Written by the backend's hotplug script ('connected' or an error). */
  HOTPLUG_STATUS: 'hotplug-status',
  /** Frontend: grant reference of a single-page ring. */
  RING_REF: 'ring-ref',
  /** Frontend: log2 of the ring's page count when it uses ring-ref0..N-1. */
  RING_PAGE_ORDER: 'ring-page-order',
  /** Backend: the largest ring-page-order it accepts. */
  MAX_RING_PAGE_ORDER: 'max-ring-page-order',
  /** Frontend: the event-channel port it allocated for the device. */
  EVENT_CHANNEL: 'event-channel',
  /** Frontend: the ABI of its ring entries (XEN_IO_PROTO_ABI_*). */
  PROTOCOL: 'protocol',
  /** Backend: how many queues it offers. */
  MULTI_QUEUE_MAX_QUEUES: 'multi-queue-max-queues',
  /** Frontend: how many queues it uses (each under queue-N/). */
  MULTI_QUEUE_NUM_QUEUES: 'multi-queue-num-queues',
} as const;
export type XenbusKey = (typeof XENBUS_KEY)[keyof typeof XENBUS_KEY];

/** Values of the `protocol` node (io/protocols.h). */
export const XEN_IO_PROTO = {
  XEN_IO_PROTO_ABI_X86_32: 'x86_32-abi',
  XEN_IO_PROTO_ABI_X86_64: 'x86_64-abi',
  XEN_IO_PROTO_ABI_ARM: 'arm-abi',
} as const;
/** The only ABI xlts hosts run (x86_64). */
export const XEN_IO_PROTO_ABI_NATIVE = XEN_IO_PROTO.XEN_IO_PROTO_ABI_X86_64;

/** A node-name component: the characters xenstore allows in a path, minus '/' and '@'. */
const NAME_RE = /^[A-Za-z0-9_-]+$/;

/** `feature-<name>`: a capability one end advertises, e.g. featureKey('persistent'). */
export function featureKey(name: string): `feature-${string}` {
  if (!NAME_RE.test(name)) throw new RangeError(`feature name ${JSON.stringify(name)} is not a xenstore node name`);
  return `feature-${name}`;
}

/** `ring-ref<i>`: page i of a multi-page ring. */
export function ringRefKey(index: number): `ring-ref${number}` {
  checkIndex('ring page', index);
  return `ring-ref${index}`;
}

/** `queue-<i>`: the directory of queue i when multi-queue-num-queues > 1. */
export function queueKey(index: number): `queue-${number}` {
  checkIndex('queue', index);
  return `queue-${index}`;
}

function checkIndex(what: string, index: number): void {
  if (!Number.isInteger(index) || index < 0) throw new RangeError(`${what} index must be a non-negative integer, got ${index}`);
}

/** DOMID_FIRST_RESERVED (xen.h): domids from here up are special (DOMID_SELF, DOMID_IO...). */
export const DOMID_FIRST_RESERVED = 0x7ff0;

function checkDomid(domid: number): void {
  if (!Number.isInteger(domid) || domid < 0 || domid >= DOMID_FIRST_RESERVED) {
    throw new RangeError(`domid must be 0..${DOMID_FIRST_RESERVED - 1}, got ${domid}`);
  }
}

function checkDevice(devClass: string, devid: number): void {
  if (!NAME_RE.test(devClass)) throw new RangeError(`device class ${JSON.stringify(devClass)} is not a xenstore node name`);
  checkIndex('device', devid);
}

/** /local/domain/<domid>: a domain's home, what XS_GET_DOMAIN_PATH answers. */
export function domainPath(domid: number): string {
  checkDomid(domid);
  return `/local/domain/${domid}`;
}

/** /local/domain/<front>/device/<class>/<devid>: the frontend's directory, e.g. class 'vbd'. */
export function frontendPath(frontDomid: number, devClass: string, devid: number): string {
  checkDevice(devClass, devid);
  return `${domainPath(frontDomid)}/device/${devClass}/${devid}`;
}

/** /local/domain/<back>/backend/<class>/<front>/<devid>: the backend's directory. */
export function backendPath(backDomid: number, devClass: string, frontDomid: number, devid: number): string {
  checkDevice(devClass, devid);
  checkDomid(frontDomid);
  return `${domainPath(backDomid)}/backend/${devClass}/${frontDomid}/${devid}`;
}
