// xltsd end to end on this host with process guests (no KVM needed): the real CLI against a real
// daemon, real shim processes, real /dev/shm RAM files, real XenStore rings, and Debian's
// xenstore-utils against the daemon's socket. Each test gets its own run directory.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DomainSummary } from '../dom0/control/commands.ts';
import type { RunPaths } from '../dom0/daemon/run-dir.ts';
import type { Xltsd } from '../dom0/daemon/xltsd.ts';
import type { ControlClient } from '../cli/daemon-client.ts';
import { loadXlCfgFile } from '../cli/xl-cfg/index.ts';
import { EXAMPLES, ROOT, XLTS, XltsdHarness, eventually, run, type CliResult } from './support/xltsd-harness.ts';

let h: XltsdHarness;
let dir: string;
let paths: RunPaths;
let daemon: Xltsd;
let client: ControlClient;

beforeEach(async () => {
  h = await XltsdHarness.start();
  ({ dir, paths, daemon, client } = h);
});

afterEach(async () => {
  await h.stop();
});

function xlts(...args: string[]): Promise<CliResult> {
  return h.xlts(...args);
}

async function listLong(): Promise<Array<DomainSummary & { state: string }>> {
  const r = await xlts('list', '-l');
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Array<DomainSummary & { state: string }>;
}

/** The guest's own write, through its store ring: its xenbus client is connected. */
async function xenbusConnected(domid: number): Promise<true | undefined> {
  const r = await client.request({ op: 'xenstore-read', path: `/local/domain/${domid}/control/feature-poweroff` });
  return r.value === '1' ? true : undefined;
}

function expectNothingLeft(): Promise<void> {
  return h.expectNothingLeft();
}

