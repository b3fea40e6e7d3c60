// XenStore READ and WRITE operations per second, side by side in one run: the engine called
// directly (no transport, the ceiling), the unix socket with our TypeScript client (one request
// at a time, and 32 in flight), and a guest's store ring in memory with the TypeScript ring
// guest (one request at a time, kick() called where a guest would signal its event channel).
// Server and clients share this process and its event loop, so the socket figures include both
// ends' JavaScript; repetitions are interleaved and the best of each is printed, since on a
// shared 2-core machine only figures taken side by side mean anything.
//
// Direct use: npx tsx bench/xenstore-bench.ts [--ops N] [--repeat R]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { XS } from '../ring-buffer/xs-wire.ts';
import { XenstoreSocketClient } from '../dom0/xenstore/client.ts';
import { XenstoreEngine } from '../dom0/xenstore/engine.ts';
import { latin1Bytes } from '../dom0/xenstore/payload.ts';
import { XenstoreRingServer } from '../dom0/xenstore/ring-server.ts';
import { startXenstoreSocket } from '../dom0/xenstore/socket-server.ts';
import { FakeSession } from '../dom0/xenstore/testing/harness.ts';
import { newStorePage, RingGuest } from '../dom0/xenstore/testing/ring-guest.ts';

export interface XenstoreBenchOptions {
  readonly out: NodeJS.WritableStream;
  /** Operations per measurement (each transport, each op, each repetition). */
  readonly ops?: number;
  readonly repeat?: number;
}

export interface XenstoreBenchRow {
  readonly transport: string;
  readonly readsPerSecond: number;
  readonly writesPerSecond: number;
}

const GUEST = 1;
const KEY = 'data/bench';
const VALUE = 'v'.repeat(32);

type Op = 'read' | 'write';
type Runner = (op: Op, n: number) => Promise<number>;

async function timed(n: number, body: () => Promise<void> | void): Promise<number> {
  const t0 = process.hrtime.bigint();
  await body();
  const ns = Number(process.hrtime.bigint() - t0);
  return n / (ns / 1e9);
}

/** The store every transport works on: one introduced guest with its home and a key. */
function newEngine(): XenstoreEngine {
  const engine = new XenstoreEngine();
  const dom0 = new FakeSession(0);
  const call = (type: number, payload: string): void => {
    const r = engine.handle(dom0, { type, txId: 0, payload: latin1Bytes(payload) });
    if (r.type === XS.XS_ERROR) throw new Error(`bench setup failed on type ${type}`);
  };
  call(XS.XS_INTRODUCE, `${GUEST}\u00001\u00001\0`);
  call(XS.XS_WRITE, `/local/domain/${GUEST}/${KEY}\0${VALUE}`);
  call(XS.XS_SET_PERMS, `/local/domain/${GUEST}\0n${GUEST}\0`);
  call(XS.XS_SET_PERMS, `/local/domain/${GUEST}/${KEY}\0n${GUEST}\0`);
  call(XS.XS_SET_PERMS, `/local/domain/${GUEST}/data\0n${GUEST}\0`);
  return engine;
}

function directRunner(): Runner {
  const engine = newEngine();
  const guest = new FakeSession(GUEST, false);
  engine.attach(guest);
  const read = latin1Bytes(`${KEY}\0`);
  const write = latin1Bytes(`${KEY}\0${VALUE}`);
  return (op, n) =>
    timed(n, () => {
      const req = op === 'read' ? { type: XS.XS_READ, txId: 0, payload: read } : { type: XS.XS_WRITE, txId: 0, payload: write };
      for (let i = 0; i < n; i++) if (engine.handle(guest, req).type === XS.XS_ERROR) throw new Error('direct op failed');
    });
}

function ringRunner(): Runner {
  const engine = newEngine();
  const page = newStorePage();
  let server: XenstoreRingServer | undefined;
  const guest = new RingGuest(page, () => server!.kick());
  server = new XenstoreRingServer({ engine, domid: GUEST, page, notify: () => {} });
  const read = latin1Bytes(`${KEY}\0`);
  const write = latin1Bytes(`${KEY}\0${VALUE}`);
  return (op, n) =>
    timed(n, () => {
      for (let i = 0; i < n; i++) {
        const { frame } = op === 'read' ? guest.request(XS.XS_READ, read) : guest.request(XS.XS_WRITE, write);
        if (frame.type === XS.XS_ERROR) throw new Error('ring op failed');
      }
    });
}

