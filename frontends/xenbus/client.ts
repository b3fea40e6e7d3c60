// A XenStore client: promise-based requests over any XenstoreTransport, replies matched by req_id,
// watch events dispatched by token, transactions with a bounded EAGAIN retry.
//
// The server is not trusted to be well-behaved. A reply is accepted only for a req_id we have
// outstanding and only with the request's type or XS_ERROR; its payload must parse. Anything else
// (a reply nobody asked for, a second reply to one request, a frame over XENSTORE_PAYLOAD_MAX, an
// unknown type) is latched as a fatal error that rejects every outstanding and later request.
// xenstore.txt lets a server answer outstanding requests in any order, so order alone is not an
// error.
import { XS, type XsType } from '../../ring-buffer/xs-wire.ts';
import {
  XenstoreArgumentError,
  XenstoreClosedError,
  XenstoreError,
  XenstoreProtocolError,
  XenstoreTransactionConflictError,
  isXenstoreError,
} from './errors.ts';
import type { XenstoreTransport } from './transport.ts';
import {
  type XsMessage,
  type XsPermission,
  XsMessageDecoder,
  checkPath,
  checkPayloadSize,
  encodeMessage,
  expectOk,
  formatPermission,
  parseErrorName,
  parsePermission,
  parseSingleString,
  parseStringList,
  parseTransactionId,
  requestPayload,
  xsTypeName,
} from './wire.ts';

/** Called for each XS_WATCH_EVENT: the path that changed (a child of the watched path) and the token. */
export type WatchCallback = (path: string, token: string) => void;

/** The node operations, available outside a transaction (the client) and inside one. */
export interface XenstoreOps {
  /** A node's value as text (values are meant to be ASCII; invalid UTF-8 becomes U+FFFD). */
  read(path: string): Promise<string>;
  /** A node's value as the raw bytes stored. */
  readBytes(path: string): Promise<Uint8Array>;
  /** Sets a node's value, creating it and any missing parents. */
  write(path: string, value: string | Uint8Array): Promise<void>;
  /** Creates a node (and parents) with an empty value unless it exists. */
  mkdir(path: string): Promise<void>;
  /** Removes a node and everything below it; not an error if it does not exist. */
  rm(path: string): Promise<void>;
  /** The names (not paths) of a node's children. */
  directory(path: string): Promise<string[]>;
  getPerms(path: string): Promise<XsPermission[]>;
  setPerms(path: string, perms: readonly XsPermission[]): Promise<void>;
}

export interface XenstoreClientOptions {
  /** Requests sent and not yet answered; later ones wait in order. Default 16. */
  readonly maxInFlight?: number;
  /** How many times transaction() runs its body before giving up on EAGAIN. Default 8. */
  readonly transactionAttempts?: number;
  /**
   * Receives what a watch callback throws. Without it the error is rethrown from a fresh
   * microtask, as an EventEmitter listener's would be, so it is never lost.
   */
  readonly onWatchError?: (error: unknown, path: string, token: string) => void;
}

interface Request {
  readonly type: XsType;
  readonly txId: number;
  readonly payload: Uint8Array;
  readonly path: string | undefined;
  /** Turns the reply payload into the caller's value; throws XenstoreProtocolError if malformed. */
  readonly parse: (payload: Uint8Array) => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (e: Error) => void;
}

const okReply =
  (what: string) =>
  (payload: Uint8Array): void =>
    expectOk(payload, what);
const rawReply = (payload: Uint8Array): Uint8Array => payload;

interface Watch {
  readonly path: string;
  readonly cb: WatchCallback;
}

const REQ_ID_MAX = 0xffffffff;
const encoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: false });

