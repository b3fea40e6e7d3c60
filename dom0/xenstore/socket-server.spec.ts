import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { XS } from '../../ring-buffer/xs-wire.ts';
import { XenstoreSocketClient } from './client.ts';
import { XenstoreEngine } from './engine.ts';
import { XenstoreError } from './errors.ts';
import { startXenstoreSocket, type XenstoreSocketServer } from './socket-server.ts';

let dir: string;
let server: XenstoreSocketServer;
let engine: XenstoreEngine;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'xs-sock-'));
  engine = new XenstoreEngine();
  server = await startXenstoreSocket({ engine, path: join(dir, 'socket') });
});

afterEach(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const until = async (cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
};

describe('startXenstoreSocket', () => {
  it('serves many privileged clients at once, with watches across them', async () => {
    const a = await XenstoreSocketClient.connect(server.path);
    const b = await XenstoreSocketClient.connect(server.path);
    const events: string[] = [];
    b.onWatchEvent = (p, t) => events.push(`${p}|${t}`);
    await b.watch('/shared', 'tok');
    await Promise.all(Array.from({ length: 50 }, (_, i) => a.write(`/shared/${i}`, String(i))));
    expect(await b.directory('/shared')).toHaveLength(50);
    expect(await a.read('/shared/7')).toBe('7');
    await until(() => events.length >= 51);
    expect(events[0]).toBe('/shared|tok');
    expect(events).toHaveLength(51);
    // Socket clients are dom0: INTRODUCE is allowed.
    await a.call(XS.XS_INTRODUCE, '5\u00001\u00001\0');
    await expect(a.read('/nope')).rejects.toThrow(XenstoreError);
    a.close();
    b.close();
  });

  it('an oversized message costs that client its connection, never the server', async () => {
    const good = await XenstoreSocketClient.connect(server.path);
    await good.watch('/w', 't');
    const bad = connect(server.path);
    await new Promise((r) => bad.once('connect', r));
    const closed = new Promise((r) => bad.once('close', r));
    const header = Buffer.alloc(16);
    header.writeUInt32LE(XS.XS_WRITE, 0);
    header.writeUInt32LE(5000, 12);
    bad.write(header);
    await closed;
    await until(() => server.connections === 1);
    expect(server.connections).toBe(1);
    expect(await good.read('/w').catch((e: XenstoreError) => e.xsdError)).toBe('ENOENT');
    good.close();
  });

  it('random garbage from one client does not disturb another', async () => {
    const good = await XenstoreSocketClient.connect(server.path);
    const bad = connect(server.path);
    await new Promise((r) => bad.once('connect', r));
    const junk = Buffer.alloc(64 * 1024);
    for (let i = 0; i < junk.length; i++) junk[i] = (i * 2654435761) >>> 24;
    bad.write(junk);
    bad.on('error', () => {});
    await good.write('/alive', 'yes');
    expect(await good.read('/alive')).toBe('yes');
    bad.destroy();
    good.close();
  });

  it('refuses to take over a live socket or clobber a file that is not a socket', async () => {
    await expect(startXenstoreSocket({ engine, path: server.path })).rejects.toThrow(/another server/);
    const notSocket = join(dir, 'file');
    writeFileSync(notSocket, 'x');
    await expect(startXenstoreSocket({ engine, path: notSocket })).rejects.toThrow(/not a socket/);
  });
});
