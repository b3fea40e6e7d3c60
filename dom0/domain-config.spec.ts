import { pack, unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import {
  DomainConfigError,
  domainNameProblem,
  macProblem,
  unsupportedActionReason,
  validateDomainConfig,
  type DomainConfig,
} from './domain-config.ts';

function pvh(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'web1',
    type: 'pvh',
    kernel: '/var/lib/xlts/vmlinux',
    memory: 256,
    vcpus: 2,
    cmdline: 'console=hvc0',
    on_poweroff: 'destroy',
    on_reboot: 'restart',
    on_crash: 'preserve',
    disks: [
      {
        target: '/srv/web1.img',
        format: 'raw',
        vdev: 'xvda',
        device_id: 51712,
        access: 'rw',
        devtype: 'disk',
        discard: true,
        trusted: true,
        direct_io_safe: false,
      },
    ],
    vifs: [{ devid: 0, mac: '00:16:3E:01:02:03', bridge: 'xenbr0', trusted: true }],
    max_grant_frames: 64,
    ...overrides,
  };
}

function problemsOf(value: unknown, options = {}): readonly string[] {
  try {
    validateDomainConfig(value, options);
  } catch (e) {
    if (e instanceof DomainConfigError) return e.problems;
    throw e;
  }
  throw new Error('validateDomainConfig accepted it');
}

describe('validateDomainConfig', () => {
  it('accepts a complete pvh config and canonicalises the MAC', () => {
    const c = validateDomainConfig(pvh());
    expect(c.type).toBe('pvh');
    expect(c.vifs[0]?.mac).toBe('00:16:3e:01:02:03');
    expect(c.disks[0]?.device_id).toBe(51712);
  });

  it('survives a msgpackr round trip unchanged (plain data)', () => {
    const c: DomainConfig = validateDomainConfig(pvh({ ramdisk: '/var/lib/xlts/initrd.cpio', uuid: '12345678-9abc-def0-1234-56789abcdef0' }));
    expect(validateDomainConfig(unpack(pack(c)))).toEqual(c);
  });

  it('accepts a process config with a built-in program and checks it against the known list', () => {
    const proc = { ...pvh({ type: 'process', program: 'idle', disks: [], vifs: [] }) };
    delete proc.kernel;
    expect(validateDomainConfig(proc).type).toBe('process');
    expect(problemsOf(proc, { builtinPrograms: ['blkbench'] })).toEqual(['program: no built-in program "idle" (known: blkbench)']);
    expect(problemsOf({ ...proc, program: 'bin/guest.ts' })).toEqual(['program: "bin/guest.ts" must be an absolute path or a built-in name']);
    expect(problemsOf({ ...proc, kernel: '/k' })).toEqual(['kernel: must not be set: a process guest has no kernel']);
  });

  it('refuses xl shutdown actions xlts does not carry out, naming the key', () => {
    expect(problemsOf(pvh({ on_crash: 'coredump-destroy' }))[0]).toMatch(/^on_crash: "coredump-destroy" is not supported: xlts writes no guest core dumps/);
    expect(problemsOf(pvh({ on_reboot: 'rename-restart' }))[0]).toMatch(/^on_reboot: "rename-restart" is not supported/);
    expect(problemsOf(pvh({ on_poweroff: 'explode' }))[0]).toMatch(/not an xl action/);
  });

  it('lists every problem at once', () => {
    const p = problemsOf(pvh({ name: '42', memory: 0, vcpus: 1.5, kernel: 'vmlinux', max_grant_frames: 'many' }));
    expect(p).toEqual([
      'name: "42" is all digits, which would read as a domid',
      'memory: 0 is outside 1..1048576',
      'vcpus: must be an integer, got 1.5',
      'max_grant_frames: must be an integer, got "many"',
      'kernel: "vmlinux" must be an absolute path',
    ]);
  });

  it('rejects unknown fields, duplicate devices, bad disks and vifs', () => {
    const disk = (pvh().disks as Record<string, unknown>[])[0]!;
    expect(problemsOf(pvh({ extra: 'x' }))).toEqual(['extra: is not a known field']);
    expect(problemsOf(pvh({ disks: [disk, { ...disk, vdev: 'd0' }] }))).toEqual(['disks: xvda and d0 are the same disk (virtual-device 51712)']);
    expect(problemsOf(pvh({ disks: [{ ...disk, format: 'qcow2' }] }))).toEqual(['disks[0].format: "qcow2" is not supported: xlts serves raw images only']);
    expect(problemsOf(pvh({ disks: [{ ...disk, devtype: 'cdrom' }] }))).toEqual(['disks[0].access: a cdrom is read-only']);
    expect(problemsOf(pvh({ vifs: [{ devid: 0, mac: '01:00:5e:00:00:01', trusted: true }] }))[0]).toMatch(/multicast/);
    expect(problemsOf(pvh({ vifs: [{ devid: 0, trusted: true }, { devid: 0, trusted: true }] }))).toEqual(['vifs: two entries have devid 0']);
    expect(problemsOf(pvh({ vifs: [{ devid: 0, vifname: 'a-very-long-interface', trusted: true }] }))[0]).toMatch(/vifname/);
  });

  it('rejects things that are not objects', () => {
    expect(problemsOf(null)).toEqual(['a domain config must be an object']);
    expect(problemsOf([])).toEqual(['a domain config must be an object']);
    expect(problemsOf(pvh({ disks: ['/img'] }))).toEqual(['disks[0]: must be an object']);
  });
});

describe('small checks', () => {
  it('domain names', () => {
    expect(domainNameProblem('web-1.example')).toBeUndefined();
    expect(domainNameProblem('Domain-0')).toMatch(/Domain-0/);
    expect(domainNameProblem('a b')).toMatch(/printable/);
    expect(domainNameProblem('a/b')).toMatch(/printable/);
    expect(domainNameProblem('x'.repeat(65))).toMatch(/longer/);
  });
  it('MAC addresses', () => {
    expect(macProblem('00:16:3e:aa:bb:cc')).toBeUndefined();
    expect(macProblem('00:16:3e:aa:bb')).toMatch(/six hex octets/);
    expect(macProblem('00-16-3e-aa-bb-cc')).toMatch(/six hex octets/);
    expect(macProblem('03:16:3e:aa:bb:cc')).toMatch(/multicast/);
  });
  it('shutdown actions', () => {
    expect(unsupportedActionReason('preserve')).toBeUndefined();
    expect(unsupportedActionReason('soft-reset')).toMatch(/soft reset/);
  });
});
