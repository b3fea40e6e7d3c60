import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { XlCfgError, XlCfgReadError, XlCfgSyntaxError, formatIssue } from './errors.ts';
import { loadXlCfgFile, loadXlCfgText, type LoadOptions } from './load.ts';
import type { PlaceholderRef } from './mapper.ts';

const load = (text: string, options: LoadOptions = {}) => loadXlCfgText(text, 'domU.cfg', '/etc/xlts', options);

async function errorOf(text: string, options: LoadOptions = {}): Promise<XlCfgError> {
  try {
    await load(text, options);
  } catch (e) {
    if (e instanceof XlCfgError) return e;
    throw e;
  }
  throw new Error('loaded');
}

const PVH = 'name = "web"\nkernel = "/boot/vmlinux"\n';

describe('mapXlCfg', () => {
  it('fills xl defaults around the required keys', async () => {
    const { config, warnings } = await load(PVH);
    expect(config).toEqual({
      name: 'web',
      type: 'pvh',
      kernel: '/boot/vmlinux',
      memory: 128,
      vcpus: 1,
      cmdline: '',
      on_poweroff: 'destroy',
      on_reboot: 'restart',
      on_crash: 'destroy',
      disks: [],
      vifs: [],
      max_grant_frames: 64,
    });
    expect(warnings).toEqual([]);
  });

  it('maps every key it knows', async () => {
    const text = [
      'name = "web"', 'type = "pvh"', 'uuid = "1B4E28BA-2FA1-11D2-883F-0016D3CCA427"',
      'kernel = "vmlinux"', 'ramdisk = "../initrd"', 'cmdline = "console=hvc0"',
      'memory = 0x200', 'maxmem = 512', 'vcpus = 2', 'maxvcpus = 2', 'max_grant_frames = 32',
      'on_poweroff = "preserve"', 'on_reboot = "destroy"', 'on_crash = "restart"',
      "disk = [ 'web.img,,xvda', 'format=raw, vdev=xvdb, access=ro, target=/srv/data.img' ]",
      "vif = [ 'mac=00:16:3e:00:00:01,bridge=xenbr0', '' ]",
    ].join('\n');
    const { config } = await load(text);
    expect(config).toMatchObject({
      uuid: '1b4e28ba-2fa1-11d2-883f-0016d3cca427',
      kernel: '/etc/xlts/vmlinux',
      ramdisk: '/etc/initrd',
      memory: 512,
      vcpus: 2,
      max_grant_frames: 32,
      on_poweroff: 'preserve',
      on_reboot: 'destroy',
      on_crash: 'restart',
      vifs: [{ devid: 0, mac: '00:16:3e:00:00:01', bridge: 'xenbr0', trusted: true }, { devid: 1, trusted: true }],
    });
    expect(config.disks.map((d) => [d.target, d.vdev, d.device_id, d.access])).toEqual([
      ['/etc/xlts/web.img', 'xvda', 51712, 'rw'],
      ['/srv/data.img', 'xvdb', 51728, 'ro'],
    ]);
  });

  it("follows xl's cmdline rules: cmdline wins over root and extra, else root=<root> <extra>", async () => {
    expect((await load(`${PVH}root = "/dev/xvda1 ro"\nextra = "quiet"`)).config.cmdline).toBe('root=/dev/xvda1 ro quiet');
    expect((await load(`${PVH}extra = "quiet"`)).config.cmdline).toBe('quiet');
    expect((await load(`${PVH}root = "/dev/xvda1"`)).config.cmdline).toBe('root=/dev/xvda1');
    const both = await load(`${PVH}root = "/dev/xvda1"\ncmdline = "console=hvc0"`);
    expect(both.config.cmdline).toBe('console=hvc0');
    expect(both.warnings.map(formatIssue)).toEqual(['domU.cfg:3: root: ignored because cmdline is set (xl does the same)']);
  });

  it('maps a process guest: a built-in name, or a path relative to the cfg', async () => {
    const { config } = await load('name = "i"\ntype = "process"\nprogram = "idle"\nmemory = 16');
    expect(config).toMatchObject({ type: 'process', program: 'idle', memory: 16 });
    expect(config).not.toHaveProperty('kernel');
    expect((await load('name = "i"\ntype = "process"\nprogram = "./guests/mine.ts"')).config).toMatchObject({ program: '/etc/xlts/guests/mine.ts' });
  });

  it('names file, line and key in every error, and reports them all at once', async () => {
    const e = await errorOf('name = "web"\nkernel = "/k"\n\n\n\n\nmemory = "lots"\nvcpus = [1]\non_crash = "coredump-restart"');
    expect(e.message).toBe(
      [
        'domU.cfg:7: memory: expected a number, got "lots"',
        'domU.cfg:8: vcpus: expected a single value, got a list',
        'domU.cfg:9: on_crash: "coredump-restart" is not supported: xlts writes no guest core dumps yet; use restart or preserve',
      ].join('\n'),
    );
    expect([e.source, e.line, e.key]).toEqual(['domU.cfg', 7, 'memory']);
  });

  it('reports missing required keys', async () => {
    expect((await errorOf('memory = 64')).message).toBe('domU.cfg: kernel: missing: required for type="pvh"\ndomU.cfg: name: missing: every domain needs one');
    expect((await errorOf('name = "p"\ntype = "process"')).message).toMatch(/^domU.cfg: program: missing: required for type="process"/);
  });

  it('refuses keys that belong to the other type, and types xlts lacks', async () => {
    expect((await errorOf(`${PVH}program = "idle"`)).message).toBe('domU.cfg:3: program: only type="process" runs a program (type defaults to "pvh")');
    expect((await errorOf('name = "p"\ntype = "process"\nprogram = "idle"\nkernel = "/k"')).message).toMatch(/^domU.cfg:4: kernel: not used by type="process"/);
    expect((await errorOf(`${PVH}type = "hvm"`)).message).toMatch(/^domU.cfg:3: type: "hvm" guests are not supported by xlts/);
    expect((await errorOf(`${PVH}builder = "generic"`)).message).toMatch(/^domU.cfg:3: builder: is deprecated/);
    expect((await errorOf(`${PVH}maxmem = 4096`)).message).toMatch(/^domU.cfg:3: maxmem: must equal memory/);
    expect((await errorOf('name = "42"\nkernel = "/k"')).message).toBe('domU.cfg:1: name: "42" is all digits, which would read as a domid');
  });

  it('puts disk and vif errors on the list key, with the entry', async () => {
    const e = await errorOf(`${PVH}\ndisk = [ '/a.img,,xvda',\n  '/b.qcow2,qcow2,xvdb' ]\nvif = [ 'mac=zz' ]`);
    expect(e.message).toBe(
      [
        'domU.cfg:4: disk: entry 2 ("/b.qcow2,qcow2,xvdb"): format qcow2: xlts serves raw images only (convert with: qemu-img convert -O raw)',
        'domU.cfg:6: vif: entry 1 ("mac=zz"): mac "zz" is not a MAC address (six hex octets separated by colons)',
      ].join('\n'),
    );
    expect((await errorOf(`${PVH}disk = "/a.img,,xvda"`)).message).toMatch(/^domU.cfg:3: disk: expected a list/);
    expect((await errorOf(`${PVH}disk = [ '/a.img,,xvda', '/b.img,,xvda' ]`)).message).toBe('domU.cfg:3: disks: xvda and xvda are the same disk (virtual-device 51712)');
  });

  it('warns about keys xlts does not use, and ignores them', async () => {
    const { config, warnings } = await load(`${PVH}cpus = "0-3"\non_watchdog = "destroy"`);
    expect(config.name).toBe('web');
    expect(warnings.map(formatIssue)).toEqual(['domU.cfg:3: cpus: not used by xlts; ignored', 'domU.cfg:4: on_watchdog: not used by xlts; ignored']);
  });

  it('applies command-line overrides after the file, with the same parser', async () => {
    const { config } = await load(`${PVH}memory = 256\ndisk = ['/a.img,,xvda']`, {
      overrides: ['memory=512', 'name="web2"; vcpus=2', "disk+=['/b.img,,xvdb']"],
    });
    expect(config).toMatchObject({ name: 'web2', memory: 512, vcpus: 2 });
    expect(config.disks.map((d) => d.vdev)).toEqual(['xvda', 'xvdb']);
    expect((await errorOf(PVH, { overrides: ['vcpus=2', 'memory=lots'] })).message).toBe('command line:2: memory: bare word lots: strings must be quoted (memory="lots")');
    expect((await errorOf(PVH, { overrides: ['memory="lots"'] })).message).toBe('command line:1: memory: expected a number, got "lots"');
  });

  it('hands placeholders to the resolver, and refuses them without one', async () => {
    const seen: PlaceholderRef[] = [];
    const resolvePlaceholder = async (ref: PlaceholderRef): Promise<string> => {
      seen.push(ref);
      return `/cache/${ref.name}/${ref.file}`;
    };
    const text = 'name = "l"\nkernel = "@default-guest/vmlinux"\nramdisk = "@default-guest/initrd.cpio"\ndisk = ["@disks/root.img,,xvda"]';
    const { config } = await load(text, { resolvePlaceholder });
    expect(config).toMatchObject({ kernel: '/cache/default-guest/vmlinux', ramdisk: '/cache/default-guest/initrd.cpio' });
    expect(config.disks[0]?.target).toBe('/cache/disks/root.img');
    expect(seen.map((r) => `${r.key}:${r.name}/${r.file}`).sort()).toEqual(['disk:disks/root.img', 'kernel:default-guest/vmlinux', 'ramdisk:default-guest/initrd.cpio']);

    expect((await errorOf('name = "l"\nkernel = "@default-guest/vmlinux"')).message).toBe(
      'domU.cfg:2: kernel: "@default-guest/vmlinux" is a placeholder, and nothing here resolves placeholders',
    );
    const failing = { resolvePlaceholder: () => Promise.reject(new Error('guest not built; run npx xlts guest build')) };
    expect((await errorOf('name = "l"\nkernel = "@default-guest/vmlinux"', failing)).message).toBe(
      'domU.cfg:2: kernel: cannot resolve @default-guest/vmlinux: guest not built; run npx xlts guest build',
    );
    expect((await errorOf('name = "l"\nkernel = "@default-guest/vmlinux"', { resolvePlaceholder: () => 'vmlinux' })).message).toMatch(/not an absolute path/);
  });
});

