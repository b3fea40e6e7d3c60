// The QEMU command line of the lab's L1 VM. A pure function, so it is unit-tested and so the
// recipe in reference/kvm-lab.md is visible in one place:
// - TCG (this host's /dev/kvm is kvm_pvm, which cannot run a Linux kernel), multi-threaded, with
//   `-cpu max`: TCG then emulates AMD SVM with nested paging, and kvm_amd inside has real KVM.
// - The ELF vmlinux through QEMU's PVH entry: no SeaBIOS, no real-mode decompressor, ~2 s to
//   /init instead of ~6 s for the bzImage.
// - `quiet`: every console character is an emulated UART write, and boot chatter would cost
//   seconds; the console goes to its own socket anyway, never to the command's stdout.
// - The host root over 9p, read-only, with multidevs=remap: / spans several host filesystems,
//   and without remapping their inode numbers collide inside (the guest's proc and sys mounts
//   on top of the share then misbehave).
// - `-nodefaults -display none`: no VGA, NIC, monitor, floppy or CD, nothing to probe.
// - `-no-reboot`: the init's `reboot -f` (its way to power off, and what a panic does with
//   panic=-1) makes QEMU exit.
// All chardevs are unix sockets on which the host side listens and QEMU connects as a client at
// start-up, so every channel is connected before the guest can look at it (a guest that opened
// its stdin port before the host connected would read end of file).

import { LAB_TRACE_PARAM } from './init-script.ts';
import { LAB_CMDLINE_FLAG, LAB_PORT, LAB_TAG, type LabPortRole } from './protocol.ts';

export interface LabVmConfig {
  readonly kernel: string;
  readonly initramfs: string;
  readonly memoryMiB: number;
  readonly cpus: number;
  /** Unix socket paths the host listens on, one per virtio-serial port plus the console. */
  readonly sockets: Readonly<Record<LabPortRole | 'console', string>>;
  /** Host directory with the job's setup.sh and job.sh, shared read-only. */
  readonly jobDir: string;
  /** Writable shares: 9p tag and host directory. */
  readonly rwShares: ReadonlyArray<{ readonly tag: string; readonly path: string }>;
  /** Have the init timestamp its steps on the console (see init-script.ts). */
  readonly trace?: boolean;
}

export const LAB_DEFAULT_MEMORY_MIB = 4096;
export const LAB_DEFAULT_CPUS = 2;

/** virtio-serial port numbers: 0 is reserved for a virtconsole, which we do not use. */
const PORT_NUMBER: Readonly<Record<LabPortRole, number>> = { ctl: 1, stdin: 2, stdout: 3, stderr: 4 };

/** Kernel command line; nothing with a dot in its name is meant for init (the kernel keeps those). */
export const LAB_KERNEL_CMDLINE = [
  'console=ttyS0',
  'quiet',
  'loglevel=3',
  'panic=-1',
  // Spectre/Meltdown mitigations buy nothing in a throwaway VM and cost TCG time.
  'mitigations=off',
  LAB_CMDLINE_FLAG,
].join(' ');

/** QEMU option values are comma-separated; a literal comma in a path is written twice. */
export function qemuOptionValue(value: string): string {
  return value.replace(/,/g, ',,');
}

export function labQemuArgs(cfg: LabVmConfig): string[] {
  if (!Number.isInteger(cfg.cpus) || cfg.cpus < 1 || cfg.cpus > 64) {
    throw new RangeError(`cpus must be an integer in 1..64, not ${cfg.cpus}`);
  }
  if (!Number.isInteger(cfg.memoryMiB) || cfg.memoryMiB < 256) {
    throw new RangeError(`memory must be at least 256 MiB, not ${cfg.memoryMiB}`);
  }
  const q = qemuOptionValue;
  const args = [
    '-name', 'xlts-lab',
    '-machine', 'pc',
    '-accel', 'tcg,thread=multi',
    '-cpu', 'max',
    '-smp', String(cfg.cpus),
    '-m', String(cfg.memoryMiB),
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    '-kernel', cfg.kernel,
    '-initrd', cfg.initramfs,
    '-append', cfg.trace ? `${LAB_KERNEL_CMDLINE} ${LAB_TRACE_PARAM}=1` : LAB_KERNEL_CMDLINE,
    '-chardev', `socket,id=console,path=${q(cfg.sockets.console)}`,
    '-serial', 'chardev:console',
    // max_ports: the default 31 ports means 64 virtqueues for the guest to set up at probe.
    '-device', 'virtio-serial-pci,id=xltsser,max_ports=5',
  ];
  for (const role of ['ctl', 'stdin', 'stdout', 'stderr'] as const) {
    args.push(
      '-chardev', `socket,id=${role},path=${q(cfg.sockets[role])}`,
      '-device', `virtserialport,bus=xltsser.0,nr=${PORT_NUMBER[role]},chardev=${role},name=${LAB_PORT[role]}`,
    );
  }
  const share = (id: string, tag: string, path: string, readonly: boolean): void => {
    const ro = readonly ? ',readonly=on' : '';
    args.push(
      '-fsdev', `local,id=${id},path=${q(path)},security_model=none,multidevs=remap${ro}`,
      '-device', `virtio-9p-pci,fsdev=${id},mount_tag=${tag}`,
    );
  };
  share('hostroot', LAB_TAG.hostRoot, '/', true);
  share('job', LAB_TAG.job, cfg.jobDir, true);
  for (const rw of cfg.rwShares) share(rw.tag, rw.tag, rw.path, false);
  return args;
}
