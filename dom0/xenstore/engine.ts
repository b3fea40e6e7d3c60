// The XenStore engine: pure, no I/O. It owns the committed tree, the introduced domains and the
// registry of sessions (connections) that may hear watch events; a transport hands it one
// decoded request at a time for a session and sends back the reply it returns. Every request
// type is routed by one switch to a handler; unknown types answer ENOSYS.
import { XS } from '../../ring-buffer/xs-wire.ts';
import { XenstoreError, type XsdErrorName } from './errors.ts';
import {
  directory,
  directoryWithGeneration,
  getPerms,
  makeDirectory,
  readNode,
  removeNode,
  removeSubtree,
  setPerms,
  writeNode,
  type NodeOpContext,
} from './node-ops.ts';
import { args, decimal, latin1Bytes, nulStrings, oneArg, pathAndValue } from './payload.ts';
import { baseName, canonicalize, domainPath, parentOf, XS_SPECIAL_INTRODUCE, XS_SPECIAL_PATHS, XS_SPECIAL_RELEASE, type XsSpecialPath } from './paths.ts';
import { accessFor, formatPerm, parsePerm, type XsCaller, type XsPerm } from './perms.ts';
import { resolveQuotas, withinQuota, type XenstoreQuotas } from './quotas.ts';
import { NodeStore, ownerOf, type NodeView } from './store.ts';
import { XsTransaction, type XsChange } from './transaction.ts';
import { eventPath, type XsWatchList } from './watches.ts';

/** First domid Xen reserves for special meanings (DOMID_FIRST_RESERVED). */
export const DOMID_FIRST_RESERVED = 0x7ff0;

/** One client of the store as the engine sees it; the Connection class implements this. */
export interface XsSession {
  readonly domid: number;
  readonly privileged: boolean;
  readonly watches: XsWatchList;
  readonly transactions: Map<number, XsTransaction>;
  /**
   * Queue an XS_WATCH_EVENT. Called synchronously while a request (of this or another session)
   * is handled; events raised by a session's own request must reach the wire after its reply.
   */
  deliverWatchEvent(path: string, token: string): void;
}

export interface XsRequest {
  readonly type: number;
  readonly txId: number;
  readonly payload: Uint8Array;
}

export interface XsReply {
  /** The request's type, or XS_ERROR. */
  readonly type: number;
  readonly payload: Uint8Array;
}

export interface XsIntroducedDomain {
  readonly domid: number;
  /** Signed decimal on the wire, so kept wide. */
  readonly mfn: bigint;
  readonly port: number;
}

export interface XenstoreEngineConfig {
  readonly quotas?: Partial<XenstoreQuotas>;
  /** INTRODUCE of a new domain: the daemon maps its store page and binds the port. */
  readonly onIntroduce?: (domain: XsIntroducedDomain) => void;
  /** RELEASE (or releaseDomain()): the daemon drops the domain's ring connection. */
  readonly onRelease?: (domid: number) => void;
  /** CONTROL print and engine diagnostics. */
  readonly log?: (line: string) => void;
}

const OK = nulStrings('OK');

/** Types only the daemon sends; as requests they are malformed. */
const REPLY_ONLY = new Set<number>([XS.XS_WATCH_EVENT, XS.XS_ERROR]);

/** Types that may carry a tx_id (WATCH and UNWATCH ignore theirs, as xenstore.txt says). */
const TRANSACTIONAL = new Set<number>([
  XS.XS_READ,
  XS.XS_WRITE,
  XS.XS_MKDIR,
  XS.XS_RM,
  XS.XS_DIRECTORY,
  XS.XS_DIRECTORY_PART,
  XS.XS_GET_PERMS,
  XS.XS_SET_PERMS,
  XS.XS_TRANSACTION_END,
  XS.XS_WATCH,
  XS.XS_UNWATCH,
]);

export class XenstoreEngine {
  readonly quotas: XenstoreQuotas;
  readonly store: NodeStore;
  private readonly sessions = new Set<XsSession>();
  private readonly domains = new Map<number, XsIntroducedDomain>();
  /** SET_TARGET: domid -> the domain it acts for. */
  private readonly targets = new Map<number, number>();
  private readonly specialPerms = new Map<XsSpecialPath, readonly XsPerm[]>();
  private nextTxId = 1;

