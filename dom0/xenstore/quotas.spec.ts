// Each quota with xenstored's default: one below the limit a request succeeds, at the limit the
// next one is refused with xenstored's error, other domains are unaffected, dom0 is exempt.
import { describe, expect, it } from 'vitest';
import { XenstoreEngine } from './engine.ts';
import { resolveQuotas, XENSTORED_DEFAULT_QUOTAS } from './quotas.ts';
import { failure, FakeSession, must } from './testing/harness.ts';

function setup(quotas = {}) {
  const engine = new XenstoreEngine({ quotas });
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
  return { engine, dom0, guest };
}

describe('quota defaults', () => {
  it('are C xenstored\'s', () => {
    expect(XENSTORED_DEFAULT_QUOTAS).toEqual({
      nodes: 1000,
      nodeSize: 2048,
      watches: 128,
      transactions: 10,
      transactionNodes: 1024,
      outstandingRequests: 20,
      queuedWatchEvents: 1024,
      permsPerNode: 5,
      payload: 4096,
    });
  });

  it('are configurable, and validated', () => {
    expect(new XenstoreEngine({ quotas: { watches: 3 } }).quotas.watches).toBe(3);
    expect(() => resolveQuotas({ nodes: -1 })).toThrow(RangeError);
    expect(() => resolveQuotas({ payload: 5000 })).toThrow(RangeError);
  });
});

describe('nodes per domain (1000, ENOSPC)', () => {
  it('the 1000th node is created, the 1001st is refused, and nothing of a refused WRITE remains', () => {
    const { engine, guest } = setup();
    const g = guest(1);
    const other = guest(2);
    expect(engine.store.ownedBy(1)).toBe(1); // its home
    // Spread over subdirectories: one directory of 999 names would hit the node-size quota first.
    for (let i = 0; engine.store.ownedBy(1) < 999; i++) must(engine, g, 'XS_WRITE', `b${i % 20}/n${i}\0`);
    expect(engine.store.ownedBy(1)).toBe(999);
    // A WRITE needing two new nodes would make 1001.
    expect(failure(engine, g, 'XS_WRITE', 'deep/leaf\0')).toBe('ENOSPC');
    expect(failure(engine, g, 'XS_READ', 'deep\0')).toBe('ENOENT');
    must(engine, g, 'XS_WRITE', 'last\0');
    expect(engine.store.ownedBy(1)).toBe(1000);
    expect(failure(engine, g, 'XS_WRITE', 'more\0')).toBe('ENOSPC');
    expect(failure(engine, g, 'XS_MKDIR', 'more\0')).toBe('ENOSPC');
    // Overwriting existing nodes needs no new ones.
    must(engine, g, 'XS_WRITE', 'last\0still fine');
    must(engine, other, 'XS_WRITE', 'unaffected\0');
    expect(engine.store.check()).toEqual([]);
  });

  it('counts inside a transaction too', () => {
    const { engine, guest } = setup({ nodes: 3 });
    const g = guest(1);
    const tx = Number(must(engine, g, 'XS_TRANSACTION_START', '\0').replace('\0', ''));
    must(engine, g, 'XS_WRITE', 'a\0', tx);
    must(engine, g, 'XS_WRITE', 'b\0', tx);
    expect(failure(engine, g, 'XS_WRITE', 'c\0', tx)).toBe('ENOSPC');
  });

  it('is checked again at commit, so parallel transactions cannot add up past it', () => {
    const { engine, guest, dom0 } = setup({ nodes: 5 });
    const g = guest(1);
    must(engine, dom0, 'XS_MKDIR', '/local/domain/1/p\0'); // owned by 1, as its parent is
    must(engine, dom0, 'XS_MKDIR', '/local/domain/1/q\0');
    expect(engine.store.ownedBy(1)).toBe(3);
    const t1 = Number(must(engine, g, 'XS_TRANSACTION_START', '\0').replace('\0', ''));
    const t2 = Number(must(engine, g, 'XS_TRANSACTION_START', '\0').replace('\0', ''));
    // Disjoint paths, so no conflict: each alone stays within 5.
    must(engine, g, 'XS_WRITE', 'p/x\0', t1);
    must(engine, g, 'XS_WRITE', 'p/x2\0', t1);
    must(engine, g, 'XS_WRITE', 'q/y\0', t2);
    must(engine, g, 'XS_WRITE', 'q/y2\0', t2);
    must(engine, g, 'XS_TRANSACTION_END', 'T\0', t1);
    expect(failure(engine, g, 'XS_TRANSACTION_END', 'T\0', t2)).toBe('ENOSPC');
    expect(engine.store.ownedBy(1)).toBe(5);
    expect(failure(engine, g, 'XS_READ', 'q/y\0')).toBe('ENOENT');
  });

  it('does not bind dom0', () => {
    const { engine, dom0 } = setup({ nodes: 3 });
    for (let i = 0; i < 10; i++) must(engine, dom0, 'XS_WRITE', `/d0/${i}\0`);
    expect(engine.store.ownedBy(0)).toBeGreaterThan(10);
  });
});

