// The client over a real unix socket, and a cross-check of our frames with the real C client
// library: Debian's xenstore-utils (libxenstore, installed by scripts/setup.sh) talk to the same
// fake server through XENSTORED_PATH, and must send byte-for-byte what our client sends for the
// same operation (req_id aside: libxenstore leaves it 0). Without the tools the test fails rather
// than skips, as the C-header layout tests do.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { XS } from '../../ring-buffer/xs-wire.ts';
import { XenstoreClient } from './client.ts';
import { XenstoreClosedError } from './errors.ts';
import { connectUnixSocket } from './socket-transport.ts';
import { FakeXenstore, serveFake } from './testing/fake-xenstore.ts';

const run = promisify(execFile);
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function listen(fake: FakeXenstore): Promise<{ path: string; server: Server; drop: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'xlts-xenbus-'));
  const path = join(dir, 'socket');
  const sockets = new Set<import('node:net').Socket>();
  const server = createServer((sock) => {
    sockets.add(sock);
    const conn = serveFake(fake, {
      send: (b) => sock.write(b),
      onData: (cb) => sock.on('data', (d: Buffer) => cb(new Uint8Array(d.buffer, d.byteOffset, d.byteLength))),
    });
    sock.on('close', () => conn.close());
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  cleanups.push(() => {
    server.close();
    for (const s of sockets) s.destroy();
    rmSync(dir, { recursive: true, force: true });
  });
  return { path, server, drop: () => sockets.forEach((s) => s.destroy()) };
}

describe('XenstoreClient over a unix socket', () => {
  it('talks to a server on the socket, watches included', async () => {
    const fake = new FakeXenstore();
    const { path } = await listen(fake);
    const xs = new XenstoreClient(await connectUnixSocket(path));
    await xs.write('/local/domain/2/name', 'guest');
    expect(await xs.read('/local/domain/2/name')).toBe('guest');
    const seen: string[] = [];
    await xs.watch('/local/domain/2', 'w', (p) => seen.push(p));
    await xs.write('/local/domain/2/memory/target', '1024');
    await new Promise((r) => setTimeout(r, 20));
    expect(seen).toEqual(['/local/domain/2', '/local/domain/2/memory/target']);
    xs.close();
  });

  it('ends with XenstoreClosedError when the server drops the connection', async () => {
    const { path, drop } = await listen(new FakeXenstore());
    const xs = new XenstoreClient(await connectUnixSocket(path));
    await xs.write('/a', '1');
    drop();
    expect(await xs.closed).toBeInstanceOf(XenstoreClosedError);
    await expect(xs.read('/a')).rejects.toBeInstanceOf(XenstoreClosedError);
  });

  it('fails to connect to a socket nobody listens on', async () => {
    await expect(connectUnixSocket(join(tmpdir(), 'xlts-no-such-xenstored-socket'))).rejects.toThrow(/ENOENT|ECONNREFUSED/);
  });
});

describe('frames compared with the real libxenstore (xenstore-utils)', () => {
  it('sends XS_WRITE, XS_READ, XS_DIRECTORY and a transaction exactly as libxenstore does, and reads what it wrote', async () => {
    const fake = new FakeXenstore();
    const { path } = await listen(fake);
    const env = { ...process.env, XENSTORED_PATH: path };
    await run('xenstore-write', ['/local/domain/3/device/vbd/768/state', '1'], { env, timeout: 10_000 });
    const read = await run('xenstore-read', ['/local/domain/3/device/vbd/768/state'], { env, timeout: 10_000 });
    expect(read.stdout).toBe('1\n');
    const list = await run('xenstore-list', ['/local/domain/3/device/vbd'], { env, timeout: 10_000 });
    expect(list.stdout).toBe('768\n');
    const theirs = fake.log.splice(0);

    const xs = new XenstoreClient(await connectUnixSocket(path));
    await xs.write('/local/domain/3/device/vbd/768/state', '1');
    expect(await xs.read('/local/domain/3/device/vbd/768/state')).toBe('1');
    // xenstore-list lists inside a transaction.
    expect(await xs.transaction((tx) => tx.directory('/local/domain/3/device/vbd'))).toEqual(['768']);
    const ours = fake.log.splice(0);
    xs.close();

    // Transaction ids are the server's to choose; only whether one is used must match.
    const strip = (log: typeof theirs) => log.map((r) => ({ type: r.type, inTx: r.txId !== 0, payload: [...r.payload] }));
    expect(strip(ours)).toEqual(strip(theirs));
    expect(theirs.map((r) => r.type)).toEqual([XS.XS_WRITE, XS.XS_READ, XS.XS_TRANSACTION_START, XS.XS_DIRECTORY, XS.XS_TRANSACTION_END]);
  });

  it('lists a directory too long for one payload in XS_DIRECTORY_PART steps as libxenstore does', async () => {
    const fake = new FakeXenstore();
    const { path } = await listen(fake);
    const names = Array.from({ length: 40 }, (_, i) => `vif-${i}`);
    for (const n of names) fake.write(`/local/domain/0/backend/vif/${n}`, '');
    fake.directoryLimit = 64;
    const env = { ...process.env, XENSTORED_PATH: path };
    const list = await run('xenstore-list', ['/local/domain/0/backend/vif'], { env, timeout: 10_000 });
    expect(list.stdout.trim().split('\n')).toEqual(names);
    const theirs = fake.log.splice(0);
    expect(theirs.filter((r) => r.type === XS.XS_DIRECTORY_PART).length).toBeGreaterThan(3);

    const xs = new XenstoreClient(await connectUnixSocket(path));
    expect(await xs.transaction((tx) => tx.directory('/local/domain/0/backend/vif'))).toEqual(names);
    const ours = fake.log.splice(0);
    xs.close();
    const strip = (log: typeof theirs) => log.map((r) => ({ type: r.type, inTx: r.txId !== 0, payload: [...r.payload] }));
    expect(strip(ours)).toEqual(strip(theirs));
  });

  it('reads what libxenstore wrote and is seen by xenstore-watch', async () => {
    const fake = new FakeXenstore();
    const { path } = await listen(fake);
    const env = { ...process.env, XENSTORED_PATH: path };
    await run('xenstore-write', ['/vm/name', 'guest-7'], { env, timeout: 10_000 });
    const xs = new XenstoreClient(await connectUnixSocket(path));
    expect(await xs.read('/vm/name')).toBe('guest-7');
    // xenstore-watch -n 2: the initial event, then the one our write causes.
    const watch = run('xenstore-watch', ['-n', '2', '/vm'], { env, timeout: 10_000 });
    while (fake.watchCount() === 0) await new Promise((r) => setTimeout(r, 5));
    await xs.write('/vm/state', 'running');
    const { stdout } = await watch;
    expect(stdout.trim().split('\n')).toEqual(['/vm', '/vm/state']);
    xs.close();
  });
});
