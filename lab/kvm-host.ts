// Can this host's /dev/kvm run a Linux guest, and are we inside the KVM lab? For the rest of the
// project (`xlts run`, test suites) to decide between the host's /dev/kvm and `xlts lab`.
//
// Method, cheapest first, no dmesg (unreadable without privileges, and rotated away):
// 1. Inside the lab: the environment says XLTS_IN_LAB=1 (job.ts sets it for every lab
//    command), or /proc/cmdline carries xlts_lab=1 (lab-vm.ts boots with it; this survives a
//    command that clears its environment).
// 2. /dev/kvm must exist as a character device, and be readable and writable by us.
// 3. Which module provides it, from /sys/module/<name> (present for loaded modules, and for
//    built-in ones with parameters, which all three have):
//    - kvm_pvm: a nested *software* hypervisor whose instruction emulator runs guest kernel code
//      and lacks instructions Linux needs (cmpxchg16b, xrstor, clac, popcnt, ...): no Linux
//      guest boots on it (reference/kvm-lab.md). Tiny integer-only test guests do, slowly.
//    - kvm_amd / kvm_intel: hardware virtualization, real KVM.
// 4. As a cross-check, /proc/cpuinfo's flags: without svm or vmx, the CPU offers no hardware
//    virtualization, so any /dev/kvm here is a software one.

import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { LabError } from './errors.ts';
import { LAB_CMDLINE_FLAG, LAB_ENV_FLAG } from './protocol.ts';

export type KvmProvider = 'kvm_pvm' | 'kvm_amd' | 'kvm_intel' | 'unknown';

export interface KvmHostInfo {
  /** True inside the KVM lab's L1 VM. */
  readonly inLab: boolean;
  /** /dev/kvm exists as a character device. */
  readonly devKvm: boolean;
  /** /dev/kvm can be opened read-write by this process. */
  readonly devKvmAccessible: boolean;
  /** The module that provides /dev/kvm, when it exists. */
  readonly provider: KvmProvider | undefined;
  /** The CPU advertises svm or vmx. */
  readonly hardwareVirtualization: boolean;
  /** A Linux guest can boot on this /dev/kvm. */
  readonly canRunLinux: boolean;
  /** One sentence: why, and what to do about it. */
  readonly message: string;
}

/** What detection reads; tests pass a fake. */
export interface HostProbe {
  env(name: string): string | undefined;
  readText(path: string): string | undefined;
  exists(path: string): boolean;
  isCharDevice(path: string): boolean;
  readWritable(path: string): boolean;
}

export const realHostProbe: HostProbe = {
  env: (name) => process.env[name],
  readText: (path) => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  },
  exists: (path) => existsSync(path),
  isCharDevice: (path) => {
    try {
      return statSync(path).isCharacterDevice();
    } catch {
      return false;
    }
  },
  readWritable: (path) => {
    try {
      accessSync(path, constants.R_OK | constants.W_OK);
      return true;
    } catch {
      return false;
    }
  },
};

const LAB_HINT = 'run it in the KVM lab instead: npx xlts lab -- <command> (see lab/README.md)';

/** Reads the host (or the fake) and says whether a Linux guest can run on its /dev/kvm. */
export function detectKvmHost(probe: HostProbe = realHostProbe): KvmHostInfo {
  const cmdline = probe.readText('/proc/cmdline') ?? '';
  const inLab = probe.env(LAB_ENV_FLAG) === '1' || cmdline.split(/\s+/).includes(LAB_CMDLINE_FLAG);
  const devKvm = probe.isCharDevice('/dev/kvm');
  const devKvmAccessible = devKvm && probe.readWritable('/dev/kvm');
  const flags = /^flags\s*:(.*)$/m.exec(probe.readText('/proc/cpuinfo') ?? '')?.[1]?.trim().split(/\s+/) ?? [];
  const hardwareVirtualization = flags.includes('svm') || flags.includes('vmx');
  const provider: KvmProvider | undefined = !devKvm
    ? undefined
    : probe.exists('/sys/module/kvm_pvm')
      ? 'kvm_pvm'
      : probe.exists('/sys/module/kvm_amd')
        ? 'kvm_amd'
        : probe.exists('/sys/module/kvm_intel')
          ? 'kvm_intel'
          : 'unknown';

  let canRunLinux = false;
  let message: string;
  const where = inLab ? ' (inside the KVM lab)' : '';
  if (!devKvm) {
    message = `this host has no /dev/kvm${where}; ${inLab ? 'the lab is broken: run xlts lab --check' : LAB_HINT}`;
  } else if (provider === 'kvm_pvm') {
    message = `this host's /dev/kvm is kvm_pvm, a software hypervisor whose instruction emulator cannot boot a Linux kernel; ${LAB_HINT}`;
  } else if (provider === 'unknown' || !hardwareVirtualization) {
    message = `this host's /dev/kvm comes from ${provider === 'unknown' ? 'an unknown module' : provider} without svm/vmx in the CPU flags, so it is not hardware KVM; ${LAB_HINT}`;
  } else if (!devKvmAccessible) {
    message = `/dev/kvm (${provider}) is not readable and writable by this user: add the user to the kvm group, or run as root`;
  } else {
    canRunLinux = true;
    message = `/dev/kvm is ${provider} with hardware virtualization${where}: Linux guests can run here`;
  }
  return { inLab, devKvm, devKvmAccessible, provider, hardwareVirtualization, canRunLinux, message };
}

/** This host's /dev/kvm cannot run a Linux guest; the message says why and points at the lab. */
export class KvmUnsuitableError extends LabError {
  override readonly name = 'KvmUnsuitableError';
  constructor(readonly info: KvmHostInfo) {
    super(info.message);
  }
}

/** Throws KvmUnsuitableError unless a Linux guest can run on this host's /dev/kvm. */
export function requireKvmForLinux(probe: HostProbe = realHostProbe): KvmHostInfo {
  const info = detectKvmHost(probe);
  if (!info.canRunLinux) throw new KvmUnsuitableError(info);
  return info;
}

/** True inside the KVM lab. */
export function inKvmLab(probe: HostProbe = realHostProbe): boolean {
  return detectKvmHost(probe).inLab;
}
