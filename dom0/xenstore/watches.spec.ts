import { describe, expect, it } from 'vitest';
import { XenstoreEngine } from './engine.ts';
import { failure, FakeSession, must } from './testing/harness.ts';

function setup() {
  const engine = new XenstoreEngine();
  const dom0 = new FakeSession(0);
  engine.attach(dom0);
  return { engine, dom0 };
}

function guest(engine: XenstoreEngine, dom0: FakeSession, domid: number): FakeSession {
  must(engine, dom0, 'XS_INTRODUCE', `${domid}\u00001\u00001\0`);
  must(engine, dom0, 'XS_MKDIR', `/local/domain/${domid}\0`);
  must(engine, dom0, 'XS_SET_PERMS', `/local/domain/${domid}\0n${domid}\0`);
  const s = new FakeSession(domid);
  engine.attach(s);
  return s;
}

describe('watches', () => {
  it('fire once on registration, with the path as given', () => {
    const { engine, dom0 } = setup();
    must(engine, dom0, 'XS_WATCH', '/not/there\0tok\0');
    expect(dom0.take()).toEqual([['/not/there', 'tok']]);
  });

  it('fire on changes at or below the watched path, not beside it', () => {
    const { engine, dom0 } = setup();
    const w = new FakeSession(0);
    engine.attach(w);
    must(engine, w, 'XS_WATCH', '/a\0t\0');
    w.take();
    must(engine, dom0, 'XS_WRITE', '/a\0');
    must(engine, dom0, 'XS_WRITE', '/a/b/c\0x');
    must(engine, dom0, 'XS_WRITE', '/ab\0');
    must(engine, dom0, 'XS_MKDIR', '/a/b\0'); // exists: no change, no event
    must(engine, dom0, 'XS_SET_PERMS', '/a/b\0n0\0');
    expect(w.take()).toEqual([
      ['/a', 't'],
      ['/a/b/c', 't'],
      ['/a/b', 't'],
    ]);
  });

  it('RM of a subtree fires for the removed path, and for watches inside it with their own path', () => {
    const { engine, dom0 } = setup();
    must(engine, dom0, 'XS_WRITE', '/x/y/z\0');
    const w = new FakeSession(0);
    engine.attach(w);
    must(engine, w, 'XS_WATCH', '/x\0top\0');
    must(engine, w, 'XS_WATCH', '/x/y/z\0inner\0');
    must(engine, w, 'XS_WATCH', '/elsewhere\0no\0');
    w.take();
    must(engine, dom0, 'XS_RM', '/x/y\0');
    expect(w.take()).toEqual([
      ['/x/y', 'top'],
      ['/x/y/z', 'inner'],
    ]);
  });

  it('only watchers that may read the node hear of it (XSA-115)', () => {
    const { engine, dom0 } = setup();
    const g = guest(engine, dom0, 5);
    must(engine, dom0, 'XS_WRITE', '/shared/open\0');
    must(engine, dom0, 'XS_SET_PERMS', '/shared/open\0r0\0');
    must(engine, g, 'XS_WATCH', '/shared\0snoop\0');
    g.take();
    must(engine, dom0, 'XS_WRITE', '/shared/secret\0s'); // inherits n0 from /shared
    must(engine, dom0, 'XS_WRITE', '/shared/open\0o');
    expect(g.take()).toEqual([['/shared/open', 'snoop']]);
  });

  it('relative watches get relative event paths', () => {
    const { engine, dom0 } = setup();
    const g = guest(engine, dom0, 6);
    must(engine, g, 'XS_WATCH', 'device\0dev\0');
    expect(g.take()).toEqual([['device', 'dev']]);
    must(engine, dom0, 'XS_WRITE', '/local/domain/6/device/vbd/768/state\0' + '1');
    expect(g.take()).toEqual([['device/vbd/768/state', 'dev']]);
  });

  it('changes inside a transaction fire at commit only, and never on abort', () => {
    const { engine, dom0 } = setup();
    const w = new FakeSession(0);
    engine.attach(w);
    must(engine, w, 'XS_WATCH', '/tx\0t\0');
    w.take();
    const tx = Number(must(engine, dom0, 'XS_TRANSACTION_START', '\0').replace('\0', ''));
    must(engine, dom0, 'XS_WRITE', '/tx/a\0', tx);
    expect(w.take()).toEqual([]);
    must(engine, dom0, 'XS_TRANSACTION_END', 'T\0', tx);
    expect(w.take()).toEqual([['/tx/a', 't']]);
    const tx2 = Number(must(engine, dom0, 'XS_TRANSACTION_START', '\0').replace('\0', ''));
    must(engine, dom0, 'XS_WRITE', '/tx/b\0', tx2);
    must(engine, dom0, 'XS_TRANSACTION_END', 'F\0', tx2);
    expect(w.take()).toEqual([]);
  });

  it('@introduceDomain and @releaseDomain fire for dom0, and for guests only if the ACL lets them', () => {
    const { engine, dom0 } = setup();
    const g = guest(engine, dom0, 7);
    must(engine, dom0, 'XS_WATCH', '@introduceDomain\0i\0');
    must(engine, dom0, 'XS_WATCH', '@releaseDomain\0r\0');
    must(engine, g, 'XS_WATCH', '@releaseDomain\0gr\0');
    must(engine, dom0, 'XS_WATCH', '/\0all\0');
    dom0.take();
    g.take();
    must(engine, dom0, 'XS_INTRODUCE', '9\u00001\u00001\0');
    expect(dom0.take()).toEqual([['@introduceDomain', 'i']]); // '/' does not see special events
    must(engine, dom0, 'XS_RELEASE', '9\0');
    expect(dom0.take()).toEqual([['@releaseDomain', 'r']]);
    expect(g.take()).toEqual([]);
    must(engine, dom0, 'XS_SET_PERMS', '@releaseDomain\0n0\0r7\0');
    must(engine, dom0, 'XS_INTRODUCE', '9\u00001\u00001\0');
    must(engine, dom0, 'XS_RELEASE', '9\0');
    expect(g.take()).toEqual([['@releaseDomain', 'gr']]);
  });

  it('UNWATCH removes exactly that watch; duplicates are EEXIST, unknown ones ENOENT', () => {
    const { engine, dom0 } = setup();
    must(engine, dom0, 'XS_WATCH', '/u\0t1\0');
    must(engine, dom0, 'XS_WATCH', '/u\0t2\0');
    expect(failure(engine, dom0, 'XS_WATCH', '/u\0t1\0')).toBe('EEXIST');
    must(engine, dom0, 'XS_UNWATCH', '/u\0t1\0');
    expect(failure(engine, dom0, 'XS_UNWATCH', '/u\0t1\0')).toBe('ENOENT');
    dom0.take();
    must(engine, dom0, 'XS_WRITE', '/u\0');
    expect(dom0.take()).toEqual([['/u', 't2']]);
  });
});
