// The shim's own failures. Guest-visible failures never surface here: a guest gets -errno or a
// #GP, or is stopped with a crash status (exit-status.ts).
import { XLTS_RUN_EXIT } from './exit-status.ts';

export class ShimError extends Error {
  /** The `xlts run` exit status this failure maps to. */
  readonly exitStatus: number = XLTS_RUN_EXIT.shimError;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The request is unusable (kernel, initrd, sizes, host): found before a VM is created. */
export class ShimInputError extends ShimError {
  override readonly exitStatus: number = XLTS_RUN_EXIT.badInput;
}

/** A Linux kernel on a host whose /dev/kvm cannot run one (kvm_pvm): the message names the lab. */
export class LinuxNeedsLabError extends ShimInputError {}
