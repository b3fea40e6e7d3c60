import { describe, expect, it } from 'vitest';
import { XenstoreError } from './errors.ts';
import { accessFor, formatPerm, inheritPerms, parsePerm, type XsPerm } from './perms.ts';

const P = (...s: string[]): XsPerm[] => s.map(parsePerm);
const dom = (domid: number, target?: number) => ({ domid, privileged: false, target });

describe('permissions', () => {
  it('parses and formats n/r/w/b entries', () => {
    expect(parsePerm('b12')).toEqual({ access: 'b', domid: 12 });
    expect(formatPerm({ access: 'r', domid: 3 })).toBe('r3');
    for (const bad of ['x1', 'r', 'r-1', 'r70000', ' r1', 'r1 ']) expect(() => parsePerm(bad)).toThrow(XenstoreError);
  });

  it('dom0 may do anything; the owner may do anything', () => {
    expect(accessFor({ domid: 0, privileged: true }, P('n5'))).toEqual({ read: true, write: true, owner: true });
    expect(accessFor(dom(5), P('n5'))).toEqual({ read: true, write: true, owner: true });
  });

  it('the first entry is the default for unlisted domains; later entries name domains', () => {
    const acl = P('r1', 'w2', 'n3', 'b4');
    expect(accessFor(dom(2), acl)).toEqual({ read: false, write: true, owner: false });
    expect(accessFor(dom(3), acl)).toEqual({ read: false, write: false, owner: false });
    expect(accessFor(dom(4), acl)).toEqual({ read: true, write: true, owner: false });
    expect(accessFor(dom(9), acl)).toEqual({ read: true, write: false, owner: false });
  });

  it('a domain with a target acts as its target (SET_TARGET)', () => {
    expect(accessFor(dom(8, 5), P('n5')).owner).toBe(true);
    expect(accessFor(dom(8, 5), P('n0', 'r5')).read).toBe(true);
    expect(accessFor(dom(8), P('n0', 'r5')).read).toBe(false);
  });

  it('new nodes inherit the parent ACL; an unprivileged creator becomes owner, dom0 does not', () => {
    expect(inheritPerms(P('n0', 'r3'), dom(3))).toEqual(P('n3', 'r3'));
    expect(inheritPerms(P('n5', 'r0'), { domid: 0, privileged: true })).toEqual(P('n5', 'r0'));
  });
});