export class XenstoreClient implements XenstoreOps {
  private readonly maxInFlight: number;
  private readonly transactionAttempts: number;
  private readonly decoder: XsMessageDecoder;
  private readonly inFlight = new Map<number, Request>();
  private readonly queued: Request[] = [];
  private readonly watches = new Map<string, Watch>();
  private readonly plain: XenstoreOps;
  private lastReqId = 0;
  private tokenSeq = 0;
  private fatal: Error | null = null;
  private resolveClosed: (error: Error) => void = () => undefined;
  /**
   * Settles, with the error that ended it, when this client stops for good: lets a caller that
   * has nothing outstanding (a long wait on a watch) learn that no event will ever come.
   */
  readonly closed: Promise<Error> = new Promise((resolve) => {
    this.resolveClosed = resolve;
  });

  constructor(
    private readonly transport: XenstoreTransport,
    private readonly options: XenstoreClientOptions = {},
  ) {
    this.maxInFlight = options.maxInFlight ?? 16;
    if (!Number.isInteger(this.maxInFlight) || this.maxInFlight < 1) throw new RangeError(`maxInFlight must be >= 1, got ${this.maxInFlight}`);
    this.transactionAttempts = options.transactionAttempts ?? 8;
    if (!Number.isInteger(this.transactionAttempts) || this.transactionAttempts < 1) {
      throw new RangeError(`transactionAttempts must be >= 1, got ${this.transactionAttempts}`);
    }
    this.plain = this.ops(0);
    this.decoder = new XsMessageDecoder((m) => this.dispatch(m));
    transport.onData((bytes) => this.receive(bytes));
    transport.onClose((error) => this.fail(error ?? new XenstoreClosedError('the xenstore connection closed')));
  }

  /** The error that ended this client, or null while it is usable. */
  get error(): Error | null {
    return this.fatal;
  }

  /** Requests sent and not yet answered. */
  get outstanding(): number {
    return this.inFlight.size;
  }

  /** Ends the connection; outstanding and later requests reject with XenstoreClosedError. */
  close(): void {
    this.fail(new XenstoreClosedError('the xenstore client was closed'));
  }

  read(path: string): Promise<string> {
    return this.plain.read(path);
  }
  readBytes(path: string): Promise<Uint8Array> {
    return this.plain.readBytes(path);
  }
  write(path: string, value: string | Uint8Array): Promise<void> {
    return this.plain.write(path, value);
  }
  mkdir(path: string): Promise<void> {
    return this.plain.mkdir(path);
  }
  rm(path: string): Promise<void> {
    return this.plain.rm(path);
  }
  directory(path: string): Promise<string[]> {
    return this.plain.directory(path);
  }
  getPerms(path: string): Promise<XsPermission[]> {
    return this.plain.getPerms(path);
  }
  setPerms(path: string, perms: readonly XsPermission[]): Promise<void> {
    return this.plain.setPerms(path, perms);
  }

  /** A token no other watch of this client uses, e.g. for a one-off wait. */
  uniqueToken(prefix = 'xlts'): string {
    this.tokenSeq += 1;
    return `${prefix}/${this.tokenSeq}`;
  }

  /**
   * Sets a watch on `path` (a node, or @introduceDomain/@releaseDomain). Events are dispatched by
   * token, so tokens must be unique within this client. The server fires once right away; the
   * callback is registered before the request goes out so that first event is not missed.
   */
  async watch(path: string, token: string, cb: WatchCallback): Promise<void> {
    if (this.fatal !== null) throw this.fatal;
    checkPath(path);
    if (this.watches.has(token)) throw new XenstoreArgumentError(`watch token ${JSON.stringify(token)} is already in use`);
    const payload = requestPayload([path, token]);
    this.watches.set(token, { path, cb });
    try {
      await this.request(XS.XS_WATCH, 0, payload, path, okReply('XS_WATCH'));
    } catch (e) {
      if (this.watches.get(token)?.cb === cb) this.watches.delete(token);
      throw e;
    }
  }

