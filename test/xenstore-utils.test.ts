// Debian's xenstore-utils (libxenstore 4.17), unmodified, against our socket server. libxenstore
// honours XENSTORED_PATH both for its socket-only mode (-s) and for its default mode, where it
// would otherwise open /dev/xen/xenbus (or /proc/xen/xenbus): with the variable set, both go to
// our socket, and since the path is a socket, libxenstore speaks xsd_sockmsg over it.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { XenstoreEngine } from '../dom0/xenstore/engine.ts';
import { startXenstoreSocket, type XenstoreSocketServer } from '../dom0/xenstore/socket-server.ts';

const run = promisify(execFile);
const TOOLS = existsSync('/usr/bin/xenstore-read');
if (!TOOLS) console.warn('SKIPPING test/xenstore-utils.test.ts: /usr/bin/xenstore-read is absent (apt-get install xenstore-utils)');

describe.skipIf(!TOOLS)('Debian xenstore-utils against our socket', () => {
  let dir: string;
  let server: XenstoreSocketServer;
  let env: NodeJS.ProcessEnv;
  // Blocking calls (execFileSync) would deadlock: the server runs on this event loop.
  const xs = async (tool: string, ...args: string[]): Promise<string> => (await run(`/usr/bin/${tool}`, args, { env, timeout: 10_000 })).stdout;
  const fails = async (tool: string, ...args: string[]): Promise<number> => {
    try {
      await run(`/usr/bin/${tool}`, args, { env, timeout: 10_000 });
      return 0;
    } catch (e) {
      return (e as { code?: number }).code ?? -1;
    }
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'xs-utils-'));
    server = await startXenstoreSocket({ engine: new XenstoreEngine(), path: join(dir, 'socket') });
    env = { PATH: process.env.PATH, XENSTORED_PATH: server.path };
  });

  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('xenstore-write then xenstore-read, several keys at once', async () => {
    await xs('xenstore-write', '/vm/1/name', 'alpha', '/vm/1/memory', '512');
    expect(await xs('xenstore-read', '/vm/1/name', '/vm/1/memory')).toBe('alpha\n512\n');
    expect(await fails('xenstore-read', '/vm/none')).toBe(1);
  });

  it('the socket-only mode (-s) reaches us through XENSTORED_PATH too', async () => {
    await xs('xenstore-write', '-s', '/sock/only', 'yes');
    expect(await xs('xenstore-read', '-s', '/sock/only')).toBe('yes\n');
  });

  it('xenstore-ls prints the tree, nested and with -f full paths', async () => {
    await xs('xenstore-write', '/ls/a', '1', '/ls/b/c', 'two words');
    expect(await xs('xenstore-ls', '/ls')).toBe('a = "1"\nb = ""\n c = "two words"\n');
    expect(await xs('xenstore-ls', '-f', '/ls')).toBe('/ls/a = "1"\n/ls/b = ""\n/ls/b/c = "two words"\n');
  });

  it('xenstore-list and xenstore-exists', async () => {
    await xs('xenstore-write', '/li/x', '', '/li/y', '');
    expect(await xs('xenstore-list', '/li')).toBe('x\ny\n');
    expect(await fails('xenstore-exists', '/li/x')).toBe(0);
    expect(await fails('xenstore-exists', '/li/z')).toBe(1);
  });

  it('a directory too long for one reply: libxenstore falls back from E2BIG to DIRECTORY_PART', async () => {
    const names = Array.from({ length: 300 }, (_, i) => `child-with-a-longish-name-${i}`);
    await xs('xenstore-write', ...names.flatMap((n, i) => [`/big/${n}`, String(i)]));
    expect(await xs('xenstore-list', '/big')).toBe(names.map((n) => `${n}\n`).join(''));
  });

  it('xenstore-chmod sets permissions that xenstore-ls -p reads back', async () => {
    await xs('xenstore-write', '/perm/node', 'v');
    await xs('xenstore-chmod', '/perm/node', 'n0', 'r5', 'b7');
    const line = (await xs('xenstore-ls', '-p', '/perm')).trim();
    expect(line).toMatch(/^node = "v"[ .]*\(n0,r5,b7\)$/);
    // -r applies to the subtree.
    await xs('xenstore-write', '/perm/node/kid', 'k');
    await xs('xenstore-chmod', '-r', '/perm', 'n0', 'r3');
    expect(await xs('xenstore-ls', '-p', '/perm')).toMatch(/node = "v".*\(n0,r3\)\n kid = "k".*\(n0,r3\)\n/);
  });

  it('xenstore-rm removes a subtree; -t also removes parents left empty', async () => {
    await xs('xenstore-write', '/rm/a/b', '1', '/rm/keep', '2');
    await xs('xenstore-rm', '/rm/a');
    expect(await xs('xenstore-list', '/rm')).toBe('keep\n');
    await xs('xenstore-write', '/rmt/x/y', '1');
    await xs('xenstore-rm', '-t', '/rmt/x/y');
    expect(await fails('xenstore-exists', '/rmt')).toBe(1);
  });

  it('xenstore-watch sees the event on registration and a later write', async () => {
    const watcher = spawn('/usr/bin/xenstore-watch', ['/watched'], { env });
    let out = '';
    watcher.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const waitFor = async (text: string): Promise<void> => {
      for (let i = 0; i < 400 && !out.includes(text); i++) await new Promise((r) => setTimeout(r, 10));
    };
    try {
      await waitFor('/watched\n');
      expect(out).toBe('/watched\n');
      await xs('xenstore-write', '/watched/child', 'x');
      await waitFor('/watched/child\n');
      expect(out).toBe('/watched\n/watched/child\n');
    } finally {
      watcher.kill('SIGTERM');
      await new Promise((r) => watcher.once('exit', r));
    }
  });
});
