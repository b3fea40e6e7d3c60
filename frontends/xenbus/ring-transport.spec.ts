import { describe, expect, it } from 'vitest';
import { XENSTORE, xenstoreDomainInterface, xenstoreServer } from '../../ring-buffer/xenstore-interface.ts';
import { XS } from '../../ring-buffer/xs-wire.ts';
import { XenstoreClient } from './client.ts';
import { XenstoreClosedError, XenstoreRingIndexError } from './errors.ts';
import { XenstoreRingTransport } from './ring-transport.ts';
import { FakeRingServer, type FakeRingServerOptions } from './testing/fake-ring-server.ts';
import { FakeXenstore, frame } from './testing/fake-xenstore.ts';

const F = xenstoreDomainInterface.fields;
const dec = new TextDecoder();

function newPage(): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(4096));
}

function word(page: Uint8Array, field: keyof typeof F): number {
  return new DataView(page.buffer).getUint32(F[field].offset, true);
}
function setWord(page: Uint8Array, field: keyof typeof F, v: number): void {
  new DataView(page.buffer).setUint32(F[field].offset, v >>> 0, true);
}

/** A guest client over a ring page served by the fake xenstore. */
function ringSetup(options: FakeRingServerOptions = {}, startIndex = 0) {
  const page = newPage();
  // Both ends pick their private indices up from the page, so a ring "already in use" starts here.
  for (const f of ['req_cons', 'req_prod', 'rsp_cons', 'rsp_prod'] as const) setWord(page, f, startIndex);
  const fake = new FakeXenstore();
  let kicks = 0;
  let server: FakeRingServer | null = null;
  const transport = new XenstoreRingTransport(page, () => {
    kicks++;
    server?.kick();
  });
  server = new FakeRingServer(page, fake, () => transport.onEvent(), options);
  const xs = new XenstoreClient(transport);
  return { page, fake, server, transport, xs, kicks: () => kicks };
}

async function turns(n = 50): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

describe('XenstoreRingTransport with the fake xenstore behind the page', () => {
  it('carries requests, replies and watch events', async () => {
    const { xs, fake, page } = ringSetup();
    await xs.write('/local/domain/1/device/vbd/768/state', '1');
    expect(fake.read('/local/domain/1/device/vbd/768/state')).toBe('1');
    expect(await xs.read('/local/domain/1/device/vbd/768/state')).toBe('1');
    expect(await xs.directory('/local/domain/1/device/vbd')).toEqual(['768']);
    const events: string[] = [];
    await xs.watch('/local/domain/0/backend', 'be', (p) => events.push(p));
    fake.write('/local/domain/0/backend/vbd/1/768/state', '2');
    await turns();
    expect(events).toEqual(['/local/domain/0/backend', '/local/domain/0/backend/vbd/1/768/state']);
    // Everything the guest wrote was consumed, everything the server wrote was read.
    expect(word(page, 'req_cons')).toBe(word(page, 'req_prod'));
    expect(word(page, 'rsp_cons')).toBe(word(page, 'rsp_prod'));
  });

  it('works byte by byte in both directions with events interleaved between replies', async () => {
    const { xs, fake, server, page } = ringSetup({ rspChunk: 1, reqChunk: 1 });
    const events: string[] = [];
    await xs.watch('/d', 'tok', (p) => events.push(p));
    const results = await Promise.all([xs.write('/d/a', 'alpha'), xs.write('/d/b', 'beta'), xs.read('/d/a'), xs.directory('/d')]);
    expect(results.slice(2)).toEqual(['alpha', ['a', 'b']]);
    await turns();
    expect(events).toEqual(['/d', '/d/a', '/d/b']);
    expect(fake.read('/d/b')).toBe('beta');
    // Byte by byte: at least one round, and one notification, per byte the server wrote.
    const rspBytes = word(page, 'rsp_prod');
    expect(rspBytes).toBeGreaterThan(150);
    expect(server.notifications).toBeGreaterThanOrEqual(rspBytes);
  });

  it('waits for room to send a request bigger than the ring, and reads replies that wrap it several times', async () => {
    // Start just below 2^32 so the free-running indices wrap as well as the ring positions.
    const { xs, fake, transport, page } = ringSetup({ rspChunk: 300, reqChunk: 200 }, 0xffffff00);
    const big = 'x'.repeat(3500);
    const w = xs.write('/big', big);
    // The first 1024 bytes went in at once; the rest waits in the transport.
    expect(transport.queuedBytes).toBe(16 + 5 + 3500 - 1024);
    await w;
    expect(transport.queuedBytes).toBe(0);
    expect(fake.read('/big')).toBe(big);
    const value = await xs.read('/big');
    expect(value).toBe(big);
    // The indices really did wrap past 2^32.
    expect(word(page, 'rsp_prod')).toBeLessThan(0xffffff00);
    expect(word(page, 'req_prod')).toBeLessThan(0xffffff00);
  });

  it('kicks only when bytes moved', async () => {
    const { xs, transport, kicks } = ringSetup();
    await xs.write('/a', '1');
    await turns();
    const before = kicks();
    transport.onEvent();
    transport.onEvent();
    expect(kicks()).toBe(before);
  });
});

