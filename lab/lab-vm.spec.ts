import { describe, expect, it } from 'vitest';
import { LAB_KERNEL_CMDLINE, labQemuArgs, qemuOptionValue, type LabVmConfig } from './lab-vm.ts';

const CFG: LabVmConfig = {
  kernel: '/c/vmlinux',
  initramfs: '/c/initramfs.cpio',
  memoryMiB: 2048,
  cpus: 2,
  sockets: { console: '/r/con.sock', ctl: '/r/ctl.sock', stdin: '/r/in.sock', stdout: '/r/out.sock', stderr: '/r/err.sock' },
  jobDir: '/r/job',
  rwShares: [{ tag: 'xltsrw0', path: '/data/a,b' }],
};

function after(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1] ?? ''] : []));
}

describe('labQemuArgs', () => {
  const args = labQemuArgs(CFG);

  it('is TCG with an SVM-capable CPU, booting the ELF kernel quietly, with nothing extra', () => {
    expect(after(args, '-accel')).toEqual(['tcg,thread=multi']);
    expect(after(args, '-cpu')).toEqual(['max']);
    expect(after(args, '-kernel')).toEqual(['/c/vmlinux']);
    expect(after(args, '-append')).toEqual([LAB_KERNEL_CMDLINE]);
    expect(LAB_KERNEL_CMDLINE).toMatch(/\bquiet\b/);
    expect(LAB_KERNEL_CMDLINE).toMatch(/\bxlts_lab=1\b/);
    expect(args).toEqual(expect.arrayContaining(['-nodefaults', '-no-reboot']));
  });

  it('connects each channel to its socket and names its port', () => {
    expect(after(args, '-chardev')).toEqual([
      'socket,id=console,path=/r/con.sock',
      'socket,id=ctl,path=/r/ctl.sock',
      'socket,id=stdin,path=/r/in.sock',
      'socket,id=stdout,path=/r/out.sock',
      'socket,id=stderr,path=/r/err.sock',
    ]);
    expect(after(args, '-device').filter((d) => d.startsWith('virtserialport'))).toEqual([
      'virtserialport,bus=xltsser.0,nr=1,chardev=ctl,name=xlts.ctl',
      'virtserialport,bus=xltsser.0,nr=2,chardev=stdin,name=xlts.stdin',
      'virtserialport,bus=xltsser.0,nr=3,chardev=stdout,name=xlts.stdout',
      'virtserialport,bus=xltsser.0,nr=4,chardev=stderr,name=xlts.stderr',
    ]);
  });

  it('shares / read-only with multidevs=remap, the job read-only, --rw writable (commas doubled)', () => {
    expect(after(args, '-fsdev')).toEqual([
      'local,id=hostroot,path=/,security_model=none,multidevs=remap,readonly=on',
      'local,id=job,path=/r/job,security_model=none,multidevs=remap,readonly=on',
      'local,id=xltsrw0,path=/data/a,,b,security_model=none,multidevs=remap',
    ]);
    expect(qemuOptionValue('a,b,,c')).toBe('a,,b,,,,c');
  });

  it('adds the trace flag only when asked, and checks sizes', () => {
    expect(after(labQemuArgs({ ...CFG, trace: true }), '-append')[0]).toMatch(/ xlts_trace=1$/);
    expect(() => labQemuArgs({ ...CFG, cpus: 0 })).toThrow(RangeError);
    expect(() => labQemuArgs({ ...CFG, memoryMiB: 64 })).toThrow(RangeError);
  });
});
