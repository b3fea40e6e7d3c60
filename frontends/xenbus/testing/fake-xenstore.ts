// A tiny XenStore server for tests of the client: a Map of nodes, a watch list and snapshot
// transactions, speaking xsd_sockmsg over whatever byte pipe a test gives it. It is deliberately
// not the real daemon (dom0/xenstore/) and shares none of the client's parsing: it reassembles
// frames and splits payloads with its own few lines, so a bug in the client's codec cannot be
// mirrored here and pass unnoticed. Only what the client specs need is modelled: no quotas, no
// permission enforcement, no DIRECTORY_PART, no domain introduction.
import { XS, XSD_SOCKMSG_SIZE, xsdSockmsg } from '../../../ring-buffer/xs-wire.ts';

interface Node {
  value: Uint8Array;
  perms: string[];
}

type Tree = Map<string, Node>;

interface Transaction {
  readonly tree: Tree;
  readonly startGeneration: number;
  readonly events: string[];
}

interface Watch {
  readonly conn: FakeConnection;
  readonly path: string;
  readonly token: string;
}

/** One request as the fake saw it, for tests that assert what went on the wire. */
export interface LoggedRequest {
  readonly type: number;
  readonly reqId: number;
  readonly txId: number;
  /** The NUL-separated fields of the payload, as text. */
  readonly fields: string[];
  /** The payload as sent. */
  readonly payload: Uint8Array;
}

class Failure extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const PATH_RE = /^\/(?:[A-Za-z0-9_@-]+(?:\/[A-Za-z0-9_@-]+)*)?$/;

export class FakeXenstore {
  private tree: Tree = new Map([['/', { value: new Uint8Array(0), perms: ['n0'] }]]);
  private generation = 0;
  private nextTx = 1;
  private readonly transactions = new Map<number, Transaction>();
  private readonly watches: Watch[] = [];
  readonly log: LoggedRequest[] = [];
  /** The next this-many commits answer EAGAIN, as if another writer had intervened. */
  failCommits = 0;
  /**
   * XS_DIRECTORY answers E2BIG when the child list is longer than this many bytes (xenstored's
   * limit is XENSTORE_PAYLOAD_MAX), and XS_DIRECTORY_PART returns at most this many bytes of names.
   */
  directoryLimit = 4096;
  /** Called before each XS_DIRECTORY_PART is answered, so a test can change the node in between. */
  beforeDirectoryPart: (() => void) | null = null;

  /** A client connection; `send` receives the bytes the server writes to it. */
  connect(send: (bytes: Uint8Array) => void, domid = 0): FakeConnection {
    return new FakeConnection(this, send, domid);
  }

  /** Server-side write, as another client would make it: fires watches. */
  write(path: string, value: string): void {
    this.doWrite(this.tree, path, enc.encode(value));
    this.generation++;
    this.fire(path);
  }

  /** Server-side removal, firing watches. */
  rm(path: string): void {
    this.doRm(this.tree, path);
    this.generation++;
    this.fire(path);
  }

  /** A node's value, or undefined. */
  read(path: string): string | undefined {
    const n = this.tree.get(path);
    return n === undefined ? undefined : dec.decode(n.value);
  }

  watchCount(): number {
    return this.watches.length;
  }

