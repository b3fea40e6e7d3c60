import { describe, expect, it } from 'vitest';
import { XS } from '../../ring-buffer/xs-wire.ts';
import { XenstoreClient, type XenstoreClientOptions, type XenstoreOps } from './client.ts';
import {
  XenstoreArgumentError,
  XenstoreClosedError,
  XenstoreError,
  XenstoreProtocolError,
  XenstoreTransactionConflictError,
  isXenstoreError,
} from './errors.ts';
import { FakeXenstore, frame, serveFake, splitFields } from './testing/fake-xenstore.ts';
import { type MemoryPipeOptions, type ServerEnd, memoryTransportPair } from './testing/memory-transport.ts';

function withFake(pipe: MemoryPipeOptions = {}, options: XenstoreClientOptions = {}) {
  const fake = new FakeXenstore();
  const { client: t, server } = memoryTransportPair(pipe);
  serveFake(fake, server);
  return { fake, xs: new XenstoreClient(t, options), server };
}

/** A test playing the server by hand: collects request frames, answers what it chooses. */
function scripted(options: XenstoreClientOptions = {}) {
  const { client: t, server } = memoryTransportPair();
  const requests: { type: number; reqId: number; txId: number; fields: string[] }[] = [];
  let buf = new Uint8Array(0);
  server.onData((b) => {
    const j = new Uint8Array(buf.byteLength + b.byteLength);
    j.set(buf);
    j.set(b, buf.byteLength);
    buf = j;
    while (buf.byteLength >= 16) {
      const dv = new DataView(buf.buffer, buf.byteOffset);
      const len = dv.getUint32(12, true);
      if (buf.byteLength < 16 + len) break;
      requests.push({ type: dv.getUint32(0, true), reqId: dv.getUint32(4, true), txId: dv.getUint32(8, true), fields: splitFields(buf.slice(16, 16 + len)) });
      buf = buf.slice(16 + len);
    }
  });
  return { xs: new XenstoreClient(t, options), server, requests };
}

