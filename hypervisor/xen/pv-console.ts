// The PV console (hvc0) served from the shim: the xencons_interface page the guest finds through
// HVM_PARAM_CONSOLE_PFN and the event channel it finds through HVM_PARAM_CONSOLE_EVTCHN.
//
// It does the toolstack's part (zero the page, leave a port unbound for domain 0, publish both
// parameters) and the backend's part (bind that port as a host endpoint; when the guest kicks it,
// drain `out` to a sink; feed input into `in`; kick the guest whenever either ring moved). The
// rings themselves are ring-buffer's byte rings, which read the guest's index once per call and
// latch an error if the guest publishes an impossible one.
//
// The design has xltsd serve consoles in the end; this backend is the in-shim version used for
// process guests and bring-up, and uses only the public host-endpoint interface, so moving it
// behind an eventfd to xltsd does not change the guest's view.
import type { ByteRingOverflowError } from '../../ring-buffer/index.ts';
import { ConsoleRingBackend } from './console-ring-backend.ts';
import { PAGE_SIZE, gpa } from '../memory/guest-memory.ts';
import { HVM_PARAM_CONSOLE_EVTCHN, HVM_PARAM_CONSOLE_PFN } from './abi.ts';
import type { XenDomain } from './domain.ts';
import type { HostEndpoint } from './event-channels.ts';

export interface PvConsoleOptions {
  /** Guest frame of the console page; must be guest memory (E820-reserved, in the real layout). */
  readonly pfn: number;
  /** Receives the guest's output, in order. Called inside the guest's EVTCHNOP_send: keep it short. */
  readonly output: (bytes: Uint8Array) => void;
  /** Domain serving the console, as the guest sees it in EVTCHNOP_status (default 0). */
  readonly backendDomid?: number;
  /** Most input bytes held for the guest while its `in` ring is full (default 64 KiB). */
  readonly maxQueuedInput?: number;
}

/** Why the console stopped serving. */
export type PvConsoleState = { readonly kind: 'serving' } | { readonly kind: 'broken'; readonly error: ByteRingOverflowError } | { readonly kind: 'closed' };

export class PvConsole {
  readonly port: number;
  private readonly endpoint: HostEndpoint;
  private readonly backend: ConsoleRingBackend;
  private current: PvConsoleState = { kind: 'serving' };

  constructor(
    private readonly domain: XenDomain,
    options: PvConsoleOptions,
  ) {
    const page = domain.memory.view(gpa(options.pfn * PAGE_SIZE), PAGE_SIZE);
    page.fill(0);
    const backend = options.backendDomid ?? 0;
    this.port = domain.evtchn.allocUnbound(backend);
    this.backend = new ConsoleRingBackend(
      page,
      () => this.endpoint.raise(),
      options.output,
      (err) => {
        // The guest published an impossible index: stop serving rather than read garbage.
        this.domain.log.warn(`console-broken:${this.port}`, `dom${this.domain.domid}: PV console ring broken (${err.message}); console stopped`);
        this.current = { kind: 'broken', error: err };
      },
      options.maxQueuedInput,
    );
    this.endpoint = domain.evtchn.connectHost(this.port, backend, 1, {
      notify: () => this.service(),
      closed: () => this.stop({ kind: 'closed' }),
    });
    domain.hvmParams.set(HVM_PARAM_CONSOLE_PFN, BigInt(options.pfn));
    domain.hvmParams.set(HVM_PARAM_CONSOLE_EVTCHN, BigInt(this.port));
  }

  get state(): PvConsoleState {
    return this.current;
  }

  /**
   * Queues `bytes` of input for the guest and pushes what fits into its `in` ring now. Returns
   * how many bytes were accepted (the rest did not fit the queue limit).
   */
  write(bytes: Uint8Array): number {
    return this.current.kind === 'serving' ? this.backend.write(bytes) : 0;
  }

  /** Bytes of input waiting for room in the guest's `in` ring. */
  get queuedInput(): number {
    return this.backend.queuedInput;
  }

  /** The guest kicked us (or input arrived): drain `out`, refill `in`, kick back if anything moved. */
  service(): void {
    if (this.current.kind === 'serving') this.backend.kick();
  }

  /** Stops serving and closes the host end (the guest's port goes back to unbound). */
  close(): void {
    if (this.current.kind === 'serving') this.endpoint.close();
    this.stop({ kind: 'closed' });
  }

  private stop(state: PvConsoleState): void {
    if (this.current.kind !== 'serving') return;
    this.current = state;
    this.backend.stop();
  }
}
