// Every request type against the engine, as dom0 and as a guest.
import { describe, expect, it } from 'vitest';
import { XS } from '../../ring-buffer/xs-wire.ts';
import { XenstoreEngine } from './engine.ts';
import { XSD_ERRORS } from './errors.ts';
import { failure, FakeSession, must, op } from './testing/harness.ts';

function setup() {
  const logs: string[] = [];
  const engine = new XenstoreEngine({ log: (l) => logs.push(l) });
  const dom0 = new FakeSession(0);
  engine.attach(dom0);
  return { engine, dom0, logs };
}

/** dom0 introduces domid and gives it /local/domain/<domid>, as a toolstack does. */
function guest(engine: XenstoreEngine, dom0: FakeSession, domid: number): FakeSession {
  must(engine, dom0, 'XS_INTRODUCE', `${domid}\0${1000 + domid}\0${10 + domid}\0`);
  must(engine, dom0, 'XS_MKDIR', `/local/domain/${domid}\0`);
  must(engine, dom0, 'XS_SET_PERMS', `/local/domain/${domid}\0n${domid}\0r0\0`);
  const s = new FakeSession(domid);
  engine.attach(s);
  return s;
}

describe('error table', () => {
  it('is io/xs_wire.h xsd_errors, in order', () => {
    expect(XSD_ERRORS).toEqual([
      'EINVAL', 'EACCES', 'EEXIST', 'EISDIR', 'ENOENT', 'ENOMEM', 'ENOSPC', 'EIO',
      'ENOTEMPTY', 'ENOSYS', 'EROFS', 'EBUSY', 'EAGAIN', 'EISCONN', 'E2BIG', 'EPERM',
    ]);
  });
});

describe('READ / WRITE / MKDIR / RM', () => {
  it('WRITE creates missing parents with empty values; READ returns the bytes', () => {
    const { engine, dom0 } = setup();
    expect(must(engine, dom0, 'XS_WRITE', '/a/b/c\0hello')).toBe('OK\0');
    expect(must(engine, dom0, 'XS_READ', '/a/b/c\0')).toBe('hello');
    expect(must(engine, dom0, 'XS_READ', '/a/b\0')).toBe('');
    expect(failure(engine, dom0, 'XS_READ', '/nope\0')).toBe('ENOENT');
  });

  it('values are binary: nuls survive', () => {
    const { engine, dom0 } = setup();
    must(engine, dom0, 'XS_WRITE', '/bin\0a\0b\0');
    expect(must(engine, dom0, 'XS_READ', '/bin\0')).toBe('a\0b\0');
  });

  it('MKDIR leaves an existing value alone', () => {
    const { engine, dom0 } = setup();
    must(engine, dom0, 'XS_WRITE', '/x\0v');
    must(engine, dom0, 'XS_MKDIR', '/x\0');
    expect(must(engine, dom0, 'XS_READ', '/x\0')).toBe('v');
    must(engine, dom0, 'XS_MKDIR', '/x/y/z\0');
    expect(must(engine, dom0, 'XS_DIRECTORY', '/x/y\0')).toBe('z\0');
  });

  it('RM removes the subtree; a missing node is fine only if its parent exists', () => {
    const { engine, dom0 } = setup();
    must(engine, dom0, 'XS_WRITE', '/a/b/c\u00001');
    must(engine, dom0, 'XS_WRITE', '/a/d\0');
    must(engine, dom0, 'XS_RM', '/a/b\0');
    expect(failure(engine, dom0, 'XS_READ', '/a/b/c\0')).toBe('ENOENT');
    expect(must(engine, dom0, 'XS_DIRECTORY', '/a\0')).toBe('d\0');
    expect(must(engine, dom0, 'XS_RM', '/a/b\0')).toBe('OK\0');
    expect(failure(engine, dom0, 'XS_RM', '/a/b/c\0')).toBe('ENOENT');
    expect(failure(engine, dom0, 'XS_RM', '/\0')).toBe('EINVAL');
    expect(engine.store.check()).toEqual([]);
  });

  it('rejects malformed payloads with EINVAL', () => {
    const { engine, dom0 } = setup();
    expect(failure(engine, dom0, 'XS_READ', '/a')).toBe('EINVAL'); // no nul
    expect(failure(engine, dom0, 'XS_READ', '/a\0/b\0')).toBe('EINVAL'); // two strings
    expect(failure(engine, dom0, 'XS_WRITE', '/a')).toBe('EINVAL'); // no separator
    expect(failure(engine, dom0, 'XS_READ', '/a//b\0')).toBe('EINVAL');
  });

  it('relative paths are under /local/domain/<domid>', () => {
    const { engine, dom0 } = setup();
    const g = guest(engine, dom0, 3);
    must(engine, g, 'XS_WRITE', 'data/x\0rel');
    expect(must(engine, dom0, 'XS_READ', '/local/domain/3/data/x\0')).toBe('rel');
  });
});

