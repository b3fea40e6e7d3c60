// What a built-in process-guest program gets: its vCPU's kernel (pv-kernel.ts), its memory, a
// connected xenstore client over its store ring, and its console. A program runs until it asks
// the hypervisor to shut the domain down (SCHEDOP_shutdown), which ends its shim.
import type { GuestMemory } from '../../../hypervisor/memory/guest-memory.ts';
import type { XenstoreClient } from '../../../frontends/xenbus/index.ts';
import type { PvKernel } from '../pv-kernel.ts';

export interface ProgramEnv {
  readonly domid: number;
  readonly name: string;
  /** xl.cfg's cmdline for the program (its argument string). */
  readonly cmdline: string;
  readonly kernel: PvKernel;
  readonly memory: GuestMemory;
  readonly xenstore: XenstoreClient;
  /** Writes to the domain's PV console (hvc0 of a Linux guest). */
  readonly console: (text: string) => void;
  /** The guest's grant table frames (grant_entry_v1 arrays), as its frontends write them. */
  readonly grantFrames: readonly Uint8Array[];
  /** A free page of the guest's own RAM, for rings and I/O buffers. */
  allocPage(): { readonly gfn: number; readonly bytes: Uint8Array };
}

export type ProcessProgram = (env: ProgramEnv) => Promise<void>;