  /**
   * Removes a watch. The callback stops at once, before the server answers: events already on
   * their way for this token are dropped, as the caller asked to hear no more.
   */
  async unwatch(path: string, token: string): Promise<void> {
    if (this.fatal !== null) throw this.fatal;
    const w = this.watches.get(token);
    if (w === undefined || w.path !== path) throw new XenstoreArgumentError(`no watch on ${path} with token ${JSON.stringify(token)}`);
    this.watches.delete(token);
    await this.request(XS.XS_UNWATCH, 0, requestPayload([path, token]), path, okReply('XS_UNWATCH'));
  }

  /** XS_TRANSACTION_START: a transaction id for the ops of transactionOps(). */
  async transactionStart(): Promise<number> {
    return this.request(XS.XS_TRANSACTION_START, 0, requestPayload(['']), undefined, parseTransactionId);
  }

  /** XS_TRANSACTION_END: commit (may fail with EAGAIN when another write intervened) or abort. */
  async transactionEnd(txId: number, commit: boolean): Promise<void> {
    checkTxId(txId);
    await this.request(XS.XS_TRANSACTION_END, txId, requestPayload([commit ? 'T' : 'F']), undefined, okReply('XS_TRANSACTION_END'));
  }

  /** The node operations inside transaction `txId`. */
  transactionOps(txId: number): XenstoreOps {
    checkTxId(txId);
    return this.ops(txId);
  }

  /**
   * Runs `fn` in a transaction and commits it. When the commit (or an op inside) answers EAGAIN,
   * the transaction is abandoned and `fn` runs again in a fresh one, up to transactionAttempts
   * times; then XenstoreTransactionConflictError. If `fn` throws anything else, the transaction is
   * aborted and the error rethrown. `fn` must be safe to run more than once.
   */
  async transaction<T>(fn: (tx: XenstoreOps) => Promise<T>): Promise<T> {
    for (let attempt = 1; attempt <= this.transactionAttempts; attempt++) {
      const txId = await this.transactionStart();
      // Ops kept past the end would carry a tx_id the server may already have given to someone else.
      let open = true;
      let result: T;
      try {
        result = await fn(this.ops(txId, () => open));
      } catch (e) {
        open = false;
        // The abort's own failure (the connection died, the server forgot the id) would hide why
        // the body failed, which is what the caller needs to see.
        await this.transactionEnd(txId, false).catch(() => undefined);
        if (isXenstoreError(e, 'EAGAIN')) continue;
        throw e;
      }
      open = false;
      try {
        await this.transactionEnd(txId, true);
        return result;
      } catch (e) {
        if (!isXenstoreError(e, 'EAGAIN')) throw e;
      }
    }
    throw new XenstoreTransactionConflictError(this.transactionAttempts);
  }

  /** XS_GET_DOMAIN_PATH: the home directory of domain `domid` (/local/domain/<domid>). */
  async getDomainPath(domid: number): Promise<string> {
    if (!Number.isInteger(domid) || domid < 0 || domid > 0xffff) throw new XenstoreArgumentError(`domid ${domid} is not a domid_t`);
    return this.request(XS.XS_GET_DOMAIN_PATH, 0, requestPayload([String(domid)]), undefined, (payload) => {
      const path = parseSingleString(payload, 'XS_GET_DOMAIN_PATH');
      if (!path.startsWith('/')) throw new XenstoreProtocolError(`XS_GET_DOMAIN_PATH: ${JSON.stringify(path.slice(0, 64))} is not an absolute path`);
      return path;
    });
  }