describe('DIRECTORY / DIRECTORY_PART', () => {
  it('lists leaf names in creation order, each nul-terminated', () => {
    const { engine, dom0 } = setup();
    for (const n of ['b', 'a', 'c']) must(engine, dom0, 'XS_WRITE', `/d/${n}\0`);
    expect(must(engine, dom0, 'XS_DIRECTORY', '/d\0')).toBe('b\0a\0c\0');
    expect(must(engine, dom0, 'XS_DIRECTORY', '/d/a\0')).toBe('');
  });

  it('DIRECTORY of a list longer than a payload is E2BIG; DIRECTORY_PART pages through it', () => {
    const { engine, dom0 } = setup();
    const names = Array.from({ length: 300 }, (_, i) => `child-number-${String(i).padStart(4, '0')}`);
    for (const n of names) must(engine, dom0, 'XS_MKDIR', `/big/${n}\0`);
    expect(failure(engine, dom0, 'XS_DIRECTORY', '/big\0')).toBe('E2BIG');
    const got: string[] = [];
    let offset = 0;
    let gen: string | undefined;
    for (let guard = 0; guard < 10; guard++) {
      const reply = must(engine, dom0, 'XS_DIRECTORY_PART', `/big\0${offset}\0`);
      expect(reply.length).toBeLessThanOrEqual(4096);
      const [g, ...rest] = reply.split('\0');
      gen ??= g;
      expect(g).toBe(gen); // unchanged node, same generation
      // rest ends with '' (the terminator of the last name); an extra '' marks the end.
      const end = reply.endsWith('\0\0');
      const items = rest.filter((s) => s !== '');
      got.push(...items);
      offset += items.reduce((n, s) => n + s.length + 1, 0);
      if (end) break;
    }
    expect(got).toEqual(names);
    expect(must(engine, dom0, 'XS_DIRECTORY_PART', `/big\0${offset + 50}\0`)).toBe(`${gen}\0\0`);
    expect(failure(engine, dom0, 'XS_DIRECTORY_PART', '/big\u00003\0')).toBe('EINVAL');
  });
});

