// The ring transport against a fake guest writing into an in-memory store page.
import { describe, expect, it } from 'vitest';
import { XENSTORE } from '../../ring-buffer/xenstore-interface.ts';
import { XS } from '../../ring-buffer/xs-wire.ts';
import { XenstoreEngine } from './engine.ts';
import { latin1 } from './payload.ts';
import { XenstoreRingServer } from './ring-server.ts';
import { FakeSession, must } from './testing/harness.ts';
import { newStorePage, RingGuest } from './testing/ring-guest.ts';
import { encodeFrame } from './wire.ts';

const DOMID = 3;

function setup(quotas = {}) {
  const engine = new XenstoreEngine({ quotas });
  const dom0 = new FakeSession(0);
  engine.attach(dom0);
  must(engine, dom0, 'XS_INTRODUCE', `${DOMID}\u00001\u00001\0`);
  must(engine, dom0, 'XS_MKDIR', `/local/domain/${DOMID}\0`);
  must(engine, dom0, 'XS_SET_PERMS', `/local/domain/${DOMID}\0n${DOMID}\0`);
  const page = newStorePage();
  let notifies = 0;
  const server = new XenstoreRingServer({ engine, domid: DOMID, page, notify: () => notifies++ });
  const guest = new RingGuest(page, () => server.kick());
  return { engine, dom0, server, guest, page, notifies: () => notifies };
}