describe('node size (2048, ENOSPC)', () => {
  it('a value of 2047 and of 2048 bytes is stored, 2049 is refused', () => {
    const { engine, guest, dom0 } = setup();
    const g = guest(1);
    must(engine, g, 'XS_WRITE', `v\0${'x'.repeat(2047)}`);
    must(engine, g, 'XS_WRITE', `v\0${'x'.repeat(2048)}`);
    expect(failure(engine, g, 'XS_WRITE', `v\0${'x'.repeat(2049)}`)).toBe('ENOSPC');
    expect(must(engine, g, 'XS_READ', 'v\0')).toHaveLength(2048);
    must(engine, dom0, 'XS_WRITE', `/local/domain/1/v\0${'x'.repeat(3000)}`);
  });

  it('child names count toward their parent\'s size', () => {
    const { engine, guest } = setup({ nodeSize: 10 });
    const g = guest(1);
    must(engine, g, 'XS_WRITE', 'p\0abcdef'); // 6 bytes
    must(engine, g, 'XS_WRITE', 'p/abc\0'); // + "abc\0" = 10
    expect(failure(engine, g, 'XS_WRITE', 'p/d\0')).toBe('ENOSPC'); // + "d\0" = 12
  });
});

describe('watches per connection (128, E2BIG)', () => {
  it('the 128th watch is set, the 129th refused; dom0 is exempt', () => {
    const { engine, guest, dom0 } = setup();
    const g = guest(1);
    for (let i = 0; i < 127; i++) must(engine, g, 'XS_WATCH', `w${i}\0t\0`);
    must(engine, g, 'XS_WATCH', 'w127\0t\0');
    expect(failure(engine, g, 'XS_WATCH', 'w128\0t\0')).toBe('E2BIG');
    must(engine, g, 'XS_UNWATCH', 'w0\0t\0');
    must(engine, g, 'XS_WATCH', 'w128\0t\0');
    for (let i = 0; i < 200; i++) must(engine, dom0, 'XS_WATCH', `/w${i}\0t\0`);
  });
});

describe('transactions per connection (10, ENOSPC)', () => {
  it('the 10th transaction opens, the 11th is refused until one ends', () => {
    const { engine, guest } = setup();
    const g = guest(1);
    const ids: number[] = [];
    for (let i = 0; i < 10; i++) ids.push(Number(must(engine, g, 'XS_TRANSACTION_START', '\0').replace('\0', '')));
    expect(new Set(ids).size).toBe(10);
    expect(failure(engine, g, 'XS_TRANSACTION_START', '\0')).toBe('ENOSPC');
    must(engine, g, 'XS_TRANSACTION_END', 'F\0', ids[0]);
    must(engine, g, 'XS_TRANSACTION_START', '\0');
  });
});

describe('nodes touched per transaction (1024, ENOSPC)', () => {
  it('the 1024th distinct node is fine, the 1025th refused', () => {
    const { engine, guest } = setup({ transactionNodes: 4 });
    const g = guest(1);
    const tx = Number(must(engine, g, 'XS_TRANSACTION_START', '\0').replace('\0', ''));
    for (const n of ['a', 'b', 'c']) failure(engine, g, 'XS_READ', `${n}\0`, tx);
    expect(failure(engine, g, 'XS_READ', 'd\0', tx)).toBe('ENOENT'); // 4th touched: allowed
    expect(failure(engine, g, 'XS_READ', 'e\0', tx)).toBe('ENOSPC');
    expect(failure(engine, g, 'XS_READ', 'a\0', tx)).toBe('ENOENT'); // already touched
  });
});

describe('permissions per node (5, ENOSPC)', () => {
  it('5 entries are accepted, 6 refused', () => {
    const { engine, guest } = setup();
    const g = guest(1);
    must(engine, g, 'XS_WRITE', 'acl\0');
    must(engine, g, 'XS_SET_PERMS', 'acl\0n1\0r2\0r3\0r4\0r5\0');
    expect(failure(engine, g, 'XS_SET_PERMS', 'acl\0n1\0r2\0r3\0r4\0r5\0r6\0')).toBe('ENOSPC');
  });
});