describe('GET_PERMS / SET_PERMS', () => {
  it('round-trips an ACL; only the owner or dom0 may set it', () => {
    const { engine, dom0 } = setup();
    const g = guest(engine, dom0, 4);
    const h = guest(engine, dom0, 5);
    must(engine, g, 'XS_WRITE', 'x\0v');
    expect(must(engine, g, 'XS_GET_PERMS', 'x\0')).toBe('n4\0r0\0');
    must(engine, g, 'XS_SET_PERMS', 'x\0n4\0r5\0');
    expect(must(engine, h, 'XS_READ', '/local/domain/4/x\0')).toBe('v');
    expect(failure(engine, h, 'XS_SET_PERMS', '/local/domain/4/x\0b5\0')).toBe('EACCES');
    expect(failure(engine, h, 'XS_WRITE', '/local/domain/4/x\0w')).toBe('EACCES');
    expect(failure(engine, g, 'XS_SET_PERMS', 'x\0q1\0')).toBe('EINVAL');
    expect(failure(engine, g, 'XS_SET_PERMS', 'x\0')).toBe('EINVAL');
    expect(failure(engine, g, 'XS_SET_PERMS', 'nothere\0n4\0')).toBe('ENOENT');
  });

  it('guests cannot read or write what the ACL denies, and cannot create under unwritable nodes', () => {
    const { engine, dom0 } = setup();
    const g = guest(engine, dom0, 6);
    must(engine, dom0, 'XS_WRITE', '/secret\0s');
    expect(failure(engine, g, 'XS_READ', '/secret\0')).toBe('EACCES');
    expect(failure(engine, g, 'XS_WRITE', '/secret/x\0')).toBe('EACCES');
    expect(failure(engine, g, 'XS_RM', '/secret\0')).toBe('EACCES');
    expect(failure(engine, g, 'XS_DIRECTORY', '/\0')).toBe('EACCES');
    must(engine, dom0, 'XS_SET_PERMS', '/secret\0n0\0r6\0');
    expect(must(engine, g, 'XS_READ', '/secret\0')).toBe('s');
  });

  it('a node created by a guest is owned by it; one created by dom0 keeps the parent owner', () => {
    const { engine, dom0 } = setup();
    const g = guest(engine, dom0, 7);
    must(engine, g, 'XS_WRITE', 'mine/deep\0');
    expect(must(engine, dom0, 'XS_GET_PERMS', '/local/domain/7/mine/deep\0')).toBe('n7\0r0\0');
    must(engine, dom0, 'XS_WRITE', '/local/domain/7/bydom0\0');
    expect(must(engine, dom0, 'XS_GET_PERMS', '/local/domain/7/bydom0\0')).toBe('n7\0r0\0');
  });

  it('special nodes have ACLs dom0 can read and set', () => {
    const { engine, dom0 } = setup();
    const g = guest(engine, dom0, 8);
    expect(must(engine, dom0, 'XS_GET_PERMS', '@releaseDomain\0')).toBe('n0\0');
    expect(failure(engine, g, 'XS_GET_PERMS', '@releaseDomain\0')).toBe('EACCES');
    expect(failure(engine, g, 'XS_SET_PERMS', '@releaseDomain\0r8\0')).toBe('EACCES');
    must(engine, dom0, 'XS_SET_PERMS', '@releaseDomain\0n0\0r8\0');
    expect(must(engine, g, 'XS_GET_PERMS', '@releaseDomain\0')).toBe('n0\0r8\0');
    expect(failure(engine, dom0, 'XS_GET_PERMS', '@other\0')).toBe('ENOENT');
  });
});

