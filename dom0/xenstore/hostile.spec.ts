// Randomised sequences from several domains, well-formed and not: the engine never throws,
// every reply is the request's type or XS_ERROR with a known name, and the tree stays
// consistent (every node reachable, ownership counts exact) throughout. The seed is fixed so a
// failure reproduces.
import { describe, expect, it } from 'vitest';
import { prng } from '../../ring-buffer/testing/prng.ts';
import { XENSTORE } from '../../ring-buffer/xenstore-interface.ts';
import { XS } from '../../ring-buffer/xs-wire.ts';
import { XenstoreEngine } from './engine.ts';
import { XSD_ERRORS } from './errors.ts';
import { latin1, latin1Bytes } from './payload.ts';
import { XenstoreRingServer } from './ring-server.ts';
import { FakeSession, must } from './testing/harness.ts';
import { newStorePage, RingGuest } from './testing/ring-guest.ts';

const TYPES = [
  XS.XS_READ, XS.XS_WRITE, XS.XS_MKDIR, XS.XS_RM, XS.XS_DIRECTORY, XS.XS_DIRECTORY_PART, XS.XS_GET_PERMS,
  XS.XS_SET_PERMS, XS.XS_WATCH, XS.XS_UNWATCH, XS.XS_TRANSACTION_START, XS.XS_TRANSACTION_END, XS.XS_INTRODUCE,
  XS.XS_RELEASE, XS.XS_IS_DOMAIN_INTRODUCED, XS.XS_GET_DOMAIN_PATH, XS.XS_RESET_WATCHES, XS.XS_SET_TARGET,
  XS.XS_CONTROL, XS.XS_RESUME, 20, 99,
];

describe('engine under random requests', () => {
  it('keeps its invariants over 20000 requests from dom0 and three guests', () => {
    const rnd = prng(0x5eed);
    const pick = <T>(xs: readonly T[]): T => xs[rnd() % xs.length]!;
    const engine = new XenstoreEngine({ quotas: { nodes: 60, watches: 8, transactions: 3 } });
    const dom0 = new FakeSession(0);
    engine.attach(dom0);
    const guests = [1, 2, 3].map((d) => {
      must(engine, dom0, 'XS_INTRODUCE', `${d}\u00001\u00001\0`);
      must(engine, dom0, 'XS_MKDIR', `/local/domain/${d}\0`);
      must(engine, dom0, 'XS_SET_PERMS', `/local/domain/${d}\0n${d}\0r0\0`);
      const s = new FakeSession(d);
      engine.attach(s);
      return s;
    });
    const sessions = [dom0, ...guests];
    const names = ['a', 'b', 'c', 'device', 'x1'];
    const randPath = (): string => {
      const depth = 1 + (rnd() % 4);
      const parts = Array.from({ length: depth }, () => pick(names)).join('/');
      switch (rnd() % 6) {
        case 0:
          return `/${parts}`;
        case 1:
          return `/local/domain/${1 + (rnd() % 4)}/${parts}`;
        case 2:
          return pick(['@releaseDomain', '@introduceDomain', '//bad', '', '/a/', 'a b']);
        default:
          return parts;
      }
    };
    const randPayload = (type: number): string => {
      const p = randPath();
      switch (type) {
        case XS.XS_WRITE:
          return `${p}\0${'v'.repeat(rnd() % 40)}`;
        case XS.XS_SET_PERMS:
          return `${p}\0${pick(['n', 'r', 'w', 'b', 'q'])}${rnd() % 5}\0${pick(['r1', 'b2', 'n3', ''])}\0`;
        case XS.XS_WATCH:
        case XS.XS_UNWATCH:
          return `${p}\0tok${rnd() % 3}\0`;
        case XS.XS_TRANSACTION_END:
          return pick(['T\0', 'F\0', 'X\0', 'T']);
        case XS.XS_INTRODUCE:
          return `${rnd() % 6}\0${rnd()}\0${rnd() % 10}\0`;
        case XS.XS_SET_TARGET:
          return `${rnd() % 5}\0${rnd() % 5}\0`;
        case XS.XS_DIRECTORY_PART:
          return `${p}\0${rnd() % 20}\0`;
        case XS.XS_CONTROL:
          return pick(['check\0', 'print\0x\0', 'nope\0', '']);
        case XS.XS_RELEASE:
        case XS.XS_RESUME:
        case XS.XS_IS_DOMAIN_INTRODUCED:
        case XS.XS_GET_DOMAIN_PATH:
          return `${rnd() % 6}\0`;
        default:
          return rnd() % 10 === 0 ? p : `${p}\0`;
      }
    };
    let errors = 0;
    for (let step = 0; step < 20_000; step++) {
      const s = pick(sessions);
      const type = pick(TYPES);
      const open = [...s.transactions.keys()];
      const txId = rnd() % 3 === 0 && open.length > 0 ? pick(open) : rnd() % 50 === 0 ? rnd() : 0;
      const reply = engine.handle(s, { type, txId, payload: latin1Bytes(randPayload(type)) });
      if (reply.type === XS.XS_ERROR) {
        errors++;
        expect(XSD_ERRORS).toContain(latin1(reply.payload).replace(/\0$/, ''));
        expect(latin1(reply.payload)).not.toBe('EIO\0'); // EIO would mean an internal error
      } else {
        expect(reply.type).toBe(type);
      }
      s.events.length = 0;
      if (step % 500 === 0) expect(engine.store.check()).toEqual([]);
    }
    expect(engine.store.check()).toEqual([]);
    // The sequence exercised both outcomes a fair amount.
    expect(errors).toBeGreaterThan(2000);
    expect(errors).toBeLessThan(18_000);
  });
});

describe('ring server under random bytes and indices', () => {
  it('never throws from kick(), and any fault it latches is written to the page', () => {
    const faults = new Map<number, number>();
    for (let seed = 1; seed <= 40; seed++) {
      const rnd = prng(seed);
      const engine = new XenstoreEngine();
      const page = newStorePage();
      const server = new XenstoreRingServer({ engine, domid: 2, page, notify: () => {} });
      const guest = new RingGuest(page, () => server.kick());
      for (let step = 0; step < 200; step++) {
        const r = rnd() % 10;
        try {
          if (r < 5) guest.queue(TYPES[rnd() % TYPES.length]!, `/p${rnd() % 4}\0`);
          else if (r < 8) guest.queueRaw(Uint8Array.from({ length: 1 + (rnd() % 40) }, () => rnd() & 0xff));
          else if (r === 8) {
            const w = guest.indexWords();
            w[rnd() % 4] = rnd() % 3 === 0 ? rnd() : (w[rnd() % 4]! + (rnd() % 2048)) >>> 0;
          }
          guest.pump();
          guest.drain();
        } catch {
          // The guest's own end may object to the indices we scribbled; that is the guest's problem.
        }
        server.kick();
        if (server.error) {
          expect(guest.control.error).toBe(server.error.code);
          faults.set(server.error.code, (faults.get(server.error.code) ?? 0) + 1);
          break;
        }
      }
      server.close();
    }
    // Both kinds of fault were reached: scribbled indices and garbage lengths.
    expect(faults.get(XENSTORE.XENSTORE_ERROR_RINGIDX) ?? 0).toBeGreaterThan(0);
    expect(faults.get(XENSTORE.XENSTORE_ERROR_PROTO) ?? 0).toBeGreaterThan(0);
  });
});