  constructor(private readonly config: XenstoreEngineConfig = {}) {
    this.quotas = resolveQuotas(config.quotas);
    this.store = new NodeStore([{ access: 'n', domid: 0 }]);
    for (const p of XS_SPECIAL_PATHS) this.specialPerms.set(p, [{ access: 'n', domid: 0 }]);
  }

  attach(session: XsSession): void {
    this.sessions.add(session);
  }

  /** The session is gone: its watches and open transactions go with it. */
  detach(session: XsSession): void {
    session.watches.clear();
    session.transactions.clear();
    this.sessions.delete(session);
  }

  isIntroduced(domid: number): boolean {
    return domid === 0 || this.domains.has(domid);
  }

  introducedDomains(): XsIntroducedDomain[] {
    return [...this.domains.values()];
  }

  /** Handles one request; never throws for anything a client can send. */
  handle(session: XsSession, req: XsRequest): XsReply {
    try {
      return { type: req.type, payload: this.dispatch(session, req) };
    } catch (e) {
      if (e instanceof XenstoreError) return errorReply(e.xsdError);
      // A bug of ours must not take the daemon down with it; the client sees EIO.
      this.config.log?.(`xenstore: internal error on type ${req.type} from domain ${session.domid}: ${String(e)}`);
      return errorReply('EIO');
    }
  }

  private dispatch(session: XsSession, req: XsRequest): Uint8Array {
    if (req.txId !== 0 && !TRANSACTIONAL.has(req.type)) {
      throw new XenstoreError('EINVAL', `type ${req.type} cannot be part of a transaction`);
    }
    const caller = this.callerOf(session);
    const p = req.payload;
    switch (req.type) {
      case XS.XS_READ:
        return readNode(this.ctx(session, req.txId), this.path(caller, oneArg(p)));
      case XS.XS_WRITE: {
        const { path, value } = pathAndValue(p);
        writeNode(this.ctx(session, req.txId), this.path(caller, path), value);
        return OK;
      }
      case XS.XS_MKDIR:
        makeDirectory(this.ctx(session, req.txId), this.path(caller, oneArg(p)));
        return OK;
      case XS.XS_RM:
        removeNode(this.ctx(session, req.txId), this.path(caller, oneArg(p)));
        return OK;
      case XS.XS_DIRECTORY:
        return this.directory(session, req.txId, oneArg(p));
      case XS.XS_DIRECTORY_PART:
        return this.directoryPart(session, req.txId, args(p, 2));
      case XS.XS_GET_PERMS:
        return this.getPerms(session, req.txId, oneArg(p));
      case XS.XS_SET_PERMS:
        return this.setPerms(session, req.txId, args(p, 2));
      case XS.XS_WATCH:
        return this.watch(session, args(p, 2));
      case XS.XS_UNWATCH: {
        const [path, token] = args(p, 2) as [string, string];
        session.watches.remove(canonicalize(path, caller.domid, caller.privileged, true).path, token);
        return OK;
      }
      case XS.XS_TRANSACTION_START:
        return this.transactionStart(session, req.txId);
      case XS.XS_TRANSACTION_END:
        return this.transactionEnd(session, req.txId, oneArg(p));
      case XS.XS_INTRODUCE:
        return this.introduce(caller, args(p, 3));
      case XS.XS_RELEASE:
        this.requirePrivileged(caller, 'RELEASE');
        this.releaseDomain(this.domid(oneArg(p)));
        return OK;
      case XS.XS_IS_DOMAIN_INTRODUCED:
        return nulStrings(this.isIntroduced(this.domid(oneArg(p), true)) ? 'T' : 'F');
      case XS.XS_GET_DOMAIN_PATH:
        return nulStrings(domainPath(this.domid(oneArg(p), true)));
      case XS.XS_RESUME: {
        this.requirePrivileged(caller, 'RESUME');
        const domid = this.domid(oneArg(p));
        if (!this.domains.has(domid)) throw new XenstoreError('ENOENT', `domain ${domid} is not introduced`);
        return OK;
      }
      case XS.XS_SET_TARGET:
        return this.setTarget(caller, args(p, 2));
      case XS.XS_RESET_WATCHES:
        session.watches.clear();
        session.transactions.clear();
        return OK;
      case XS.XS_CONTROL:
        return this.control(caller, args(p, 1));
      default:
        if (REPLY_ONLY.has(req.type)) throw new XenstoreError('EINVAL', `type ${req.type} is not a request`);
        throw new XenstoreError('ENOSYS', `unknown request type ${req.type}`);
    }
  }