describe('loadXlCfgFile', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'xl-cfg-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('resolves relative paths against the folder of the file, not the working directory', async () => {
    const cfg = join(dir, 'guest.cfg');
    await writeFile(cfg, 'name = "g"\nkernel = "boot/vmlinux"\ndisk = ["disk.img,,xvda"]\n');
    const { config } = await loadXlCfgFile(cfg);
    expect(config).toMatchObject({ kernel: join(dir, 'boot/vmlinux') });
    expect(config.disks[0]?.target).toBe(join(dir, 'disk.img'));
  });

  it('names the file as given in errors', async () => {
    const cfg = join(dir, 'bad.cfg');
    await writeFile(cfg, 'name = "g"\nkernel = "/k"\nmemory = 64 mib\n');
    await expect(loadXlCfgFile(cfg)).rejects.toThrow(XlCfgSyntaxError);
    await expect(loadXlCfgFile(cfg)).rejects.toThrow(`${cfg}:3: expected a newline or ; after the value, got mib`);
    await expect(loadXlCfgFile(join(dir, 'absent.cfg'))).rejects.toThrow(XlCfgReadError);
  });
});

describe('examples/', () => {
  const examples = resolve(import.meta.dirname, '../../examples');
  const resolvePlaceholder = (ref: PlaceholderRef): string => `/cache/${ref.name}/${ref.file}`;

  it('every example loads without errors or warnings', async () => {
    const files = (await readdir(examples)).filter((f) => f.endsWith('.cfg')).sort();
    expect(files).toEqual(['blkbench.cfg', 'blkhotplug.cfg', 'idle.cfg', 'idle2.cfg', 'linux-disk.cfg', 'linux.cfg']);
    for (const f of files) {
      const { warnings } = await loadXlCfgFile(join(examples, f), { resolvePlaceholder });
      expect(warnings, f).toEqual([]);
    }
  });

  it('each example says what it is for', async () => {
    const load = async (f: string) => (await loadXlCfgFile(join(examples, f), { resolvePlaceholder })).config;
    expect(await load('linux.cfg')).toMatchObject({ name: 'linux', type: 'pvh', kernel: '/cache/default-guest/vmlinux', ramdisk: '/cache/default-guest/initrd.cpio', disks: [] });
    const disk = await load('linux-disk.cfg');
    expect(disk.disks).toEqual([expect.objectContaining({ target: join(examples, 'linux-disk.img'), vdev: 'xvda', device_id: 51712, access: 'rw' })]);
    expect(await load('idle.cfg')).toMatchObject({ name: 'idle', type: 'process', program: 'idle' });
    expect(await load('idle2.cfg')).toMatchObject({ name: 'idle2', type: 'process', program: 'idle' });
    const bench = await load('blkbench.cfg');
    expect(bench).toMatchObject({ name: 'blkbench', type: 'process', program: 'blkbench' });
    expect(bench.disks.map((d) => d.target)).toEqual([join(examples, 'blkbench.img')]);
  });
});
