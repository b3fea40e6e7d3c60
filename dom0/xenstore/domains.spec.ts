// Domain release: its home goes, its ownership and ACL entries elsewhere go, and a new domain
// given the same domid inherits nothing (XSA-322, XSA-419).
import { describe, expect, it } from 'vitest';
import { XenstoreEngine } from './engine.ts';
import { failure, FakeSession, must } from './testing/harness.ts';

function setup() {
  const released: number[] = [];
  const engine = new XenstoreEngine({ onRelease: (d) => released.push(d) });
  const dom0 = new FakeSession(0);
  engine.attach(dom0);
  const guest = (domid: number): FakeSession => {
    must(engine, dom0, 'XS_INTRODUCE', `${domid}\u00001\u00001\0`);
    must(engine, dom0, 'XS_MKDIR', `/local/domain/${domid}\0`);
    must(engine, dom0, 'XS_SET_PERMS', `/local/domain/${domid}\0n${domid}\0`);
    const s = new FakeSession(domid);
    engine.attach(s);
    return s;
  };
  return { engine, dom0, guest, released };
}

describe('RELEASE', () => {
  it('removes /local/domain/<domid>, fires watches on it, and calls onRelease', () => {
    const { engine, dom0, guest, released } = setup();
    const g = guest(4);
    must(engine, g, 'XS_WRITE', 'device/vbd/768/state\0' + '4');
    must(engine, dom0, 'XS_WATCH', '/local/domain/4/device\0dev\0');
    dom0.take();
    must(engine, dom0, 'XS_RELEASE', '4\0');
    expect(failure(engine, dom0, 'XS_READ', '/local/domain/4\0')).toBe('ENOENT');
    expect(must(engine, dom0, 'XS_DIRECTORY', '/local/domain\0')).toBe('');
    expect(dom0.take()).toEqual([['/local/domain/4/device', 'dev']]);
    expect(released).toEqual([4]);
    expect(must(engine, dom0, 'XS_IS_DOMAIN_INTRODUCED', '4\0')).toBe('F\0');
    expect(failure(engine, dom0, 'XS_RELEASE', '4\0')).toBe('ENOENT');
    expect(engine.store.ownedBy(4)).toBe(0);
    expect(engine.store.check()).toEqual([]);
  });

  it('drops the released domain\'s watches and transactions', () => {
    const { engine, dom0, guest } = setup();
    const g = guest(4);
    must(engine, g, 'XS_WATCH', '/local/domain/4\0t\0');
    must(engine, g, 'XS_TRANSACTION_START', '\0');
    must(engine, dom0, 'XS_RELEASE', '4\0');
    expect(g.watches.size).toBe(0);
    expect(g.transactions.size).toBe(0);
  });

  it('removes nodes the domain owned outside its home, with their subtrees (XSA-419)', () => {
    const { engine, dom0, guest } = setup();
    const g = guest(5);
    must(engine, dom0, 'XS_MKDIR', '/vm\0');
    must(engine, dom0, 'XS_SET_PERMS', '/vm\0n0\0b5\0');
    must(engine, g, 'XS_WRITE', '/vm/owned-by-5/below\0x');
    must(engine, dom0, 'XS_WRITE', '/vm/owned-by-5/dom0-wrote-this\0y'); // keeps owner 5
    must(engine, dom0, 'XS_WATCH', '/vm\0vm\0');
    dom0.take();
    must(engine, dom0, 'XS_RELEASE', '5\0');
    expect(failure(engine, dom0, 'XS_READ', '/vm/owned-by-5\0')).toBe('ENOENT');
    expect(must(engine, dom0, 'XS_DIRECTORY', '/vm\0')).toBe('');
    expect(dom0.take()).toContainEqual(['/vm/owned-by-5', 'vm']);
    expect(engine.store.ownedBy(5)).toBe(0);
    expect(engine.store.check()).toEqual([]);
  });

  it('a reused domid inherits no ACL entries', () => {
    const { engine, dom0, guest } = setup();
    guest(5);
    must(engine, dom0, 'XS_MKDIR', '/vm\0');
    must(engine, dom0, 'XS_SET_PERMS', '/vm\0n0\0b5\0');
    must(engine, dom0, 'XS_WRITE', '/backend\0');
    must(engine, dom0, 'XS_SET_PERMS', '/backend\0n0\0r5\0');
    must(engine, dom0, 'XS_RELEASE', '5\0');
    expect(must(engine, dom0, 'XS_GET_PERMS', '/vm\0')).toBe('n0\0');
    expect(must(engine, dom0, 'XS_GET_PERMS', '/backend\0')).toBe('n0\0');
    const reborn = guest(5);
    expect(failure(engine, reborn, 'XS_READ', '/backend\0')).toBe('EACCES');
    expect(failure(engine, reborn, 'XS_WRITE', '/vm/new\0')).toBe('EACCES');
    expect(must(engine, reborn, 'XS_DIRECTORY', '/local/domain/5\0')).toBe('');
    expect(engine.store.check()).toEqual([]);
  });

  it('a root owned by the released domain passes to dom0 rather than going', () => {
    const { engine, dom0, guest } = setup();
    guest(5);
    must(engine, dom0, 'XS_SET_PERMS', '/\0n5\0');
    must(engine, dom0, 'XS_RELEASE', '5\0');
    expect(must(engine, dom0, 'XS_GET_PERMS', '/\0')).toBe('n0\0');
    expect(engine.store.check()).toEqual([]);
  });

  it('a transaction that touched the released domain\'s nodes cannot commit', () => {
    const { engine, dom0, guest } = setup();
    guest(6);
    const tx = Number(must(engine, dom0, 'XS_TRANSACTION_START', '\0').replace('\0', ''));
    must(engine, dom0, 'XS_WRITE', '/local/domain/6/late\0', tx);
    must(engine, dom0, 'XS_RELEASE', '6\0');
    expect(failure(engine, dom0, 'XS_TRANSACTION_END', 'T\0', tx)).toBe('EAGAIN');
    expect(failure(engine, dom0, 'XS_READ', '/local/domain/6\0')).toBe('ENOENT');
  });

  it('releaseDomain() is the same operation for the daemon\'s own use', () => {
    const { engine, dom0, guest } = setup();
    guest(7);
    engine.releaseDomain(7);
    expect(engine.isIntroduced(7)).toBe(false);
    expect(failure(engine, dom0, 'XS_READ', '/local/domain/7\0')).toBe('ENOENT');
  });
});
