// A private xltsd for one test at a time (its own run directory), the real CLI run against it as
// a user runs it, and the checks every xltsd test ends with: no domain left behind anywhere.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import { runPaths, type RunPaths } from '../../dom0/daemon/run-dir.ts';
import { startXltsd, type Xltsd } from '../../dom0/daemon/xltsd.ts';
import { ControlClient } from '../../cli/daemon-client.ts';

export const run = promisify(execFile);
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const XLTS = path.join(ROOT, 'bin/xlts.js');
export const EXAMPLES = path.join(ROOT, 'examples');

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export class XltsdHarness {
  private constructor(
    readonly dir: string,
    readonly paths: RunPaths,
    readonly daemon: Xltsd,
    readonly client: ControlClient,
  ) {}

  static async start(): Promise<XltsdHarness> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xltsd-test-'));
    const paths = runPaths(dir);
    const daemon = await startXltsd({ runDir: dir, log: () => undefined });
    const client = await ControlClient.connect(paths.controlSocket);
    return new XltsdHarness(dir, paths, daemon, client);
  }

  async stop(): Promise<void> {
    this.client.close();
    await this.daemon.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** The CLI as a user runs it, against this daemon. */
  async xlts(...args: string[]): Promise<CliResult> {
    try {
      const r = await run(process.execPath, [XLTS, ...args], { env: { ...process.env, XLTS_RUN_DIR: this.dir }, cwd: ROOT });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  }

  async read(path: string): Promise<string> {
    return (await this.client.request({ op: 'xenstore-read', path })).value;
  }

  /** Nothing of any domain is left: no shim process, no RAM file, no xenstore node. */
  async expectNothingLeft(): Promise<void> {
    expect(this.daemon.registry.size).toBe(0);
    const shm = fs.readdirSync('/dev/shm').filter((f) => `/dev/shm/${f}`.startsWith(this.paths.shmPrefix));
    expect(shm).toEqual([]);
    const { nodes } = await this.client.request({ op: 'xenstore-ls', path: '/local/domain' });
    expect(nodes.map((n) => n.path).filter((p) => /^\/local\/domain\/[1-9]/.test(p) || /^\/local\/domain\/0\/backend\/[^/]+\/[0-9]+/.test(p))).toEqual([]);
    const vm = await this.client.request({ op: 'xenstore-ls', path: '/vm' });
    expect(vm.nodes.map((n) => n.path)).toEqual(['/vm']);
    // This daemon runs in this process, so its shims are our children (other test files run
    // daemons of their own at the same time).
    const { stdout } = await run('ps', ['-o', 'args=', '--ppid', String(process.pid)]).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
    expect(stdout.split('\n').filter((l) => l.includes('shim-child') && l.includes(XLTS))).toEqual([]);
  }
}

/** Polls `probe` until it gives a value (errors count as not yet). */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