  private callerOf(session: XsSession): XsCaller {
    return { domid: session.domid, privileged: session.privileged, target: this.targets.get(session.domid) };
  }

  private path(caller: XsCaller, raw: string): string {
    return canonicalize(raw, caller.domid, caller.privileged).path;
  }

  private domid(s: string, allowDom0 = false): number {
    const d = decimal(s, 0xffff, 'domid');
    if ((!allowDom0 && d === 0) || d >= DOMID_FIRST_RESERVED) throw new XenstoreError('EINVAL', `domid ${d} is not a guest domain`);
    return d;
  }

  private requirePrivileged(caller: XsCaller, what: string): void {
    if (!caller.privileged) throw new XenstoreError('EACCES', `${what} is for dom0 only`);
  }

  /** The tree a request works on, and where its changes go: now, or at commit. */
  private ctx(session: XsSession, txId: number): NodeOpContext {
    const caller = this.callerOf(session);
    let view: NodeView = this.store;
    let announce = (c: XsChange): void => this.fire(c);
    if (txId !== 0) {
      const tx = session.transactions.get(txId);
      if (!tx) throw new XenstoreError('ENOENT', `no transaction ${txId}`);
      view = tx;
      announce = (c) => tx.changes.push(c);
    }
    return { caller, view, quotas: this.quotas, announce };
  }

  private directory(session: XsSession, txId: number, raw: string): Uint8Array {
    const caller = this.callerOf(session);
    const reply = nulStrings(...directory(this.ctx(session, txId), this.path(caller, raw)));
    if (reply.byteLength > this.quotas.payload) throw new XenstoreError('E2BIG', 'child list longer than a payload; use DIRECTORY_PART');
    return reply;
  }

  /**
   * "<gen>\0" then whole child names from byte `offset` of the full list while they fit; an
   * extra empty string marks that the list ended within this reply.
   */
  private directoryPart(session: XsSession, txId: number, a: string[]): Uint8Array {
    const caller = this.callerOf(session);
    const { generation, children } = directoryWithGeneration(this.ctx(session, txId), this.path(caller, a[0]!));
    const offset = decimal(a[1]!, 0xffffffff, 'offset');
    let out = `${generation}\0`;
    let at = 0;
    let i = 0;
    while (i < children.length && at < offset) at += children[i++]!.length + 1;
    if (at > offset) throw new XenstoreError('EINVAL', `offset ${offset} is inside a name`);
    for (; i < children.length; i++) {
      const item = `${children[i]}\0`;
      // Leave room for the end marker.
      if (out.length + item.length + 1 > this.quotas.payload) return latin1Bytes(out);
      out += item;
    }
    return latin1Bytes(`${out}\0`);
  }

  private getPerms(session: XsSession, txId: number, raw: string): Uint8Array {
    const caller = this.callerOf(session);
    const c = canonicalize(raw, caller.domid, caller.privileged, true);
    const perms = c.path.startsWith('@') ? this.special(c.path, caller, 'read') : getPerms(this.ctx(session, txId), c.path);
    return nulStrings(...perms.map(formatPerm));
  }

  private setPerms(session: XsSession, txId: number, a: string[]): Uint8Array {
    const caller = this.callerOf(session);
    const c = canonicalize(a[0]!, caller.domid, caller.privileged, true);
    // A trailing empty string (some clients end the list with an extra nul) is not an entry.
    const entries = a.slice(1).filter((s, i, all) => !(s === '' && i === all.length - 1));
    if (entries.length === 0) throw new XenstoreError('EINVAL', 'SET_PERMS needs at least the owner entry');
    const perms = entries.map(parsePerm);
    if (c.path.startsWith('@')) {
      this.special(c.path, caller, 'owner');
      this.specialPerms.set(c.path as XsSpecialPath, perms);
      return OK;
    }
    setPerms(this.ctx(session, txId), c.path, perms);
    return OK;
  }