async function socketRunner(path: string, depth: number): Promise<{ run: Runner; close: () => void }> {
  const client = await XenstoreSocketClient.connect(path);
  const abs = `/local/domain/${GUEST}/${KEY}`;
  const read = latin1Bytes(`${abs}\0`);
  const write = latin1Bytes(`${abs}\0${VALUE}`);
  const one = async (op: Op): Promise<void> => {
    const f = op === 'read' ? await client.request(XS.XS_READ, read) : await client.request(XS.XS_WRITE, write);
    if (f.type === XS.XS_ERROR) throw new Error('socket op failed');
  };
  const run: Runner = (op, n) =>
    timed(n, async () => {
      let issued = 0;
      const lane = async (): Promise<void> => {
        while (issued < n) {
          issued++;
          await one(op);
        }
      };
      await Promise.all(Array.from({ length: depth }, lane));
    });
  return { run, close: () => client.close() };
}

export async function runXenstoreBench(options: XenstoreBenchOptions): Promise<XenstoreBenchRow[]> {
  const ops = options.ops ?? 20_000;
  const repeat = options.repeat ?? 3;
  const dir = mkdtempSync(join(tmpdir(), 'xs-bench-'));
  const server = await startXenstoreSocket({ engine: newEngine(), path: join(dir, 'socket') });
  const sock1 = await socketRunner(server.path, 1);
  const sock32 = await socketRunner(server.path, 32);
  const runners: Array<[string, Runner]> = [
    ['engine, direct call', directRunner()],
    ['ring (in-memory page, TS guest)', ringRunner()],
    ['unix socket, 1 in flight', sock1.run],
    ['unix socket, 32 in flight', sock32.run],
  ];
  const best = new Map<string, { read: number; write: number }>();
  try {
    // Warm-up so the JIT has compiled each path before it is timed.
    for (const [, r] of runners) {
      await r('read', Math.min(ops, 2000));
      await r('write', Math.min(ops, 2000));
    }
    for (let k = 0; k < repeat; k++) {
      for (const [name, r] of runners) {
        const b = best.get(name) ?? { read: 0, write: 0 };
        b.read = Math.max(b.read, await r('read', ops));
        b.write = Math.max(b.write, await r('write', ops));
        best.set(name, b);
      }
    }
  } finally {
    sock1.close();
    sock32.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const rows = runners.map(([name]) => ({ transport: name, readsPerSecond: best.get(name)!.read, writesPerSecond: best.get(name)!.write }));
  const fmt = (v: number): string => Math.round(v).toLocaleString('en-US').padStart(12);
  const out = options.out;
  out.write(`XenStore ops/s, ${ops} ops per run, best of ${repeat} (32-byte value, guest domain ${GUEST})\n`);
  out.write(`${'transport'.padEnd(34)}${'READ/s'.padStart(12)}${'WRITE/s'.padStart(12)}\n`);
  for (const r of rows) out.write(`${r.transport.padEnd(34)}${fmt(r.readsPerSecond)}${fmt(r.writesPerSecond)}\n`);
  const ring = rows[1]!;
  const sock = rows[2]!;
  out.write(`ring / socket (1 in flight): READ ${(ring.readsPerSecond / sock.readsPerSecond).toFixed(1)}x, WRITE ${(ring.writesPerSecond / sock.writesPerSecond).toFixed(1)}x\n`);
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ args: process.argv.slice(2), options: { ops: { type: 'string' }, repeat: { type: 'string' } } });
  const ops = values.ops === undefined ? undefined : Number(values.ops);
  const repeat = values.repeat === undefined ? undefined : Number(values.repeat);
  for (const [k, v] of [['--ops', ops], ['--repeat', repeat]] as const) {
    if (v !== undefined && !(Number.isInteger(v) && v > 0)) {
      process.stderr.write(`${k} must be a positive integer\n`);
      process.exit(2);
    }
  }
  await runXenstoreBench({ out: process.stdout, ops, repeat });
}
