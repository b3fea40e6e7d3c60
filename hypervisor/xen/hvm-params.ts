// The HVM parameter table of one domain. The toolstack (our shim, at domain build) fills in where
// the xenstore and console rings are; the guest reads them with HVMOP_get_param and sets its event
// callback with HVMOP_set_param.
//
// Guest access is an allow-list, narrower than Xen's hvm_allow_{get,set}_param: a guest may read
// the callback, store and console parameters and may write only the callback. Everything else is
// -EPERM for the guest (Xen also refuses the guest most parameters) and -EINVAL past the table.
import {
  HVM_NR_PARAMS,
  HVM_PARAM_CALLBACK_IRQ,
  HVM_PARAM_CALLBACK_TYPE_VECTOR,
  HVM_PARAM_CONSOLE_EVTCHN,
  HVM_PARAM_CONSOLE_PFN,
  HVM_PARAM_STORE_EVTCHN,
  HVM_PARAM_STORE_PFN,
} from './abi.ts';
import { InvalidArgumentError, NotPermittedError } from './errors.ts';

const GUEST_READABLE: ReadonlySet<number> = new Set([
  HVM_PARAM_CALLBACK_IRQ,
  HVM_PARAM_STORE_PFN,
  HVM_PARAM_STORE_EVTCHN,
  HVM_PARAM_CONSOLE_PFN,
  HVM_PARAM_CONSOLE_EVTCHN,
]);

const GUEST_WRITABLE: ReadonlySet<number> = new Set([HVM_PARAM_CALLBACK_IRQ]);

/** How HVM_PARAM_CALLBACK_IRQ asks for events: bits 63:56 are the type. */
export type CallbackVia =
  | { readonly kind: 'none' }
  | { readonly kind: 'gsi'; readonly gsi: number }
  | { readonly kind: 'pci-intx'; readonly value: bigint }
  | { readonly kind: 'vector'; readonly vector: number }
  | { readonly kind: 'unknown'; readonly value: bigint };

export function decodeCallbackVia(value: bigint): CallbackVia {
  if (value === 0n) return { kind: 'none' };
  const type = Number(value >> 56n);
  switch (type) {
    case 0:
      return { kind: 'gsi', gsi: Number(value & 0xffff_ffffn) };
    case 1:
      return { kind: 'pci-intx', value };
    case HVM_PARAM_CALLBACK_TYPE_VECTOR:
      return { kind: 'vector', vector: Number(value & 0xffn) };
    default:
      return { kind: 'unknown', value };
  }
}

export class HvmParams {
  private readonly values = new Array<bigint>(HVM_NR_PARAMS).fill(0n);

  /** Toolstack side: set any parameter (e.g. HVM_PARAM_CONSOLE_PFN at domain build). */
  set(index: number, value: bigint): void {
    this.check(index);
    if (value < 0n || value > 0xffff_ffff_ffff_ffffn) throw new RangeError(`HVM param value ${value} is not a u64`);
    this.values[index] = value;
  }

  get(index: number): bigint {
    this.check(index);
    return this.values[index]!;
  }

  /** HVMOP_get_param from the guest itself. */
  guestGet(index: number): bigint {
    this.check(index);
    if (!GUEST_READABLE.has(index)) throw new NotPermittedError(`HVM param ${index} is not readable by the guest`);
    return this.values[index]!;
  }

  /** HVMOP_set_param from the guest itself. */
  guestSet(index: number, value: bigint): void {
    this.check(index);
    if (!GUEST_WRITABLE.has(index)) throw new NotPermittedError(`HVM param ${index} is not writable by the guest`);
    this.values[index] = value;
  }

  get callbackVia(): CallbackVia {
    return decodeCallbackVia(this.values[HVM_PARAM_CALLBACK_IRQ]!);
  }

  private check(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= HVM_NR_PARAMS) throw new InvalidArgumentError(`no HVM param ${index}`);
  }
}