  /** Answers one request; returns the reply's type and payload. */
  handle(conn: FakeConnection, type: number, txId: number, payload: Uint8Array): { type: number; payload: Uint8Array } {
    const fields = splitFields(payload);
    const ok = { type, payload: enc.encode('OK\0') };
    try {
      const tx = txId === 0 || type === XS.XS_WATCH || type === XS.XS_UNWATCH ? undefined : this.transactions.get(txId);
      if (txId !== 0 && tx === undefined && type !== XS.XS_WATCH && type !== XS.XS_UNWATCH) throw new Failure('ENOENT');
      const tree = tx?.tree ?? this.tree;
      const changed = (path: string): void => {
        if (tx !== undefined) tx.events.push(path);
        else {
          this.generation++;
          this.fire(path);
        }
      };
      const path = (i = 0): string => this.absolute(conn, fields[i]);
      switch (type) {
        case XS.XS_READ: {
          const n = tree.get(path());
          if (n === undefined) throw new Failure('ENOENT');
          return { type, payload: n.value.slice() };
        }
        case XS.XS_WRITE: {
          // The value is everything after the first NUL, NULs included.
          const cut = payload.indexOf(0);
          if (cut < 0) throw new Failure('EINVAL');
          const p = path();
          this.doWrite(tree, p, payload.slice(cut + 1));
          changed(p);
          return ok;
        }
        case XS.XS_MKDIR: {
          const p = path();
          if (!tree.has(p)) {
            this.doWrite(tree, p, new Uint8Array(0));
            changed(p);
          }
          return ok;
        }
        case XS.XS_RM: {
          const p = path();
          this.doRm(tree, p);
          changed(p);
          return ok;
        }
        case XS.XS_DIRECTORY: {
          const p = path();
          if (!tree.has(p)) throw new Failure('ENOENT');
          const list = enc.encode(children(tree, p).map((c) => `${c}\0`).join(''));
          if (list.byteLength > this.directoryLimit) throw new Failure('E2BIG');
          return { type, payload: list };
        }
        case XS.XS_DIRECTORY_PART: {
          // <path>|<offset>| -> <generation>|<names from byte offset>|*, plus an empty string
          // once the list is complete.
          this.beforeDirectoryPart?.();
          const p = path();
          if (!tree.has(p) || fields.length !== 2) throw new Failure(tree.has(p) ? 'EINVAL' : 'ENOENT');
          const names = children(tree, p);
          let skip = Number(fields[1]);
          const out: string[] = [];
          let size = 0;
          let i = 0;
          for (; i < names.length; i++) {
            const n = names[i] ?? '';
            if (skip > 0) {
              skip -= n.length + 1;
              continue;
            }
            if (size + n.length + 1 > this.directoryLimit) break;
            out.push(n);
            size += n.length + 1;
          }
          const end = i === names.length ? '\0' : '';
          return { type, payload: enc.encode(`${this.generation}\0${out.map((n) => `${n}\0`).join('')}${end}`) };
        }
        case XS.XS_GET_PERMS: {
          const n = tree.get(path());
          if (n === undefined) throw new Failure('ENOENT');
          return { type, payload: enc.encode(n.perms.map((x) => `${x}\0`).join('')) };
        }
        case XS.XS_SET_PERMS: {
          const p = path();
          const n = tree.get(p);
          if (n === undefined) throw new Failure('ENOENT');
          const perms = fields.slice(1).filter((x) => x.length > 0);
          if (perms.length === 0 || !perms.every((x) => /^[nrwb][0-9]+$/.test(x))) throw new Failure('EINVAL');
          n.perms = perms;
          changed(p);
          return ok;
        }
        case XS.XS_WATCH: {
          const [w, token] = [fields[0] ?? '', fields[1] ?? ''];
          const wpath = w.startsWith('@') ? w : this.absolute(conn, w);
          if (this.watches.some((x) => x.conn === conn && x.path === wpath && x.token === token)) throw new Failure('EEXIST');
          this.watches.push({ conn, path: wpath, token });
          // The reply goes first, then the initial event, as xenstored does.
          queueMicrotask(() => conn.event(wpath, token));
          return ok;
        }
        case XS.XS_UNWATCH: {
          const [w, token] = [fields[0] ?? '', fields[1] ?? ''];
          const wpath = w.startsWith('@') ? w : this.absolute(conn, w);
          const i = this.watches.findIndex((x) => x.conn === conn && x.path === wpath && x.token === token);
          if (i < 0) throw new Failure('ENOENT');
          this.watches.splice(i, 1);
          return ok;
        }
        case XS.XS_TRANSACTION_START: {
          if (txId !== 0) throw new Failure('EINVAL');
          const id = this.nextTx++;
          this.transactions.set(id, { tree: cloneTree(this.tree), startGeneration: this.generation, events: [] });
          return { type, payload: enc.encode(`${id}\0`) };
        }
        case XS.XS_TRANSACTION_END: {
          if (tx === undefined) throw new Failure('ENOENT');
          this.transactions.delete(txId);
          if (fields[0] === 'F') return ok;
          if (fields[0] !== 'T') throw new Failure('EINVAL');
          if (this.failCommits > 0) {
            this.failCommits--;
            throw new Failure('EAGAIN');
          }
          if (this.generation !== tx.startGeneration) throw new Failure('EAGAIN');
          this.tree = tx.tree;
          this.generation++;
          for (const p of tx.events) this.fire(p);
          return ok;
        }
        case XS.XS_GET_DOMAIN_PATH:
          return { type, payload: enc.encode(`/local/domain/${fields[0] ?? ''}\0`) };
        default:
          throw new Failure('ENOSYS');
      }
    } catch (e) {
      if (!(e instanceof Failure)) throw e;
      return { type: XS.XS_ERROR, payload: enc.encode(`${e.code}\0`) };
    }
  }

  private absolute(conn: FakeConnection, p: string | undefined): string {
    if (p === undefined || p.length === 0) throw new Failure('EINVAL');
    const abs = p.startsWith('/') ? p : `/local/domain/${conn.domid}/${p}`;
    if (!PATH_RE.test(abs)) throw new Failure('EINVAL');
    return abs;
  }

  private doWrite(tree: Tree, path: string, value: Uint8Array): void {
    for (const a of ancestors(path)) if (!tree.has(a)) tree.set(a, { value: new Uint8Array(0), perms: ['n0'] });
    const n = tree.get(path);
    if (n === undefined) tree.set(path, { value, perms: ['n0'] });
    else n.value = value;
  }

