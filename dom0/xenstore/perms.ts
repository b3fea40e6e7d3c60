// Node permissions. A node's ACL is a list of entries "<letter><domid>": the first names the
// owner and gives the access of every domain not listed later; the rest grant listed domains
// n(one), r(ead), w(rite) or b(oth). Privileged callers (dom0) may do anything; an owner may do
// anything to its node, including SET_PERMS; a domain that SET_TARGET points at another acts
// as that other domain.
import { XenstoreError } from './errors.ts';

export const XS_PERM_LETTERS = ['n', 'r', 'w', 'b'] as const;
export type XsPermLetter = (typeof XS_PERM_LETTERS)[number];

export interface XsPerm {
  readonly access: XsPermLetter;
  readonly domid: number;
}

/** Who is asking. */
export interface XsCaller {
  readonly domid: number;
  /** dom0 over the socket, or any connection the daemon trusts fully. */
  readonly privileged: boolean;
  /** The domain this caller was made a device model for (SET_TARGET), if any. */
  readonly target?: number | undefined;
}

export interface XsAccess {
  readonly read: boolean;
  readonly write: boolean;
  readonly owner: boolean;
}

const FULL: XsAccess = { read: true, write: true, owner: true };

function letterAccess(letter: XsPermLetter): XsAccess {
  return {
    read: letter === 'r' || letter === 'b',
    write: letter === 'w' || letter === 'b',
    owner: false,
  };
}

/** What `caller` may do to a node with ACL `perms`. */
export function accessFor(caller: XsCaller, perms: readonly XsPerm[]): XsAccess {
  if (caller.privileged) return FULL;
  const owner = perms[0];
  if (owner === undefined) return { read: false, write: false, owner: false };
  const me = (d: number): boolean => d === caller.domid || (caller.target !== undefined && d === caller.target);
  if (me(owner.domid)) return FULL;
  // Entries naming the caller itself win over entries naming its target.
  let viaTarget: XsPerm | undefined;
  for (let i = 1; i < perms.length; i++) {
    const p = perms[i]!;
    if (p.domid === caller.domid) return letterAccess(p.access);
    if (viaTarget === undefined && caller.target !== undefined && p.domid === caller.target) viaTarget = p;
  }
  return letterAccess((viaTarget ?? owner).access);
}

/** "b0" style string of one entry. */
export function formatPerm(p: XsPerm): string {
  return `${p.access}${p.domid}`;
}

/** Parses one "<letter><domid>" entry; EINVAL on anything else. */
export function parsePerm(s: string): XsPerm {
  const m = /^([nrwb])(\d{1,5})$/.exec(s);
  const domid = m ? Number(m[2]) : NaN;
  if (!m || domid > 0xffff) throw new XenstoreError('EINVAL', `bad permission "${s}"`);
  return { access: m[1] as XsPermLetter, domid };
}

/** The ACL of a node created by `creator` under a parent with `parentPerms`. */
export function inheritPerms(parentPerms: readonly XsPerm[], creator: XsCaller): XsPerm[] {
  const perms = parentPerms.map((p) => ({ ...p }));
  // As xenstored does: an unprivileged creator owns what it creates; a privileged one leaves
  // the parent's owner in place (dom0 writing into /local/domain/5 keeps domain 5 the owner).
  if (!creator.privileged && perms[0] !== undefined) perms[0] = { access: perms[0].access, domid: creator.domid };
  return perms;
}