describe('domain ops', () => {
  it('GET_DOMAIN_PATH and IS_DOMAIN_INTRODUCED', () => {
    const { engine, dom0 } = setup();
    expect(must(engine, dom0, 'XS_GET_DOMAIN_PATH', '12\0')).toBe('/local/domain/12\0');
    expect(must(engine, dom0, 'XS_IS_DOMAIN_INTRODUCED', '12\0')).toBe('F\0');
    expect(must(engine, dom0, 'XS_IS_DOMAIN_INTRODUCED', '0\0')).toBe('T\0');
    must(engine, dom0, 'XS_INTRODUCE', '12\u0000999\u00005\0');
    expect(must(engine, dom0, 'XS_IS_DOMAIN_INTRODUCED', '12\0')).toBe('T\0');
    expect(failure(engine, dom0, 'XS_GET_DOMAIN_PATH', 'x\0')).toBe('EINVAL');
  });

  it('INTRODUCE, RELEASE, RESUME, SET_TARGET, CONTROL are dom0-only', () => {
    const { engine, dom0 } = setup();
    const g = guest(engine, dom0, 2);
    expect(failure(engine, g, 'XS_INTRODUCE', '9\u00001\u00001\0')).toBe('EACCES');
    expect(failure(engine, g, 'XS_RELEASE', '2\0')).toBe('EACCES');
    expect(failure(engine, g, 'XS_RESUME', '2\0')).toBe('EACCES');
    expect(failure(engine, g, 'XS_SET_TARGET', '2\u00002\0')).toBe('EACCES');
    expect(failure(engine, g, 'XS_CONTROL', 'print\0hi\0')).toBe('EACCES');
  });

  it('INTRODUCE validates its arguments and hands the domain to onIntroduce', () => {
    const seen: unknown[] = [];
    const engine = new XenstoreEngine({ onIntroduce: (d) => seen.push(d) });
    const dom0 = new FakeSession(0);
    expect(failure(engine, dom0, 'XS_INTRODUCE', '0\u00001\u00001\0')).toBe('EINVAL');
    expect(failure(engine, dom0, 'XS_INTRODUCE', '32752\u00001\u00001\0')).toBe('EINVAL'); // DOMID_FIRST_RESERVED
    expect(failure(engine, dom0, 'XS_INTRODUCE', '3\u0000x\u00001\0')).toBe('EINVAL');
    expect(failure(engine, dom0, 'XS_INTRODUCE', '3\u00001\0')).toBe('EINVAL');
    must(engine, dom0, 'XS_INTRODUCE', '3\u0000-5\u00007\0');
    must(engine, dom0, 'XS_INTRODUCE', '3\u0000-5\u00007\0');
    expect(seen).toEqual([{ domid: 3, mfn: -5n, port: 7 }]);
  });

  it('RESUME needs an introduced domain; SET_TARGET needs both', () => {
    const { engine, dom0 } = setup();
    expect(failure(engine, dom0, 'XS_RESUME', '4\0')).toBe('ENOENT');
    guest(engine, dom0, 4);
    expect(must(engine, dom0, 'XS_RESUME', '4\0')).toBe('OK\0');
    expect(failure(engine, dom0, 'XS_SET_TARGET', '4\u00005\0')).toBe('ENOENT');
  });

  it('SET_TARGET lets a device-model domain act for its target', () => {
    const { engine, dom0 } = setup();
    const target = guest(engine, dom0, 4);
    const dm = guest(engine, dom0, 5);
    must(engine, target, 'XS_WRITE', 'private\0p');
    expect(failure(engine, dm, 'XS_READ', '/local/domain/4/private\0')).toBe('EACCES');
    must(engine, dom0, 'XS_SET_TARGET', '5\u00004\0');
    expect(must(engine, dm, 'XS_READ', '/local/domain/4/private\0')).toBe('p');
    must(engine, dm, 'XS_WRITE', '/local/domain/4/private\0q');
  });
});

describe('CONTROL, RESET_WATCHES and unknown types', () => {
  it('print/log/check/help/quota answer; other commands are EINVAL', () => {
    const { engine, dom0, logs } = setup();
    expect(must(engine, dom0, 'XS_CONTROL', 'print\0hello\0')).toBe('OK\0');
    expect(logs.some((l) => l.includes('hello'))).toBe(true);
    expect(must(engine, dom0, 'XS_CONTROL', 'log\0on\0')).toBe('OK\0');
    expect(must(engine, dom0, 'XS_CONTROL', 'check\0')).toBe('OK\0');
    expect(must(engine, dom0, 'XS_CONTROL', 'help\0')).toContain('print');
    expect(must(engine, dom0, 'XS_CONTROL', 'quota\0')).toContain('nodes 1000');
    expect(failure(engine, dom0, 'XS_CONTROL', 'live-update\0')).toBe('EINVAL');
  });

  it('RESET_WATCHES drops the caller\'s watches and transactions, and is refused inside one (XSA-484)', () => {
    const { engine, dom0 } = setup();
    must(engine, dom0, 'XS_WATCH', '/w\0t\0');
    const tx = Number(must(engine, dom0, 'XS_TRANSACTION_START', '\0').replace('\0', ''));
    expect(failure(engine, dom0, 'XS_RESET_WATCHES', '\0', tx)).toBe('EINVAL');
    must(engine, dom0, 'XS_RESET_WATCHES', '\0');
    expect(dom0.watches.size).toBe(0);
    expect(dom0.transactions.size).toBe(0);
  });

  it('unknown types are ENOSYS; reply-only types are EINVAL', () => {
    const { engine, dom0 } = setup();
    expect(op(engine, dom0, 20, '\0')).toEqual({ ok: false, text: 'ENOSYS' });
    expect(op(engine, dom0, 999, '\0')).toEqual({ ok: false, text: 'ENOSYS' });
    expect(op(engine, dom0, XS.XS_WATCH_EVENT, '\0')).toEqual({ ok: false, text: 'EINVAL' });
    expect(op(engine, dom0, XS.XS_ERROR, '\0')).toEqual({ ok: false, text: 'EINVAL' });
  });
});