/** Lets queued microtasks (the pipe's deliveries) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise((r) => setImmediate(r));
}

function reject(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    (v) => {
      throw new Error(`expected a rejection, got ${String(v)}`);
    },
    (e: unknown) => e,
  );
}

for (const [label, pipe] of [
  ['whole messages', {}],
  ['byte by byte', { chunkToClient: 1, chunkToServer: 1 }],
] as const) {
  describe(`XenstoreClient against the fake xenstore (${label})`, () => {
    it('writes, reads, lists and removes nodes', async () => {
      const { xs, fake } = withFake(pipe);
      await xs.write('/local/domain/1/device/vbd/768/state', '1');
      await xs.write('/local/domain/1/device/vbd/768/ring-ref', '8');
      await xs.mkdir('/local/domain/1/device/vif');
      expect(await xs.read('/local/domain/1/device/vbd/768/state')).toBe('1');
      expect(await xs.directory('/local/domain/1/device')).toEqual(['vbd', 'vif']);
      expect(await xs.directory('/local/domain/1/device/vif')).toEqual([]);
      expect(await xs.directory('/local/domain/1/device/vbd/768')).toEqual(['state', 'ring-ref']);
      await xs.rm('/local/domain/1/device/vbd');
      expect(fake.read('/local/domain/1/device/vbd/768/state')).toBeUndefined();
      expect(await xs.directory('/local/domain/1/device')).toEqual(['vif']);
    });

    it('keeps binary values intact, NULs included', async () => {
      const { xs } = withFake(pipe);
      const value = new Uint8Array([0, 1, 2, 0, 255, 0]);
      await xs.write('/bin', value);
      expect(await xs.readBytes('/bin')).toEqual(value);
      await xs.write('/empty', '');
      expect(await xs.read('/empty')).toBe('');
    });

    it('turns XS_ERROR into a XenstoreError naming the errno, the op and the path, and carries on', async () => {
      const { xs } = withFake(pipe);
      const e = await reject(xs.read('/nope'));
      expect(e).toBeInstanceOf(XenstoreError);
      expect(e).toMatchObject({ code: 'ENOENT', op: 'XS_READ', path: '/nope' });
      expect(isXenstoreError(e, 'ENOENT')).toBe(true);
      expect(await reject(xs.write('/bad//path', 'x'))).toMatchObject({ code: 'EINVAL', op: 'XS_WRITE' });
      expect(await reject(xs.rm('/no/parent'))).toMatchObject({ code: 'ENOENT', op: 'XS_RM' });
      await xs.write('/ok', 'yes');
      expect(await xs.read('/ok')).toBe('yes');
      expect(xs.error).toBeNull();
    });

    it('gets and sets permissions', async () => {
      const { xs } = withFake(pipe);
      await xs.write('/local/domain/3/device/vbd/0/state', '1');
      const perms = [
        { domid: 3, access: 'none' as const },
        { domid: 0, access: 'read' as const },
      ];
      await xs.setPerms('/local/domain/3/device/vbd/0', perms);
      expect(await xs.getPerms('/local/domain/3/device/vbd/0')).toEqual(perms);
      expect(await xs.getPerms('/local/domain/3')).toEqual([{ domid: 0, access: 'none' }]);
      await expect(xs.setPerms('/local/domain/3', [])).rejects.toThrow(XenstoreArgumentError);
    });

    it('answers getDomainPath', async () => {
      const { xs } = withFake(pipe);
      expect(await xs.getDomainPath(7)).toBe('/local/domain/7');
      await expect(xs.getDomainPath(-1)).rejects.toThrow(XenstoreArgumentError);
    });

    it('delivers watch events by token, interleaved with replies, the first one at once', async () => {
      const { xs, fake } = withFake(pipe);
      const a: string[] = [];
      const b: string[] = [];
      await xs.watch('/be', 'tok-a', (path, token) => a.push(`${token}:${path}`));
      await xs.watch('/be/1', 'tok-b', (path) => b.push(path));
      await settle();
      expect(a).toEqual(['tok-a:/be']);
      expect(b).toEqual(['/be/1']);
      // Each write's reply and the events it causes arrive mixed on the one stream.
      await Promise.all([xs.write('/be/1/state', '2'), xs.write('/be/2', 'x'), xs.read('/be/1/state')]);
      fake.write('/be/1/state', '4');
      await settle();
      expect(a).toEqual(['tok-a:/be', 'tok-a:/be/1/state', 'tok-a:/be/2', 'tok-a:/be/1/state']);
      expect(b).toEqual(['/be/1', '/be/1/state', '/be/1/state']);
      fake.rm('/be');
      await settle();
      expect(a.at(-1)).toBe('tok-a:/be');
      expect(b.at(-1)).toBe('/be/1');
    });

    it('stops calling back after unwatch, and the server forgets the watch', async () => {
      const { xs, fake } = withFake(pipe);
      const seen: string[] = [];
      await xs.watch('/w', 't', (p) => seen.push(p));
      await settle();
      await xs.unwatch('/w', 't');
      fake.write('/w/x', '1');
      await settle();
      expect(seen).toEqual(['/w']);
      expect(fake.watchCount()).toBe(0);
      // The token is free again.
      await xs.watch('/w', 't', (p) => seen.push(p));
      await settle();
      expect(seen).toEqual(['/w', '/w']);
    });
  });
}

describe('XenstoreClient watches', () => {
  it('refuses a token already in use without sending anything', async () => {
    const { xs, fake } = withFake();
    await xs.watch('/a', 'dup', () => undefined);
    const sent = fake.log.length;
    await expect(xs.watch('/b', 'dup', () => undefined)).rejects.toThrow(XenstoreArgumentError);
    await expect(xs.unwatch('/b', 'dup')).rejects.toThrow(XenstoreArgumentError);
    expect(fake.log.length).toBe(sent);
  });

  it('forgets the callback of a watch the server refused', async () => {
    const { xs, server, requests } = scripted();
    const p = xs.watch('/a', 'tok', () => undefined);
    await settle();
    const [w] = requests;
    server.send(frame(XS.XS_ERROR, w?.reqId ?? 0, 0, 'EACCES\0'));
    expect(await reject(p)).toMatchObject({ code: 'EACCES', op: 'XS_WATCH' });
    // Tok is free for the next attempt.
    const again = xs.watch('/a', 'tok', () => undefined);
    await settle();
    server.send(frame(XS.XS_WATCH, requests[1]?.reqId ?? 0, 0, 'OK\0'));
    await again;
  });

  it('ignores events for tokens it does not know (they crossed an unwatch)', async () => {
    const { xs, server, requests } = scripted();
    server.send(frame(XS.XS_WATCH_EVENT, 0, 0, '/x\0gone\0'));
    const r = xs.read('/y');
    await settle();
    server.send(frame(XS.XS_READ, requests[0]?.reqId ?? 0, 0, 'v'));
    expect(await r).toBe('v');
    expect(xs.error).toBeNull();
  });

  it('passes what a callback throws to onWatchError and keeps going', async () => {
    const errors: unknown[] = [];
    const { xs, fake } = withFake({}, { onWatchError: (e) => errors.push(e) });
    await xs.watch('/a', 't', () => {
      throw new Error('callback bug');
    });
    fake.write('/a/b', '1');
    await settle();
    expect(errors).toHaveLength(2);
    expect(await xs.read('/a/b')).toBe('1');
  });
});

describe('XenstoreClient directories longer than one payload', () => {
  const names = Array.from({ length: 30 }, (_, i) => `child-${String(i).padStart(3, '0')}`);

  function bigDirectory() {
    const env = withFake();
    for (const n of names) env.fake.write(`/big/${n}`, '');
    // Ten bytes per name: XS_DIRECTORY refuses the 300-byte list, parts carry up to 9 names.
    env.fake.directoryLimit = 95;
    return env;
  }

  it('falls back to XS_DIRECTORY_PART on E2BIG and stitches the parts together', async () => {
    const { xs, fake } = bigDirectory();
    expect(await xs.directory('/big')).toEqual(names);
    const parts = fake.log.filter((r) => r.type === XS.XS_DIRECTORY_PART);
    expect(parts.map((r) => r.fields)).toEqual([
      ['/big', '0'],
      ['/big', '90'],
      ['/big', '180'],
      ['/big', '270'],
    ]);
    expect(fake.log.filter((r) => r.type === XS.XS_DIRECTORY)).toHaveLength(1);
  });

  it('starts over when the node changes between parts', async () => {
    const { xs, fake } = bigDirectory();
    let calls = 0;
    fake.beforeDirectoryPart = () => {
      if (++calls === 2) fake.write('/big/child-new', '');
    };
    expect(await xs.directory('/big')).toEqual([...names, 'child-new']);
    expect(fake.log.filter((r) => r.type === XS.XS_DIRECTORY_PART)[2]?.fields).toEqual(['/big', '0']);
  });

  it('gives up with EAGAIN when the node never holds still', async () => {
    const { xs, fake } = bigDirectory();
    let n = 0;
    fake.beforeDirectoryPart = () => fake.write(`/elsewhere/${n++}`, '');
    expect(await reject(xs.directory('/big'))).toMatchObject({ code: 'EAGAIN', op: 'XS_DIRECTORY_PART' });
    expect(xs.error).toBeNull();
  });

  it('treats a part without a generation, or one that does not move, as fatal', async () => {
    for (const [payload, message] of [
      ['a\0b\0', /no generation/],
      ['7\0', /empty part before the end/],
    ] as const) {
      const { xs, server, requests } = scripted();
      const p = reject(xs.directory('/d'));
      await settle();
      server.send(frame(XS.XS_ERROR, requests[0]?.reqId ?? 0, 0, 'E2BIG\0'));
      await settle();
      server.send(frame(XS.XS_DIRECTORY_PART, requests[1]?.reqId ?? 0, 0, payload));
      const e = await p;
      expect(e).toBeInstanceOf(XenstoreProtocolError);
      expect(String(e)).toMatch(message);
    }
  });
});

describe('XenstoreClient transactions', () => {
  it('sends the transaction id in tx_id and commits with T', async () => {
    const { xs, fake } = withFake();
    const id = await xs.transactionStart();
    expect(id).toBeGreaterThan(0);
    const tx = xs.transactionOps(id);
    await tx.write('/t/a', '1');
    expect(fake.read('/t/a')).toBeUndefined();
    await xs.transactionEnd(id, true);
    expect(fake.read('/t/a')).toBe('1');
    const kinds = fake.log.map((r) => [r.type, r.txId, r.fields]);
    expect(kinds).toEqual([
      [XS.XS_TRANSACTION_START, 0, ['']],
      [XS.XS_WRITE, id, ['/t/a', '1']],
      [XS.XS_TRANSACTION_END, id, ['T']],
    ]);
  });

  it('transaction() reruns the body on EAGAIN and returns its result', async () => {
    const { xs, fake } = withFake();
    await xs.write('/counter', '0');
    let runs = 0;
    const result = await xs.transaction(async (tx) => {
      runs++;
      const n = Number(await tx.read('/counter'));
      // Another writer slips in during the first run only: the commit must fail and rerun.
      if (runs === 1) fake.write('/counter', '10');
      await tx.write('/counter', String(n + 1));
      return n + 1;
    });
    expect(runs).toBe(2);
    expect(result).toBe(11);
    expect(fake.read('/counter')).toBe('11');
  });

  it('transaction() also reruns the body when an op inside it answers EAGAIN', async () => {
    const { xs, server, requests } = scripted();
    let runs = 0;
    const done = xs.transaction(async (tx) => {
      runs++;
      return tx.read('/x');
    });
    const answer = async (type: number, payload: string): Promise<void> => {
      await settle();
      const r = requests.at(-1);
      server.send(frame(type, r?.reqId ?? 0, r?.txId ?? 0, payload));
    };
    await answer(XS.XS_TRANSACTION_START, '1\0');
    await answer(XS.XS_ERROR, 'EAGAIN\0');
    await answer(XS.XS_TRANSACTION_END, 'OK\0');
    await answer(XS.XS_TRANSACTION_START, '2\0');
    await answer(XS.XS_READ, 'v');
    await answer(XS.XS_TRANSACTION_END, 'OK\0');
    expect(await done).toBe('v');
    expect(runs).toBe(2);
    expect(requests.map((r) => [r.type, r.txId, r.fields])).toEqual([
      [XS.XS_TRANSACTION_START, 0, ['']],
      [XS.XS_READ, 1, ['/x']],
      [XS.XS_TRANSACTION_END, 1, ['F']],
      [XS.XS_TRANSACTION_START, 0, ['']],
      [XS.XS_READ, 2, ['/x']],
      [XS.XS_TRANSACTION_END, 2, ['T']],
    ]);
  });

  it('transaction() gives up after transactionAttempts with XenstoreTransactionConflictError', async () => {
    const { xs, fake } = withFake({}, { transactionAttempts: 3 });
    fake.failCommits = 5;
    let runs = 0;
    const e = await reject(
      xs.transaction(async (tx) => {
        runs++;
        await tx.write('/x', 'y');
      }),
    );
    expect(e).toBeInstanceOf(XenstoreTransactionConflictError);
    expect(e).toMatchObject({ attempts: 3 });
    expect(runs).toBe(3);
    expect(fake.read('/x')).toBeUndefined();
  });

  it('transaction() aborts with F and rethrows when the body fails', async () => {
    const { xs, fake } = withFake();
    const bug = new Error('body failed');
    const e = await reject(
      xs.transaction(async (tx) => {
        await tx.write('/x', 'y');
        throw bug;
      }),
    );
    expect(e).toBe(bug);
    expect(fake.log.at(-1)?.fields).toEqual(['F']);
    expect(fake.read('/x')).toBeUndefined();
    // A server error inside the body is not retried unless it is EAGAIN.
    expect(await reject(xs.transaction((tx) => tx.read('/missing')))).toMatchObject({ code: 'ENOENT' });
  });

  it('refuses the ops of a transaction() that has ended', async () => {
    const { xs, fake } = withFake();
    let leaked: XenstoreOps | null = null;
    await xs.transaction(async (tx) => {
      leaked = tx;
      await tx.write('/a', '1');
    });
    const sent = fake.log.length;
    await expect((leaked as XenstoreOps | null)?.write('/a', '2')).rejects.toThrow(/has ended/);
    expect(fake.log.length).toBe(sent);
    expect(fake.read('/a')).toBe('1');
  });

  it('refuses transaction ids that cannot exist', async () => {
    const { xs } = withFake();
    expect(() => xs.transactionOps(0)).toThrow(XenstoreArgumentError);
    await expect(xs.transactionEnd(-1, true)).rejects.toThrow(XenstoreArgumentError);
  });
});

describe('XenstoreClient request bookkeeping', () => {
  it('never uses req_id 0 and gives every outstanding request its own id', async () => {
    const { xs, requests, server } = scripted();
    const ps = [xs.read('/a'), xs.read('/b'), xs.read('/c')];
    await settle();
    const ids = requests.map((r) => r.reqId);
    expect(ids.includes(0)).toBe(false);
    expect(new Set(ids).size).toBe(3);
    for (const r of requests) server.send(frame(XS.XS_READ, r.reqId, 0, r.fields[0] ?? ''));
    expect(await Promise.all(ps)).toEqual(['/a', '/b', '/c']);
  });

  it('matches replies that come back out of order by req_id (xenstore.txt allows any order)', async () => {
    const { xs, requests, server } = scripted();
    const ps = [xs.read('/a'), xs.read('/b'), xs.read('/c')];
    await settle();
    for (const r of [...requests].reverse()) server.send(frame(XS.XS_READ, r.reqId, 0, `value of ${r.fields[0]}`));
    expect(await Promise.all(ps)).toEqual(['value of /a', 'value of /b', 'value of /c']);
  });

  it('keeps at most maxInFlight requests on the wire and sends the rest as replies come', async () => {
    const { xs, requests, server } = scripted({ maxInFlight: 2 });
    const ps = ['/1', '/2', '/3', '/4', '/5'].map((p) => xs.read(p));
    await settle();
    expect(requests.map((r) => r.fields[0])).toEqual(['/1', '/2']);
    expect(xs.outstanding).toBe(2);
    server.send(frame(XS.XS_READ, requests[1]?.reqId ?? 0, 0, 'two'));
    await settle();
    expect(requests.map((r) => r.fields[0])).toEqual(['/1', '/2', '/3']);
    for (const r of requests.slice(0)) if (r.fields[0] !== '/2') server.send(frame(XS.XS_READ, r.reqId, 0, 'x'));
    await settle();
    for (const r of requests.slice(3)) server.send(frame(XS.XS_READ, r.reqId, 0, 'x'));
    await settle();
    expect(requests).toHaveLength(5);
    expect(await Promise.all(ps)).toEqual(['x', 'two', 'x', 'x', 'x']);
  });

  it('refuses unsendable requests locally and stays usable', async () => {
    const { xs, fake } = withFake();
    await expect(xs.read('/a\0b')).rejects.toThrow(XenstoreArgumentError);
    await expect(xs.read('')).rejects.toThrow(XenstoreArgumentError);
    await expect(xs.write('/big', new Uint8Array(4096))).rejects.toThrow(/XENSTORE_PAYLOAD_MAX/);
    await expect(xs.watch('/a', 't\0u', () => undefined)).rejects.toThrow(XenstoreArgumentError);
    expect(fake.log).toHaveLength(0);
    await xs.write('/fits', new Uint8Array(4096 - 6));
    expect(xs.error).toBeNull();
  });
});

// A client that misses a fatal error leaves promises pending forever: fail in seconds, not at the 60 s default.
describe('XenstoreClient against a misbehaving server (fatal)', { timeout: 5_000 }, () => {
  /** Three requests outstanding, `send` misbehaves; all but the `answered` first ones must fail alike. */
  async function expectFatal(send: (server: ServerEnd, requests: { type: number; reqId: number }[]) => void, message: RegExp, answered = 0): Promise<void> {
    const { xs, server, requests } = scripted();
    const ps = [xs.read('/a'), xs.write('/b', 'x'), xs.directory('/c')];
    await settle();
    send(server, requests);
    const results = await Promise.allSettled(ps);
    expect(results.slice(0, answered).every((r) => r.status === 'fulfilled')).toBe(true);
    const errors = results.slice(answered).map((r) => (r.status === 'rejected' ? r.reason : r.value));
    expect(errors).toHaveLength(3 - answered);
    const [first] = errors;
    expect(first).toBeInstanceOf(XenstoreProtocolError);
    expect(String(first)).toMatch(message);
    // One latched error object for everyone, now and later.
    for (const e of errors) expect(e).toBe(first);
    expect(xs.error).toBe(first);
    expect(await reject(xs.read('/later'))).toBe(first);
    expect(server.clientClosed).toBe(true);
  }

  it('a reply to a req_id that is not outstanding', async () => {
    await expectFatal((server) => server.send(frame(XS.XS_READ, 999, 0, 'v')), /req_id 999, which is not outstanding/);
  });

  it('a second reply to an answered request', async () => {
    await expectFatal((server, reqs) => {
      const id = reqs[0]?.reqId ?? 0;
      server.send(frame(XS.XS_READ, id, 0, 'v'));
      server.send(frame(XS.XS_READ, id, 0, 'v'));
    }, /not outstanding/, 1);
  });

  it('a reply of another type than the request', async () => {
    await expectFatal((server, reqs) => server.send(frame(XS.XS_WRITE, reqs[0]?.reqId ?? 0, 0, 'OK\0')), /XS_READ request, the reply is XS_WRITE/);
  });

  it('a frame longer than XENSTORE_PAYLOAD_MAX', async () => {
    await expectFatal((server, reqs) => server.send(frame(XS.XS_READ, reqs[0]?.reqId ?? 0, 0, new Uint8Array(5000))), /XENSTORE_PAYLOAD_MAX/);
  });

  it('an unknown message type', async () => {
    await expectFatal((server, reqs) => server.send(frame(77, reqs[0]?.reqId ?? 0, 0, '')), /unknown message type 77/);
  });

  it('an XS_ERROR that names no errno', async () => {
    await expectFatal((server, reqs) => server.send(frame(XS.XS_ERROR, reqs[0]?.reqId ?? 0, 0, 'oops\0')), /names no errno/);
  });

  it('a write acknowledged with something other than OK', async () => {
    await expectFatal((server, reqs) => server.send(frame(XS.XS_WRITE, reqs[1]?.reqId ?? 0, 0, 'YES\0')), /expected OK/);
  });

  it('a directory listing without its final NUL', async () => {
    await expectFatal((server, reqs) => server.send(frame(XS.XS_DIRECTORY, reqs[2]?.reqId ?? 0, 0, 'a\0b')), /NUL-terminated/);
  });

  it('a watch event that is not path and token', async () => {
    await expectFatal((server) => server.send(frame(XS.XS_WATCH_EVENT, 0, 0, '/a\0t\0extra\0')), /3 strings/);
  });

  it('answers delivered before the bad frame still resolve', async () => {
    const { xs, server, requests } = scripted();
    const good = xs.read('/a');
    const bad = reject(xs.read('/b'));
    await settle();
    server.send(frame(XS.XS_READ, requests[0]?.reqId ?? 0, 0, 'fine'));
    server.send(frame(XS.XS_READ, 12345, 0, 'lie'));
    expect(await good).toBe('fine');
    expect(await bad).toBeInstanceOf(XenstoreProtocolError);
    expect(xs.error).toBeInstanceOf(XenstoreProtocolError);
  });
});