  private special(path: string, caller: XsCaller, need: 'read' | 'owner'): readonly XsPerm[] {
    const perms = this.specialPerms.get(path as XsSpecialPath);
    if (!perms) throw new XenstoreError('ENOENT', `no special node ${path}`);
    if (!accessFor(caller, perms)[need]) throw new XenstoreError('EACCES', `no ${need} access to ${path}`);
    return perms;
  }

  private watch(session: XsSession, a: string[]): Uint8Array {
    const caller = this.callerOf(session);
    const c = canonicalize(a[0]!, caller.domid, caller.privileged, true);
    const token = a[1]!;
    if (!caller.privileged && !withinQuota(session.watches.size + 1, this.quotas.watches)) {
      throw new XenstoreError('E2BIG', `more than ${this.quotas.watches} watches`);
    }
    session.watches.add({ path: c.path, token, relativeBase: c.relativeBase });
    // Fires once straight away, with the path as the client gave it.
    session.deliverWatchEvent(a[0]!, token);
    return OK;
  }

  private transactionStart(session: XsSession, txId: number): Uint8Array {
    if (txId !== 0) throw new XenstoreError('EINVAL', 'TRANSACTION_START inside a transaction');
    if (!session.privileged && !withinQuota(session.transactions.size + 1, this.quotas.transactions)) {
      throw new XenstoreError('ENOSPC', `more than ${this.quotas.transactions} open transactions`);
    }
    let id = this.nextTxId;
    while (id === 0 || session.transactions.has(id)) id = (id + 1) >>> 0;
    this.nextTxId = (id + 1) >>> 0;
    const quota = session.privileged ? 0 : this.quotas.transactionNodes;
    session.transactions.set(id, new XsTransaction(id, this.store, quota));
    return nulStrings(String(id));
  }

  private transactionEnd(session: XsSession, txId: number, verdict: string): Uint8Array {
    if (verdict !== 'T' && verdict !== 'F') throw new XenstoreError('EINVAL', `TRANSACTION_END takes T or F, got "${verdict}"`);
    const tx = session.transactions.get(txId);
    if (!tx) throw new XenstoreError('ENOENT', `no transaction ${txId}`);
    session.transactions.delete(txId);
    if (verdict === 'F') return OK;
    if (tx.conflicts()) throw new XenstoreError('EAGAIN', `transaction ${txId} conflicts with a change committed since`);
    // Each write was checked against the count of its time; transactions committed since may
    // have used up the room, so the total is checked again now.
    if (!session.privileged && tx.growthOf(session.domid) > 0 && !withinQuota(tx.ownedBy(session.domid), this.quotas.nodes)) {
      throw new XenstoreError('ENOSPC', `commit would make domain ${session.domid} own more than ${this.quotas.nodes} nodes`);
    }
    tx.apply();
    for (const c of tx.changes) this.fire(c);
    return OK;
  }

  private introduce(caller: XsCaller, a: string[]): Uint8Array {
    this.requirePrivileged(caller, 'INTRODUCE');
    const domid = this.domid(a[0]!);
    if (!/^-?\d{1,20}$/.test(a[1]!)) throw new XenstoreError('EINVAL', `bad mfn "${a[1]}"`);
    const mfn = BigInt(a[1]!);
    const port = decimal(a[2]!, 0xffffffff, 'event channel');
    // Introducing a domain again is how a toolstack re-establishes its ring; no new event.
    if (this.domains.has(domid)) return OK;
    const domain = { domid, mfn, port };
    this.domains.set(domid, domain);
    this.config.onIntroduce?.(domain);
    this.fire({ path: XS_SPECIAL_INTRODUCE, recursive: false, perms: this.specialPerms.get(XS_SPECIAL_INTRODUCE)! });
    return OK;
  }