// A client that misses a fatal error leaves promises pending forever: fail in seconds, not at the 60 s default.
describe('XenstoreRingTransport against a server lying about indices (fatal)', { timeout: 5_000 }, () => {
  it('rsp_prod claiming more than the ring holds rejects everything with XenstoreRingIndexError', async () => {
    const { xs, server, page, transport, kicks } = ringSetup();
    await xs.write('/a', '1');
    await turns();
    server.stopped = true;
    const pending = [xs.read('/a'), xs.read('/b')].map((p) => p.catch((e: unknown) => e));
    setWord(page, 'rsp_prod', word(page, 'rsp_cons') + 1025);
    const k = kicks();
    transport.onEvent();
    const [e1, e2] = await Promise.all(pending);
    expect(e1).toBeInstanceOf(XenstoreRingIndexError);
    expect(e2).toBe(e1);
    expect(String(e1)).toMatch(/xenstore\.rsp/);
    expect(xs.error).toBe(e1);
    await expect(xs.read('/c')).rejects.toBe(e1);
    // A broken ring is left alone: no more kicks, no more reads.
    expect(kicks()).toBe(k);
    const cons = word(page, 'rsp_cons');
    transport.onEvent();
    expect(word(page, 'rsp_cons')).toBe(cons);
    expect(() => transport.write(new Uint8Array(1))).toThrow(XenstoreClosedError);
  });

  it('rsp_prod behind our consumer index is caught as well', async () => {
    const { xs, server, page, transport } = ringSetup();
    await xs.write('/a', '1');
    await turns();
    server.stopped = true;
    const p = xs.read('/a').catch((e: unknown) => e);
    setWord(page, 'rsp_prod', word(page, 'rsp_cons') - 1);
    transport.onEvent();
    expect(await p).toBeInstanceOf(XenstoreRingIndexError);
  });

  it('req_cons ahead of our producer index is fatal at the next write', async () => {
    const { xs, server, page } = ringSetup();
    await xs.write('/a', '1');
    await turns();
    server.stopped = true;
    setWord(page, 'req_cons', word(page, 'req_prod') + 4);
    const e = await xs.read('/a').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(XenstoreRingIndexError);
    expect(String(e)).toMatch(/xenstore\.req/);
  });

  it('a server that flags XENSTORE_ERROR_* in the error word ends the connection', async () => {
    const { xs, server, page, transport } = ringSetup();
    await xs.write('/a', '1');
    server.stopped = true;
    const p = xs.read('/a').catch((e: unknown) => e);
    setWord(page, 'server_features', XENSTORE.XENSTORE_SERVER_FEATURE_ERROR);
    setWord(page, 'error', XENSTORE.XENSTORE_ERROR_RINGIDX);
    transport.onEvent();
    const e = await p;
    expect(e).toBeInstanceOf(XenstoreRingIndexError);
    expect(String(e)).toMatch(/XENSTORE_ERROR_RINGIDX/);
  });

  it('ignores the error word of a server that does not advertise it', async () => {
    const { xs, page } = ringSetup();
    setWord(page, 'error', XENSTORE.XENSTORE_ERROR_PROTO);
    await xs.write('/a', '1');
    expect(await xs.read('/a')).toBe('1');
  });
});

describe('XenstoreRingTransport on its own', () => {
  it('puts bytes in req and hands rsp bytes over as they arrive, across the ring end', () => {
    const page = newPage();
    for (const f of ['req_cons', 'req_prod', 'rsp_cons', 'rsp_prod'] as const) setWord(page, f, 1020);
    const srv = xenstoreServer(page);
    let kicks = 0;
    const t = new XenstoreRingTransport(page, () => kicks++);
    const got: Uint8Array[] = [];
    t.onData((b) => got.push(b));
    const req = frame(XS.XS_READ, 1, 0, '/a\0');
    t.write(req);
    expect(kicks).toBe(1);
    expect(srv.requests.read()).toEqual(req);
    const rsp = frame(XS.XS_READ, 1, 0, 'value');
    srv.responses.write(rsp.subarray(0, 9));
    t.onEvent();
    srv.responses.write(rsp.subarray(9));
    t.onEvent();
    expect(got.map((b) => b.byteLength)).toEqual([9, 12]);
    expect(dec.decode(got[1]?.subarray(7))).toBe('value');
    expect(kicks).toBe(3);
  });

  it('keeps a private copy of queued bytes', () => {
    const page = newPage();
    const srv = xenstoreServer(page);
    const t = new XenstoreRingTransport(page, () => undefined);
    t.write(new Uint8Array(1024).fill(1));
    const buf = new Uint8Array(8).fill(7);
    t.write(buf);
    buf.fill(0);
    expect(t.queuedBytes).toBe(8);
    srv.requests.read();
    t.onEvent();
    expect([...srv.requests.read()]).toEqual([7, 7, 7, 7, 7, 7, 7, 7]);
  });
});