  private ops(txId: number, isOpen: () => boolean = () => true): XenstoreOps {
    const on = <T>(type: XsType, path: string, payload: Uint8Array, parse: (p: Uint8Array) => T): Promise<T> => {
      if (!isOpen()) return Promise.reject(new XenstoreArgumentError(`transaction ${txId} has ended`));
      return this.request(type, txId, payload, path, parse);
    };
    const pathOnly = (path: string): Uint8Array => {
      checkPath(path);
      return requestPayload([path]);
    };
    return {
      readBytes: async (path) => on(XS.XS_READ, path, pathOnly(path), rawReply),
      read: async (path) => on(XS.XS_READ, path, pathOnly(path), (p) => textDecoder.decode(p)),
      write: async (path, value) => {
        checkPath(path);
        const bytes = typeof value === 'string' ? encoder.encode(value) : value;
        return on(XS.XS_WRITE, path, requestPayload([path], bytes), okReply('XS_WRITE'));
      },
      mkdir: async (path) => on(XS.XS_MKDIR, path, pathOnly(path), okReply('XS_MKDIR')),
      rm: async (path) => on(XS.XS_RM, path, pathOnly(path), okReply('XS_RM')),
      directory: async (path) => {
        try {
          return await on(XS.XS_DIRECTORY, path, pathOnly(path), (p) => parseStringList(p, 'XS_DIRECTORY'));
        } catch (e) {
          // A child list longer than XENSTORE_PAYLOAD_MAX is only reachable in parts.
          if (!isXenstoreError(e, 'E2BIG')) throw e;
          return this.directoryInParts(path, on);
        }
      },
      getPerms: async (path) =>
        on(XS.XS_GET_PERMS, path, pathOnly(path), (p) => {
          const perms = parseStringList(p, 'XS_GET_PERMS');
          if (perms.length === 0) throw new XenstoreProtocolError('XS_GET_PERMS: a node always has an owner entry');
          return perms.map(parsePermission);
        }),
      setPerms: async (path, perms) => {
        checkPath(path);
        if (perms.length === 0) throw new XenstoreArgumentError('a permission list needs at least the owner entry');
        return on(XS.XS_SET_PERMS, path, requestPayload([path, ...perms.map(formatPermission)]), okReply('XS_SET_PERMS'));
      },
    };
  }

  /**
   * XS_DIRECTORY_PART from offset 0 until the server marks the end with an empty string. Each part
   * carries the node's generation; if it changes between parts the list is re-read from the start,
   * a bounded number of times.
   */
  private async directoryInParts(path: string, on: <T>(type: XsType, path: string, payload: Uint8Array, parse: (p: Uint8Array) => T) => Promise<T>): Promise<string[]> {
    for (let attempt = 0; attempt < DIRECTORY_PART_RESTARTS; attempt++) {
      const names: string[] = [];
      let generation: string | null = null;
      let offset = 0;
      for (;;) {
        const part = await on(XS.XS_DIRECTORY_PART, path, requestPayload([path, String(offset)]), parseDirectoryPart);
        if (generation !== null && part.generation !== generation) break;
        generation = part.generation;
        names.push(...part.names);
        if (part.complete) return names;
        const advance = part.names.reduce((n, name) => n + encoder.encode(name).byteLength + 1, 0);
        // A part that neither ends the list nor moves along it would have us ask forever.
        if (advance === 0) throw new XenstoreProtocolError(`XS_DIRECTORY_PART ${path}: empty part before the end of the list`);
        offset += advance;
      }
    }
    throw new XenstoreError('EAGAIN', 'XS_DIRECTORY_PART', path);
  }

  /**
   * Sends (or queues behind maxInFlight) one request; resolves with `parse` of the reply payload.
   * `parse` runs as the reply is dispatched, so a malformed reply is fatal to the whole client and
   * not just an error for this caller.
   */
  private request<T>(type: XsType, txId: number, payload: Uint8Array, path: string | undefined, parse: (payload: Uint8Array) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.fatal !== null) {
        reject(this.fatal);
        return;
      }
      // Checked here so an oversized payload fails this caller, not the send of a queued request.
      checkPayloadSize(type, payload);
      this.queued.push({ type, txId, payload, path, parse, resolve: resolve as (value: unknown) => void, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.fatal === null && this.inFlight.size < this.maxInFlight) {
      const r = this.queued.shift();
      if (r === undefined) return;
      const reqId = this.nextReqId();
      this.inFlight.set(reqId, r);
      try {
        this.transport.write(encodeMessage(r.type, reqId, r.txId, r.payload));
      } catch (e) {
        this.fail(e instanceof Error ? e : new XenstoreClosedError(`transport write failed: ${String(e)}`));
      }
    }
  }