describe('XenstoreClient connection end', () => {
  it('rejects everything with the transport error when the server side goes away', async () => {
    const { xs, server } = scripted();
    const p = reject(xs.read('/a'));
    await settle();
    const cause = new Error('socket reset');
    server.end(cause);
    expect(await p).toBe(cause);
    expect(await xs.closed).toBe(cause);
    expect(await reject(xs.read('/b'))).toBe(cause);
  });

  it('rejects with XenstoreClosedError on an orderly close and after close()', async () => {
    const a = scripted();
    const p = reject(a.xs.read('/a'));
    await settle();
    a.server.end(null);
    expect(await p).toBeInstanceOf(XenstoreClosedError);

    const b = scripted();
    const q = reject(b.xs.read('/a'));
    b.xs.close();
    expect(await q).toBeInstanceOf(XenstoreClosedError);
    expect(b.server.clientClosed).toBe(true);
  });

  it('rejects watch and unwatch with the error that ended the client', async () => {
    const { xs } = scripted();
    xs.close();
    await expect(xs.watch('/a', 't', () => undefined)).rejects.toBeInstanceOf(XenstoreClosedError);
    await expect(xs.unwatch('/a', 't')).rejects.toBeInstanceOf(XenstoreClosedError);
  });

  it('drops watches when the connection ends', async () => {
    const { xs, fake, server } = withFake();
    const seen: string[] = [];
    await xs.watch('/a', 't', (p) => seen.push(p));
    await settle();
    server.end(null);
    await settle();
    fake.write('/a/b', '1');
    await settle();
    expect(seen).toEqual(['/a']);
  });
});
