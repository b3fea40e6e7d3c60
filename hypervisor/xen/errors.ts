// Typed failures of the hypercall ABI. Inside hypervisor/xen a failure is one of these classes; the
// dispatcher turns it into -errno at the ABI edge and nowhere else. Each class names one way a
// hypercall can fail and carries the Xen errno the guest will see for it.
//
// Xen errno values (public/errno.h) are the Linux/x86 numbers, so a guest reads them directly.
export const XEN_EPERM = 1;
export const XEN_ENOENT = 2;
export const XEN_ESRCH = 3;
export const XEN_EAGAIN = 11;
export const XEN_ENOMEM = 12;
export const XEN_EACCES = 13;
export const XEN_EFAULT = 14;
export const XEN_EBUSY = 16;
export const XEN_EEXIST = 17;
export const XEN_EINVAL = 22;
export const XEN_ENOSPC = 28;
export const XEN_ENOSYS = 38;
export const XEN_EOPNOTSUPP = 95;

/** Base of every error a hypercall handler may raise on purpose. */
export abstract class XenAbiError extends Error {
  /** Positive Xen errno; the guest sees its negation in rax. */
  abstract readonly errno: number;
}

/**
 * A guest pointer could not be used: no translation (unmapped guest-virtual page), a write to a
 * read-only mapping, or a guest-physical range outside guest RAM. Reported as -EFAULT.
 */
export class GuestFaultError extends XenAbiError {
  override readonly name = 'GuestFaultError';
  readonly errno = XEN_EFAULT;
  constructor(
    /** The guest-virtual address the access started at. */
    readonly gva: bigint,
    readonly length: number,
    readonly reason: string,
  ) {
    super(`guest access at 0x${gva.toString(16)}+${length} faulted: ${reason}`);
  }
}

/** An argument has a value the operation does not accept (bad port, bad vector, bad index). -EINVAL. */
export class InvalidArgumentError extends XenAbiError {
  override readonly name = 'InvalidArgumentError';
  readonly errno = XEN_EINVAL;
}

/** A vCPU id names no vCPU of this domain. -ENOENT, as Xen's domain_vcpu() lookups answer. */
export class NoSuchVcpuError extends XenAbiError {
  override readonly name = 'NoSuchVcpuError';
  readonly errno = XEN_ENOENT;
  constructor(readonly vcpuId: number) {
    super(`no vCPU ${vcpuId} in this domain`);
  }
}

/** A domain id this domain may not name here (another domain, or none reachable). -ESRCH. */
export class NoSuchDomainError extends XenAbiError {
  override readonly name = 'NoSuchDomainError';
  readonly errno = XEN_ESRCH;
  constructor(readonly domid: number) {
    super(`domain ${domid} cannot be named by this caller`);
  }
}

/** The caller lacks the privilege (wrong CPL, read-only parameter, privileged op). -EPERM. */
export class NotPermittedError extends XenAbiError {
  override readonly name = 'NotPermittedError';
  readonly errno = XEN_EPERM;
}

/** The object is already bound (a VIRQ on that vCPU). -EEXIST. */
export class AlreadyBoundError extends XenAbiError {
  override readonly name = 'AlreadyBoundError';
  readonly errno = XEN_EEXIST;
}

/** No free event-channel port is left below the domain's limit. -ENOSPC. */
export class NoFreePortError extends XenAbiError {
  override readonly name = 'NoFreePortError';
  readonly errno = XEN_ENOSPC;
  constructor(readonly limit: number) {
    super(`all ${limit} event-channel ports are in use`);
  }
}

/**
 * The hypercall or sub-op is not implemented. -ENOSYS.
 * `deliberate` marks ops we refuse on purpose because the guest is expected to probe and fall back
 * (EVTCHNOP_init_control -> 2-level, HVMOP_pagetable_dying): those are not logged as unknown.
 */
export class NotImplementedError extends XenAbiError {
  override readonly name = 'NotImplementedError';
  readonly errno = XEN_ENOSYS;
  constructor(
    /** What was called, e.g. "event_channel_op(EVTCHNOP_init_control)" or "hypercall 99". */
    readonly what: string,
    readonly deliberate: boolean,
  ) {
    super(`${what} is not implemented`);
  }
}

/** A supported op asked for something we chose not to offer (grant table v2). -EOPNOTSUPP. */
export class NotSupportedError extends XenAbiError {
  override readonly name = 'NotSupportedError';
  readonly errno = XEN_EOPNOTSUPP;
}