  /** req_id 0 is what watch events carry; ours start at 1 and skip ids still outstanding. */
  private nextReqId(): number {
    do {
      this.lastReqId = this.lastReqId >= REQ_ID_MAX ? 1 : this.lastReqId + 1;
    } while (this.inFlight.has(this.lastReqId));
    return this.lastReqId;
  }

  private receive(bytes: Uint8Array): void {
    if (this.fatal !== null) return;
    try {
      this.decoder.push(bytes);
    } catch (e) {
      this.fail(e instanceof Error ? e : new XenstoreProtocolError(String(e)));
    }
  }

  private dispatch(m: XsMessage): void {
    if (this.fatal !== null) return;
    if (m.type === XS.XS_WATCH_EVENT) {
      this.watchEvent(m);
      return;
    }
    const r = this.inFlight.get(m.reqId);
    if (r === undefined) throw new XenstoreProtocolError(`${xsTypeName(m.type)} reply to req_id ${m.reqId}, which is not outstanding`);
    if (m.type !== r.type && m.type !== XS.XS_ERROR) {
      throw new XenstoreProtocolError(`req_id ${m.reqId} is a ${xsTypeName(r.type)} request, the reply is ${xsTypeName(m.type)}`);
    }
    // Parsed while still outstanding: if the payload is malformed, fail() rejects this one too.
    if (m.type === XS.XS_ERROR) {
      const code = parseErrorName(m.payload, xsTypeName(r.type));
      this.inFlight.delete(m.reqId);
      r.reject(new XenstoreError(code, xsTypeName(r.type), r.path));
    } else {
      const value = r.parse(m.payload);
      this.inFlight.delete(m.reqId);
      r.resolve(value);
    }
    this.pump();
  }

  private watchEvent(m: XsMessage): void {
    const fields = parseStringList(m.payload, 'XS_WATCH_EVENT');
    const [path, token] = fields;
    if (fields.length !== 2 || path === undefined || token === undefined) {
      throw new XenstoreProtocolError(`XS_WATCH_EVENT carries ${fields.length} strings, not path and token`);
    }
    // An unknown token is an event that crossed our XS_UNWATCH on the wire: expected, not an error.
    const w = this.watches.get(token);
    if (w === undefined) return;
    try {
      w.cb(path, token);
    } catch (e) {
      const report = this.options.onWatchError;
      if (report !== undefined) report(e, path, token);
      else
        queueMicrotask(() => {
          throw e;
        });
    }
  }

  private fail(error: Error): void {
    if (this.fatal !== null) return;
    this.fatal = error;
    this.resolveClosed(error);
    this.watches.clear();
    const all = [...this.inFlight.values(), ...this.queued];
    this.inFlight.clear();
    this.queued.length = 0;
    this.transport.close();
    for (const r of all) r.reject(error);
  }
}

/** How often a directory read in parts starts over because the node changed under it. */
const DIRECTORY_PART_RESTARTS = 8;

function parseDirectoryPart(payload: Uint8Array): { generation: string; names: string[]; complete: boolean } {
  const fields = parseStringList(payload, 'XS_DIRECTORY_PART');
  const [generation, ...rest] = fields;
  if (generation === undefined || !/^[0-9]{1,20}$/.test(generation)) throw new XenstoreProtocolError('XS_DIRECTORY_PART: no generation count');
  // Names are never empty, so an empty string can only be the end marker, and only last.
  const complete = rest.at(-1) === '';
  const names = complete ? rest.slice(0, -1) : rest;
  if (names.includes('')) throw new XenstoreProtocolError('XS_DIRECTORY_PART: empty child name');
  return { generation, names, complete };
}

function checkTxId(txId: number): void {
  if (!Number.isInteger(txId) || txId < 1 || txId > 0xffffffff) throw new XenstoreArgumentError(`transaction id ${txId} is not a uint32 above 0`);
}