describe('XenstoreRingServer', () => {
  it('advertises reconnection and error reporting, and serves requests as the guest domain', () => {
    const { guest, server, notifies } = setup();
    expect(guest.control.serverFeatures).toBe(XENSTORE.XENSTORE_SERVER_FEATURE_RECONNECTION | XENSTORE.XENSTORE_SERVER_FEATURE_ERROR);
    expect(guest.call(XS.XS_WRITE, 'name\0guest')).toBe('OK\0');
    expect(guest.call(XS.XS_READ, '/local/domain/3/name\0')).toBe('guest');
    expect(guest.call(XS.XS_GET_PERMS, 'name\0')).toBe('n3\0');
    expect(() => guest.call(XS.XS_READ, '/local/domain/0\0')).toThrow(/ENOENT|EACCES/);
    expect(notifies()).toBeGreaterThan(0);
    expect(server.error).toBeNull();
  });

  it('takes a request written in pieces across several kicks', () => {
    const { guest, server } = setup();
    const frame = encodeFrame(XS.XS_GET_DOMAIN_PATH, 42, 0, new TextEncoder().encode('3\0'));
    for (const b of frame) {
      guest.queueRaw(Uint8Array.of(b));
      guest.pump();
      server.kick();
    }
    const [reply] = guest.drain();
    expect(reply?.reqId).toBe(42);
    expect(latin1(reply!.payload)).toBe('/local/domain/3\0');
  });

  it('delivers watch events raised by other connections, and notifies', () => {
    const { guest, engine, dom0, notifies } = setup();
    const { events } = guest.request(XS.XS_WATCH, 'device\0dev\0');
    const first = [...events, ...guest.drain()].filter((f) => f.type === XS.XS_WATCH_EVENT);
    expect(first.map((f) => latin1(f.payload))).toEqual(['device\0dev\0']);
    const before = notifies();
    must(engine, dom0, 'XS_WRITE', '/local/domain/3/device/vif/0/state\0' + '1');
    expect(notifies()).toBe(before + 1);
    expect(guest.drain().map((f) => latin1(f.payload))).toEqual(['device/vif/0/state\0dev\0']);
  });

  it('queues a reply larger than the response ring and finishes it as the guest reads', () => {
    const { guest, server, engine, dom0 } = setup();
    must(engine, dom0, 'XS_WRITE', `/local/domain/3/big\0${'z'.repeat(3000)}`);
    guest.queue(XS.XS_READ, 'big\0');
    guest.pump();
    server.kick();
    expect(server.queuedBytes).toBe(16 + 3000 - 1024);
    expect(server.connection.outstandingRequests).toBe(1);
    const got = [];
    for (let i = 0; i < 10 && got.length === 0; i++) {
      got.push(...guest.drain());
      server.kick();
    }
    expect(got).toHaveLength(1);
    expect(latin1(got[0]!.payload)).toBe('z'.repeat(3000));
    expect(server.queuedBytes).toBe(0);
    expect(server.connection.outstandingRequests).toBe(0);
  });

  it('stops taking requests at the outstanding-requests quota, and resumes when replies are read', () => {
    const { guest, server } = setup({ outstandingRequests: 20 });
    // The guest writes requests and never reads replies: the response ring fills, then replies
    // queue up as outstanding, then we stop reading the request ring.
    for (let i = 0; i < 200; i++) guest.queue(XS.XS_GET_DOMAIN_PATH, '3\0');
    for (let i = 0; i < 50; i++) {
      guest.pump();
      server.kick();
    }
    expect(server.connection.outstandingRequests).toBe(20);
    expect(server.connection.mayTakeRequest()).toBe(false);
    const words = guest.indexWords();
    const reqCons = words[0];
    expect((words[1]! - reqCons!) >>> 0).toBeGreaterThan(0); // requests wait in the guest's ring
    guest.pump();
    server.kick();
    expect(words[0]).toBe(reqCons); // nothing more was taken
    let replies = 0;
    for (let i = 0; i < 500 && replies < 200; i++) {
      replies += guest.drain().length;
      guest.pump();
      server.kick();
    }
    expect(replies).toBe(200);
    expect(server.connection.outstandingRequests).toBe(0);
  });

  it('queues at most queuedWatchEvents events for a guest that does not read them', () => {
    const { guest, server, engine, dom0 } = setup({ queuedWatchEvents: 100 });
    guest.call(XS.XS_WATCH, 'spam\0t\0');
    guest.drain();
    // Each event is 16 + "spam/NNN\0t\0" bytes: the 1024-byte ring holds some, 100 queue, the rest drop.
    for (let i = 0; i < 400; i++) must(engine, dom0, 'XS_WRITE', `/local/domain/3/spam/${String(i).padStart(3, '0')}\0`);
    const inRing = guest.drain().length;
    expect(inRing).toBeGreaterThan(0);
    expect(server.droppedWatchEvents).toBe(400 - inRing - 100);
    let later = 0;
    for (let i = 0; i < 50; i++) {
      server.kick();
      later += guest.drain().length;
    }
    expect(later).toBe(100);
  });

  it('a req_prod more than a ring ahead latches XENSTORE_ERROR_RINGIDX and stops serving', () => {
    const { guest, server, notifies } = setup();
    guest.call(XS.XS_WATCH, 'x\0t\0');
    expect(server.connection.watches.size).toBe(1);
    const words = guest.indexWords();
    words[1] = (words[0]! + 1025) >>> 0; // req_prod
    const before = notifies();
    server.kick();
    expect(server.error?.code).toBe(XENSTORE.XENSTORE_ERROR_RINGIDX);
    expect(server.state.kind).toBe('faulted');
    expect(guest.control.error).toBe(XENSTORE.XENSTORE_ERROR_RINGIDX);
    expect(notifies()).toBe(before + 1);
    expect(server.connection.isClosed).toBe(true);
    expect(server.connection.watches.size).toBe(0);
    // Later kicks do nothing.
    const rspProd = words[3];
    server.kick();
    expect(words[3]).toBe(rspProd);
  });

  it('a consumer index ahead of what we produced (rsp_cons) latches XENSTORE_ERROR_RINGIDX', () => {
    const { guest, server } = setup();
    const words = guest.indexWords();
    words[2] = (words[3]! + 5) >>> 0; // rsp_cons past rsp_prod
    guest.queue(XS.XS_GET_DOMAIN_PATH, '3\0');
    guest.pump();
    server.kick();
    expect(server.error?.code).toBe(XENSTORE.XENSTORE_ERROR_RINGIDX);
  });

  it('a message claiming more than XENSTORE_PAYLOAD_MAX latches XENSTORE_ERROR_PROTO', () => {
    const { guest, server } = setup();
    const header = encodeFrame(XS.XS_WRITE, 1, 0, new Uint8Array(0));
    new DataView(header.buffer).setUint32(12, 4097, true);
    guest.queueRaw(header);
    guest.pump();
    server.kick();
    expect(server.error?.code).toBe(XENSTORE.XENSTORE_ERROR_PROTO);
    expect(guest.control.error).toBe(XENSTORE.XENSTORE_ERROR_PROTO);
    expect(guest.drain()).toEqual([]);
  });

  it('garbage that is well framed gets error replies, not a dead ring', () => {
    const { guest, server } = setup();
    const { frame } = guest.request(0x1234, '\x01\x02');
    expect(frame.type).toBe(XS.XS_ERROR);
    expect(latin1(frame.payload)).toBe('ENOSYS\0');
    expect(guest.request(XS.XS_READ, 'no-nul').frame.type).toBe(XS.XS_ERROR);
    expect(guest.call(XS.XS_GET_DOMAIN_PATH, '3\0')).toBe('/local/domain/3\0');
    expect(server.error).toBeNull();
  });

  it('reconnect clears the error, zeroes indices, drops watches, and serves again', () => {
    const { guest, server } = setup();
    guest.call(XS.XS_WATCH, 'x\0t\0');
    const words = guest.indexWords();
    words[1] = (words[0]! + 5000) >>> 0;
    server.kick();
    expect(guest.control.error).toBe(XENSTORE.XENSTORE_ERROR_RINGIDX);
    guest.requestReconnect();
    expect(guest.control.connection).toBe(XENSTORE.XENSTORE_CONNECTED);
    expect(guest.control.error).toBe(XENSTORE.XENSTORE_ERROR_NONE);
    expect([...words]).toEqual([0, 0, 0, 0]);
    expect(server.error).toBeNull();
    expect(server.state.kind).toBe('serving');
    expect(server.connection.watches.size).toBe(0);
    expect(guest.call(XS.XS_GET_DOMAIN_PATH, '3\0')).toBe('/local/domain/3\0');
  });

  it('close() ends the connection; the domain stays introduced until released (XSA-325)', () => {
    const { server, engine } = setup();
    server.close();
    expect(server.state.kind).toBe('closed');
    expect(server.connection.isClosed).toBe(true);
    expect(engine.isIntroduced(DOMID)).toBe(true);
    expect(() => server.kick()).toThrow();
  });
});
