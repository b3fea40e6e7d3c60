import { describe, expect, it } from 'vitest';
import { XenstoreEngine } from './engine.ts';
import { failure, FakeSession, must } from './testing/harness.ts';

function setup() {
  const engine = new XenstoreEngine();
  const a = new FakeSession(0);
  const b = new FakeSession(0);
  engine.attach(a);
  engine.attach(b);
  return { engine, a, b };
}

const start = (engine: XenstoreEngine, s: FakeSession): number => Number(must(engine, s, 'XS_TRANSACTION_START', '\0').replace(/\0$/, ''));

describe('transactions', () => {
  it('changes are private until commit, then all visible at once', () => {
    const { engine, a, b } = setup();
    must(engine, a, 'XS_WRITE', '/t/x\0old');
    const tx = start(engine, a);
    expect(tx).not.toBe(0);
    must(engine, a, 'XS_WRITE', '/t/x\0new', tx);
    must(engine, a, 'XS_WRITE', '/t/y/z\0made', tx);
    must(engine, a, 'XS_RM', '/t/gone\0', tx);
    expect(must(engine, a, 'XS_READ', '/t/x\0', tx)).toBe('new');
    expect(must(engine, a, 'XS_DIRECTORY', '/t\0', tx)).toBe('x\0y\0');
    expect(must(engine, b, 'XS_READ', '/t/x\0')).toBe('old');
    expect(failure(engine, b, 'XS_READ', '/t/y/z\0')).toBe('ENOENT');
    expect(must(engine, a, 'XS_TRANSACTION_END', 'T\0', tx)).toBe('OK\0');
    expect(must(engine, b, 'XS_READ', '/t/x\0')).toBe('new');
    expect(must(engine, b, 'XS_READ', '/t/y/z\0')).toBe('made');
    expect(engine.store.check()).toEqual([]);
  });

  it('abort (F) discards everything', () => {
    const { engine, a } = setup();
    const tx = start(engine, a);
    must(engine, a, 'XS_WRITE', '/ab/c\0v', tx);
    must(engine, a, 'XS_TRANSACTION_END', 'F\0', tx);
    expect(failure(engine, a, 'XS_READ', '/ab\0')).toBe('ENOENT');
    expect(failure(engine, a, 'XS_READ', '/ab\0', tx)).toBe('ENOENT'); // the id is gone
  });

  it('a conflicting commit gets EAGAIN and applies nothing', () => {
    const { engine, a, b } = setup();
    must(engine, a, 'XS_WRITE', '/c/counter\0' + '1');
    const tx = start(engine, a);
    const v = Number(must(engine, a, 'XS_READ', '/c/counter\0', tx));
    must(engine, a, 'XS_WRITE', '/c/counter\0' + String(v + 1), tx);
    must(engine, a, 'XS_WRITE', '/c/other\0side-effect', tx);
    must(engine, b, 'XS_WRITE', '/c/counter\0' + '10'); // someone else got there first
    expect(failure(engine, a, 'XS_TRANSACTION_END', 'T\0', tx)).toBe('EAGAIN');
    expect(must(engine, b, 'XS_READ', '/c/counter\0')).toBe('10');
    expect(failure(engine, b, 'XS_READ', '/c/other\0')).toBe('ENOENT');
    // Retrying, as clients do on EAGAIN, succeeds.
    const again = start(engine, a);
    const w = Number(must(engine, a, 'XS_READ', '/c/counter\0', again));
    must(engine, a, 'XS_WRITE', '/c/counter\0' + String(w + 1), again);
    must(engine, a, 'XS_TRANSACTION_END', 'T\0', again);
    expect(must(engine, b, 'XS_READ', '/c/counter\0')).toBe('11');
  });

  it('a read of an absent node conflicts with its later creation', () => {
    const { engine, a, b } = setup();
    const tx = start(engine, a);
    expect(failure(engine, a, 'XS_READ', '/lock\0', tx)).toBe('ENOENT');
    must(engine, a, 'XS_WRITE', '/mine\0', tx);
    must(engine, b, 'XS_WRITE', '/lock\0held');
    expect(failure(engine, a, 'XS_TRANSACTION_END', 'T\0', tx)).toBe('EAGAIN');
  });

  it('changes to untouched nodes do not conflict', () => {
    const { engine, a, b } = setup();
    must(engine, a, 'XS_MKDIR', '/p/q\0');
    must(engine, a, 'XS_MKDIR', '/r\0');
    const tx = start(engine, a);
    must(engine, a, 'XS_WRITE', '/p/q\0v', tx);
    must(engine, b, 'XS_WRITE', '/r\0elsewhere');
    expect(must(engine, a, 'XS_TRANSACTION_END', 'T\0', tx)).toBe('OK\0');
  });

  it('create then delete in one transaction leaves exact accounting (XSA-415)', () => {
    const { engine, a } = setup();
    const g = new FakeSession(3);
    engine.attach(g);
    must(engine, a, 'XS_INTRODUCE', '3\u00001\u00001\0');
    must(engine, a, 'XS_MKDIR', '/local/domain/3\0');
    must(engine, a, 'XS_SET_PERMS', '/local/domain/3\0n3\0');
    const before = engine.store.ownedBy(3);
    const tx = start(engine, g);
    must(engine, g, 'XS_WRITE', 'tmp/a/b\0x', tx);
    must(engine, g, 'XS_RM', 'tmp\0', tx);
    must(engine, g, 'XS_TRANSACTION_END', 'T\0', tx);
    expect(engine.store.ownedBy(3)).toBe(before);
    expect(engine.store.check()).toEqual([]);
  });

  it('unknown ids are ENOENT; START inside a transaction and bad verdicts are EINVAL', () => {
    const { engine, a } = setup();
    expect(failure(engine, a, 'XS_READ', '/\0', 777)).toBe('ENOENT');
    expect(failure(engine, a, 'XS_TRANSACTION_END', 'T\0', 777)).toBe('ENOENT');
    expect(failure(engine, a, 'XS_TRANSACTION_END', 'T\0', 0)).toBe('ENOENT');
    const tx = start(engine, a);
    expect(failure(engine, a, 'XS_TRANSACTION_START', '\0', tx)).toBe('EINVAL');
    expect(failure(engine, a, 'XS_TRANSACTION_END', 'X\0', tx)).toBe('EINVAL');
    expect(failure(engine, a, 'XS_GET_DOMAIN_PATH', '1\0', tx)).toBe('EINVAL');
  });

  it('transactions belong to their connection', () => {
    const { engine, a, b } = setup();
    const tx = start(engine, a);
    expect(failure(engine, b, 'XS_WRITE', '/x\0v', tx)).toBe('ENOENT');
    engine.detach(a);
    expect(a.transactions.size).toBe(0);
  });
});