describe('xltsd with process guests', () => {
  it('runs two domains from examples/, serves their xenbus, shuts one down cleanly and destroys the other', async () => {
    expect((await xlts('create', path.join(EXAMPLES, 'idle.cfg'))).code).toBe(0);
    expect((await xlts('create', path.join(EXAMPLES, 'idle2.cfg'))).code).toBe(0);
    const both = await listLong();
    expect(both.map((d) => [d.name, d.state])).toEqual([
      ['idle', 'running'],
      ['idle2', 'running'],
    ]);
    for (const d of both) await eventually(`dom${d.domid} xenbus`, () => xenbusConnected(d.domid));

    // Debian's xenstore-utils see the tree through the socket `xlts info --json` names.
    const info = JSON.parse((await xlts('info', '--json')).stdout) as { xenstore_socket: string };
    expect(info.xenstore_socket).toBe(paths.xenstoreSocket);
    if (fs.existsSync('/usr/bin/xenstore-ls')) {
      const ls = await run('xenstore-ls', ['/local/domain'], { env: { ...process.env, XENSTORED_PATH: info.xenstore_socket } });
      expect(ls.stdout).toMatch(/name = "idle"/);
      expect(ls.stdout).toMatch(/name = "idle2"/);
      expect(ls.stdout).toMatch(/feature-poweroff = "1"/);
    } else console.warn('*** /usr/bin/xenstore-ls missing (Debian xenstore-utils): that check skipped ***');

    // The console replays what the guest printed on its PV console ring, then stays attached (as
    // xl console does) until the domain goes: `timeout` ends it here.
    const con = await run('timeout', ['5', process.execPath, XLTS, 'console', 'idle2'], { env: { ...process.env, XLTS_RUN_DIR: dir } }).catch(
      (e: { code?: number; stdout?: string }) => e,
    );
    expect((con as { code?: number }).code).toBe(124);
    expect(con.stdout).toContain('idle: domain');

    const down = await xlts('shutdown', '-w', 'idle');
    expect(down.code, down.stderr).toBe(0);
    expect((await listLong()).map((d) => [d.name, d.state])).toEqual([['idle2', 'running']]);
    expect((await xlts('destroy', 'idle2')).code).toBe(0);
    expect(await listLong()).toEqual([]);
    await expectNothingLeft();
  }, 120_000);

  it('restarts a domain whose on_reboot is restart, under the same name with a new domid', async () => {
    expect((await xlts('create', path.join(EXAMPLES, 'idle.cfg'))).code).toBe(0);
    const [first] = await listLong();
    await eventually('xenbus', () => xenbusConnected(first!.domid));
    expect((await xlts('reboot', '-w', 'idle')).code).toBe(0);
    const again = await eventually('the restarted domain', async () => {
      const l = await listLong();
      return l.length === 1 && l[0]!.domid !== first!.domid && l[0]!.state === 'running' ? l[0] : undefined;
    });
    expect(again.name).toBe('idle');
    await eventually('xenbus after restart', () => xenbusConnected(again.domid));
    expect((await xlts('destroy', 'idle')).code).toBe(0);
    await expectNothingLeft();
  }, 120_000);

  it('refuses bad input before creating anything, and names the problem', async () => {
    const bad = path.join(dir, 'bad.cfg');
    fs.writeFileSync(bad, 'name = "bad"\ntype = "process"\nprogram = "idle"\nmemory = "lots"\n');
    const r1 = await xlts('create', bad);
    expect(r1.code).toBe(1);
    expect(r1.stderr).toMatch(/bad\.cfg:4.*memory/);

    const noKernel = path.join(dir, 'nokernel.cfg');
    fs.writeFileSync(noKernel, 'name = "nok"\ntype = "pvh"\nkernel = "/nonexistent/vmlinux"\nmemory = 64\n');
    const r2 = await xlts('create', noKernel);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/\/nonexistent\/vmlinux/);

    const noProgram = path.join(dir, 'noprog.cfg');
    fs.writeFileSync(noProgram, 'name = "nop"\ntype = "process"\nprogram = "no-such-program"\nmemory = 16\n');
    const r3 = await xlts('create', noProgram);
    expect(r3.code).toBe(1);
    expect(r3.stderr).toMatch(/no-such-program/);
    await expectNothingLeft();

    expect((await xlts('create', path.join(EXAMPLES, 'idle.cfg'))).code).toBe(0);
    const dup = await xlts('create', path.join(EXAMPLES, 'idle.cfg'));
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/idle/);
    expect((await listLong()).map((d) => d.name)).toEqual(['idle']);

    // A disk whose image is missing is refused before anything runs.
    const withDisk = await xlts('create', path.join(EXAMPLES, 'blkbench.cfg'));
    expect(withDisk.code).toBe(1);
    expect(withDisk.stderr).toMatch(/disk xvda.*no such file/);
    expect((await listLong()).map((d) => d.name)).toEqual(['idle']);

    // Pause and unpause move the phase; a second unpause is refused for the phase it is in.
    expect((await xlts('pause', 'idle')).code).toBe(0);
    expect((await listLong())[0]!.state).toBe('paused');
    expect((await xlts('unpause', 'idle')).code).toBe(0);
    expect((await listLong())[0]!.state).toBe('running');
    const again = await xlts('unpause', 'idle');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/running/);
    expect((await xlts('destroy', 'idle')).code).toBe(0);
    await expectNothingLeft();
  }, 120_000);

  it('keeps running when a shim dies: that domain is crashed (on_crash preserve), the other runs on', async () => {
    expect((await xlts('create', path.join(EXAMPLES, 'idle.cfg'))).code).toBe(0);
    expect((await xlts('create', path.join(EXAMPLES, 'idle2.cfg'))).code).toBe(0);
    const victim = daemon.registry.find('idle');
    process.kill(victim.shim!.pid!, 'SIGKILL');
    await eventually('the crash', async () => ((await listLong()).find((d) => d.name === 'idle')?.state === 'crashed' ? true : undefined));
    const l = await listLong();
    expect(l.find((d) => d.name === 'idle2')?.state).toBe('running');
    await eventually('idle2 xenbus', () => xenbusConnected(l.find((d) => d.name === 'idle2')!.domid));
    expect((await xlts('destroy', 'idle')).code).toBe(0);
    expect((await xlts('destroy', 'idle2')).code).toBe(0);
    await expectNothingLeft();
  }, 120_000);

  it('runs the blkbench process guest: our blkfront against blkback on a raw image, every check passing', async () => {
    const image = path.join(dir, 'disk.img');
    fs.writeFileSync(image, Buffer.alloc(16 * 1024 * 1024));
    const r = await xlts('create', path.join(EXAMPLES, 'blkbench.cfg'), `disk=["${image},raw,xvda,rw"]`, 'on_poweroff="preserve"');
    expect(r.code, r.stderr).toBe(0);
    const d = await eventually('blkbench to finish', async () => ((await listLong()).find((x) => x.name === 'blkbench' && x.state === 'shutdown')), 60_000);
    const summary = JSON.parse((await client.request({ op: 'xenstore-read', path: `/local/domain/${d.domid}/data/blkbench` })).value) as { ok: boolean; checks: number; errors: number };
    expect(summary.ok, JSON.stringify(summary)).toBe(true);
    expect(summary.checks).toBeGreaterThanOrEqual(10);
    expect(summary.errors).toBe(0);
    // Its patterned writes reached the image.
    expect(fs.readFileSync(image).some((b) => b !== 0)).toBe(true);
    expect((await xlts('destroy', 'blkbench')).code).toBe(0);
    await expectNothingLeft();
  }, 120_000);

  it('leaves nothing behind after 50 create/destroy cycles', async () => {
    const { config } = await loadXlCfgFile(path.join(EXAMPLES, 'idle.cfg'));
    for (let i = 0; i < 50; i++) {
      const r = await client.request({ op: 'create', config, paused: false });
      await client.request({ op: 'destroy', domain: r.domid });
    }
    await expectNothingLeft();
  }, 300_000);
});