  private doRm(tree: Tree, path: string): void {
    if (path === '/') throw new Failure('EINVAL');
    const parent = path.slice(0, path.lastIndexOf('/')) || '/';
    if (!tree.has(parent)) throw new Failure('ENOENT');
    for (const k of [...tree.keys()]) if (k === path || k.startsWith(`${path}/`)) tree.delete(k);
  }

  /** Fires every watch on `path`, on an ancestor of it, or (for a removal) below it. */
  private fire(path: string): void {
    for (const w of [...this.watches]) {
      if (w.path.startsWith('@')) continue;
      if (isChild(path, w.path)) w.conn.event(path, w.token);
      else if (isChild(w.path, path)) w.conn.event(w.path, w.token);
    }
  }

  dropConnection(conn: FakeConnection): void {
    for (let i = this.watches.length - 1; i >= 0; i--) if (this.watches[i]?.conn === conn) this.watches.splice(i, 1);
  }
}

/** One client's byte stream into the fake: reassembles frames and sends replies. */
export class FakeConnection {
  private buf = new Uint8Array(0);

  constructor(
    private readonly server: FakeXenstore,
    private readonly send: (bytes: Uint8Array) => void,
    readonly domid: number,
  ) {}

  /** Bytes from the client. */
  receive(bytes: Uint8Array): void {
    const joined = new Uint8Array(this.buf.byteLength + bytes.byteLength);
    joined.set(this.buf);
    joined.set(bytes, this.buf.byteLength);
    this.buf = joined;
    while (this.buf.byteLength >= XSD_SOCKMSG_SIZE) {
      const h = xsdSockmsg.decode(this.buf);
      if (this.buf.byteLength < XSD_SOCKMSG_SIZE + h.len) return;
      const payload = this.buf.slice(XSD_SOCKMSG_SIZE, XSD_SOCKMSG_SIZE + h.len);
      this.buf = this.buf.slice(XSD_SOCKMSG_SIZE + h.len);
      this.server.log.push({ type: h.type, reqId: h.req_id, txId: h.tx_id, fields: splitFields(payload), payload });
      const reply = this.server.handle(this, h.type, h.tx_id, payload);
      this.send(frame(reply.type, h.req_id, h.tx_id, reply.payload));
    }
  }

  event(path: string, token: string): void {
    this.send(frame(XS.XS_WATCH_EVENT, 0, 0, enc.encode(`${path}\0${token}\0`)));
  }

  close(): void {
    this.server.dropConnection(this);
  }
}

/** An xsd_sockmsg frame, for tests that play the server by hand. */
export function frame(type: number, reqId: number, txId: number, payload: Uint8Array | string): Uint8Array {
  const body = typeof payload === 'string' ? enc.encode(payload) : payload;
  const out = new Uint8Array(XSD_SOCKMSG_SIZE + body.byteLength);
  new DataView(out.buffer).setUint32(0, type, true);
  new DataView(out.buffer).setUint32(4, reqId, true);
  new DataView(out.buffer).setUint32(8, txId, true);
  new DataView(out.buffer).setUint32(12, body.byteLength, true);
  out.set(body, XSD_SOCKMSG_SIZE);
  return out;
}

/** The payload's NUL-separated fields; a trailing NUL does not make an empty last field. */
export function splitFields(payload: Uint8Array): string[] {
  const s = dec.decode(payload);
  const parts = s.split('\0');
  if (s.endsWith('\0')) parts.pop();
  return parts;
}

function ancestors(path: string): string[] {
  const out = ['/'];
  const parts = path.split('/').filter((x) => x.length > 0);
  for (let i = 1; i < parts.length; i++) out.push(`/${parts.slice(0, i).join('/')}`);
  return out;
}

function children(tree: Tree, path: string): string[] {
  const prefix = path === '/' ? '/' : `${path}/`;
  const out: string[] = [];
  for (const k of tree.keys()) {
    if (k !== path && k.startsWith(prefix) && !k.slice(prefix.length).includes('/')) out.push(k.slice(prefix.length));
  }
  return out;
}

function isChild(child: string, parent: string): boolean {
  return child === parent || parent === '/' || child.startsWith(`${parent}/`);
}

function cloneTree(tree: Tree): Tree {
  return new Map([...tree].map(([k, n]) => [k, { value: n.value.slice(), perms: [...n.perms] }]));
}

/** Wires a fake server end to a FakeXenstore connection. */
export function serveFake(fake: FakeXenstore, end: { send(b: Uint8Array): void; onData(cb: (b: Uint8Array) => void): void }, domid = 0): FakeConnection {
  const conn = fake.connect((b) => end.send(b), domid);
  end.onData((b) => conn.receive(b));
  return conn;
}
