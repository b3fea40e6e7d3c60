// One Error subclass per way the KVM layer fails, so callers branch on the class, not on message
// text. Every one carries the facts needed to act on it (ioctl name and errno, capability name).
import { constants as osConstants } from 'node:os';

/** The symbolic name of an errno value (EINVAL, EEXIST, ...), or `errno N` when unknown. */
export function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(osConstants.errno)) if (value === errno) return name;
  return `errno ${errno}`;
}

export class KvmError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'KvmError';
  }
}

/**
 * /dev/kvm is missing, not openable, or not a usable KVM. The fix is almost always to run the
 * command inside the KVM lab, whose L1 VM has a /dev/kvm with real KVM semantics.
 */
export class KvmUnavailableError extends KvmError {
  constructor(
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(
      `KVM is not usable here: ${reason}. Run the command inside the KVM lab instead: npx xlts lab -- <command>`,
      options,
    );
    this.name = 'KvmUnavailableError';
  }
}

/** /dev/kvm answered KVM_GET_API_VERSION with something other than 12. */
export class KvmApiVersionError extends KvmUnavailableError {
  constructor(
    readonly version: number,
    readonly expected: number,
  ) {
    super(`/dev/kvm reports API version ${version}, xlts speaks version ${expected}`);
    this.name = 'KvmApiVersionError';
  }
}

/** An ioctl on a KVM fd returned -1. */
export class KvmIoctlError extends KvmError {
  readonly errnoName: string;
  constructor(
    readonly ioctl: string,
    readonly errno: number,
    detail?: string,
  ) {
    const name = errnoName(errno);
    super(`${ioctl} failed: ${name}${detail ? ` (${detail})` : ''}`);
    this.name = 'KvmIoctlError';
    this.errnoName = name;
  }
}

/** An operation needs a KVM capability this host's KVM does not report. */
export class KvmCapabilityError extends KvmError {
  constructor(
    readonly capability: string,
    readonly operation: string,
  ) {
    super(`${operation} needs ${capability}, which this KVM does not support`);
    this.name = 'KvmCapabilityError';
  }
}

/** KVM_GET_MSRS/KVM_SET_MSRS processed fewer MSRs than asked: the first one not processed. */
export class KvmMsrAccessError extends KvmError {
  constructor(
    readonly operation: 'KVM_GET_MSRS' | 'KVM_SET_MSRS',
    readonly index: number,
  ) {
    super(`${operation} refused MSR 0x${index.toString(16)}`);
    this.name = 'KvmMsrAccessError';
  }
}

/** An argument that can never be valid (bad slot, unaligned address, out-of-range value). */
export class KvmArgumentError extends KvmError {
  constructor(message: string) {
    super(message);
    this.name = 'KvmArgumentError';
  }
}

/** A wrapper was used after close(). */
export class KvmClosedError extends KvmError {
  constructor(what: string) {
    super(`${what} is closed`);
    this.name = 'KvmClosedError';
  }
}

/** A vCPU thread was asked for a transition its state does not allow (pause while paused, ...). */
export class VcpuStateError extends KvmError {
  constructor(
    readonly vcpuId: number,
    readonly state: string,
    readonly event: string,
  ) {
    super(`vCPU ${vcpuId}: ${event} is not allowed in state ${state}`);
    this.name = 'VcpuStateError';
  }
}

/** The vCPU worker thread failed (KVM_RUN error, worker crash); `cause` holds what it reported. */
export class VcpuThreadError extends KvmError {
  constructor(
    readonly vcpuId: number,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`vCPU ${vcpuId}: ${message}`, options);
    this.name = 'VcpuThreadError';
  }
}

/** The exit handler threw while handling an exit; the vCPU was stopped. */
export class VcpuExitHandlerError extends KvmError {
  constructor(
    readonly vcpuId: number,
    readonly exitKind: string,
    options?: ErrorOptions,
  ) {
    super(`vCPU ${vcpuId}: the exit handler failed on a '${exitKind}' exit`, options);
    this.name = 'VcpuExitHandlerError';
  }
}
