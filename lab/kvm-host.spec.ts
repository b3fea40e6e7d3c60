import { describe, expect, it } from 'vitest';
import { detectKvmHost, KvmUnsuitableError, requireKvmForLinux, type HostProbe } from './kvm-host.ts';

function fakeHost(opts: { modules?: string[]; flags?: string; devKvm?: boolean; rw?: boolean; env?: Record<string, string>; cmdline?: string }): HostProbe {
  return {
    env: (name) => opts.env?.[name],
    readText: (path) =>
      path === '/proc/cmdline' ? (opts.cmdline ?? 'root=/dev/vda') : path === '/proc/cpuinfo' ? `processor\t: 0\nflags\t\t: ${opts.flags ?? 'fpu sse2'}\n` : undefined,
    exists: (path) => (opts.modules ?? []).some((m) => path === `/sys/module/${m}`),
    isCharDevice: (path) => path === '/dev/kvm' && (opts.devKvm ?? true),
    readWritable: () => opts.rw ?? true,
  };
}

describe('detectKvmHost', () => {
  it('says kvm_pvm cannot run Linux and points at xlts lab', () => {
    const info = detectKvmHost(fakeHost({ modules: ['kvm', 'kvm_pvm'], flags: 'fpu hypervisor' }));
    expect(info).toMatchObject({ provider: 'kvm_pvm', canRunLinux: false, inLab: false, devKvm: true });
    expect(info.message).toMatch(/kvm_pvm/);
    expect(info.message).toMatch(/xlts lab --/);
    expect(() => requireKvmForLinux(fakeHost({ modules: ['kvm_pvm'] }))).toThrow(KvmUnsuitableError);
  });

  it('accepts kvm_amd or kvm_intel with svm/vmx in the CPU flags', () => {
    expect(detectKvmHost(fakeHost({ modules: ['kvm', 'kvm_amd'], flags: 'fpu svm npt' })).canRunLinux).toBe(true);
    expect(detectKvmHost(fakeHost({ modules: ['kvm_intel'], flags: 'vmx ept' })).provider).toBe('kvm_intel');
    expect(detectKvmHost(fakeHost({ modules: ['kvm_amd'], flags: 'fpu' })).canRunLinux).toBe(false);
  });

  it('knows the lab by its environment flag or its kernel command line', () => {
    const lab = { modules: ['kvm_amd'], flags: 'svm' };
    expect(detectKvmHost(fakeHost({ ...lab, env: { XLTS_IN_LAB: '1' } }))).toMatchObject({ inLab: true, canRunLinux: true });
    expect(detectKvmHost(fakeHost({ ...lab, cmdline: 'console=ttyS0 quiet xlts_lab=1' })).inLab).toBe(true);
    expect(detectKvmHost(fakeHost(lab)).inLab).toBe(false);
  });

  it('explains a missing or inaccessible /dev/kvm', () => {
    expect(detectKvmHost(fakeHost({ devKvm: false })).message).toMatch(/no \/dev\/kvm.*xlts lab/);
    expect(detectKvmHost(fakeHost({ modules: ['kvm_amd'], flags: 'svm', rw: false })).message).toMatch(/kvm group/);
  });
});