  /**
   * Forgets a domain: its /local/domain/<domid> tree goes, and so does every node it owned
   * elsewhere, with its subtree (XSA-419: otherwise a rebooting guest could pile up nodes outside
   * its quota); ACL entries naming it are dropped, its sessions lose watches and transactions,
   * and @releaseDomain fires. A later domain reusing the domid inherits nothing (XSA-322).
   */
  releaseDomain(domid: number): void {
    if (!this.domains.has(domid)) throw new XenstoreError('ENOENT', `domain ${domid} is not introduced`);
    this.domains.delete(domid);
    this.targets.delete(domid);
    for (const [d, t] of this.targets) if (t === domid) this.targets.delete(d);
    const doomed = [domainPath(domid)];
    for (const path of this.store.paths()) if (path !== '/' && ownerOf(this.store.get(path)!) === domid) doomed.push(path);
    // Shortest first: a subtree removed whole takes its owned descendants with it.
    doomed.sort((a, b) => a.length - b.length);
    for (const path of doomed) {
      const node = this.store.get(path);
      if (!node) continue;
      removeSubtree(this.store, path);
      const parentPath = parentOf(path);
      const parent = this.store.get(parentPath);
      const name = baseName(path);
      if (parent) this.store.put(parentPath, { ...parent, children: parent.children.filter((c) => c !== name) });
      this.fire({ path, recursive: true, perms: node.perms });
    }
    // What is left can only name the domain in ACL entries (or own the root, which stays).
    for (const path of [...this.store.paths()]) {
      const node = this.store.get(path)!;
      if (!node.perms.some((p) => p.domid === domid)) continue;
      const [owner, ...rest] = node.perms;
      const perms = [owner!.domid === domid ? { access: owner!.access, domid: 0 } : owner!, ...rest.filter((p) => p.domid !== domid)];
      this.store.put(path, { ...node, perms });
    }
    for (const s of this.sessions) {
      if (s.domid === domid && !s.privileged) {
        s.watches.clear();
        s.transactions.clear();
      }
    }
    this.config.onRelease?.(domid);
    this.fire({ path: XS_SPECIAL_RELEASE, recursive: false, perms: this.specialPerms.get(XS_SPECIAL_RELEASE)! });
  }

  private setTarget(caller: XsCaller, a: string[]): Uint8Array {
    this.requirePrivileged(caller, 'SET_TARGET');
    const domid = this.domid(a[0]!);
    const target = this.domid(a[1]!);
    if (!this.domains.has(domid)) throw new XenstoreError('ENOENT', `domain ${domid} is not introduced`);
    if (!this.domains.has(target)) throw new XenstoreError('ENOENT', `domain ${target} is not introduced`);
    this.targets.set(domid, target);
    return OK;
  }

  private control(caller: XsCaller, a: string[]): Uint8Array {
    this.requirePrivileged(caller, 'CONTROL');
    const [cmd, ...rest] = a;
    switch (cmd) {
      case 'print':
        this.config.log?.(`xenstore: ${rest.join(' ')}`);
        return OK;
      case 'log':
        // Logging goes to the daemon's logger; there is nothing to switch.
        return OK;
      case 'check': {
        const problems = this.store.check();
        for (const p of problems) this.config.log?.(`xenstore check: ${p}`);
        if (problems.length > 0) throw new XenstoreError('EIO', `${problems.length} inconsistencies`);
        return OK;
      }
      case 'quota':
        return nulStrings(
          Object.entries(this.quotas)
            .map(([k, v]) => `${k} ${v}`)
            .join('\n'),
        );
      case 'help':
        return nulStrings('check\nhelp\nlog\nprint\nquota');
      default:
        throw new XenstoreError('EINVAL', `unknown CONTROL command "${cmd}"`);
    }
  }

  /** Tells every watcher that may read the changed node. */
  private fire(change: XsChange): void {
    for (const s of this.sessions) {
      const caller = this.callerOf(s);
      if (!accessFor(caller, change.perms).read) continue;
      for (const w of s.watches.all()) {
        const path = eventPath(w, change);
        if (path !== null) s.deliverWatchEvent(path, w.token);
      }
    }
  }
}

export function errorReply(name: XsdErrorName): XsReply {
  return { type: XS.XS_ERROR, payload: nulStrings(name) };
}
