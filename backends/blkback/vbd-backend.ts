// The backend end of one virtual block device's xenbus handshake, as Linux's blkback does it:
//   start:        features and disk facts written, state InitWait
//   frontend Initialised/Connected: read ring-ref, event-channel, protocol; map the ring through
//                 the grant mapper, bind the channel; state Connected
//   frontend Closing/Closed: release the ring and channel; state Closing, then Closed
//   frontend back to Initialising (a reconnect): state InitWait again
//   detach (hot-unplug, the toolstack asks): state Closing; the frontend lets go of the disk and
//                 goes Closed, or, while the guest still has it open, stays Closing (Linux's
//                 blkfront refuses with "Device in use")
// Multi-page rings (max-ring-page-order 4), up to 4 queues, persistent grants (feature-persistent
// 1, used when the frontend writes feature-persistent 1 too), indirect segments and discard.
import { XenbusState, parseXenbusState, parseXenbusUnsigned } from '../../ring-buffer/xenbus.ts';
import { BlkifRing, emptyStats, type BlkStats } from './blkif-ring.ts';
import type { BindEventChannel, BlockStorage, EventChannel, GrantMapper, GrantMapping, XenstoreAccess } from './interfaces.ts';
import { MAX_INDIRECT_SEGMENTS, SECTOR_SIZE } from './request.ts';

/** Linux's blkback offers rings of up to 2^4 pages (xen_blkif_max_ring_order) ... */
const MAX_RING_PAGE_ORDER = 4;
/** ... and as many queues as it has CPUs; we offer a fixed few (one event loop serves them all). */
const MAX_QUEUES = 4;
const PAGE_SIZE = 4096;

interface Queue {
  readonly pages: readonly GrantMapping[];
  readonly channel: EventChannel;
  readonly ring: BlkifRing;
}

/** The only ABI offered (io/protocols.h XEN_IO_PROTO_ABI_X86_64). */
const PROTO_X86_64 = 'x86_64-abi';
const VDISK_READONLY = 0x4;

export interface VbdBackendOptions {
  readonly xs: XenstoreAccess;
  /** /local/domain/0/backend/vbd/<frontend domid>/<devid> */
  readonly backendPath: string;
  readonly frontendPath: string;
  readonly storage: BlockStorage;
  readonly grants: GrantMapper;
  readonly bindEventChannel: BindEventChannel;
  /** Offer discard (xl's discard-enable; never on a read-only disk). */
  readonly discard?: boolean;
  readonly log?: (line: string) => void;
}

export class VbdBackend {
  private readonly queues: Queue[] = [];
  private readonly token: string;
  private state: XenbusState = XenbusState.XenbusStateInitialising;
  private busy: Promise<void> = Promise.resolve();
  private frontendState: XenbusState = XenbusState.XenbusStateUnknown;
  private readonly stateWaiters = new Set<() => void>();
  readonly stats: BlkStats = emptyStats();

  constructor(private readonly o: VbdBackendOptions) {
    this.token = o.xs.uniqueToken('vbd');
  }

  private log(line: string): void {
    this.o.log?.(`${this.o.backendPath}: ${line}`);
  }

  private async setState(s: XenbusState): Promise<void> {
    if (s === this.state) return;
    this.state = s;
    await this.o.xs.write(`${this.o.backendPath}/state`, String(s));
  }

  async start(): Promise<void> {
    const b = this.o.backendPath;
    const w = (k: string, v: string | number): Promise<void> => this.o.xs.write(`${b}/${k}`, String(v));
    await w('sectors', this.o.storage.size / SECTOR_SIZE);
    await w('info', this.o.storage.readOnly ? VDISK_READONLY : 0);
    await w('sector-size', SECTOR_SIZE);
    await w('physical-sector-size', SECTOR_SIZE);
    await w('feature-flush-cache', 1);
    await w('feature-barrier', 0);
    const discard = !this.o.storage.readOnly && this.o.discard === true;
    await w('feature-discard', discard ? 1 : 0);
    if (discard) {
      await w('discard-granularity', 4096);
      await w('discard-alignment', 0);
      await w('discard-secure', 0);
    }
    await w('feature-max-indirect-segments', MAX_INDIRECT_SEGMENTS);
    await w('feature-persistent', 1);
    await w('max-ring-page-order', MAX_RING_PAGE_ORDER);
    await w('multi-queue-max-queues', MAX_QUEUES);
    await this.setState(XenbusState.XenbusStateInitWait);
    // Serialised: each frontend state change is handled after the previous one finished.
    await this.o.xs.watch(`${this.o.frontendPath}/state`, this.token, () => {
      this.busy = this.busy.then(() => this.frontendChanged()).catch((err: unknown) => this.log(`handshake: ${err instanceof Error ? err.message : String(err)}`));
    });
  }

  private async frontendChanged(): Promise<void> {
    const raw = await this.o.xs.read(`${this.o.frontendPath}/state`).catch(() => '');
    const parsed = parseXenbusState(raw);
    const fe = parsed.ok ? parsed.value : XenbusState.XenbusStateUnknown;
    this.frontendState = fe;
    for (const w of this.stateWaiters) w();
    if (this.detaching) {
      // Being unplugged: only closing moves are followed; the device is not offered again.
      if (fe === XenbusState.XenbusStateClosed || fe === XenbusState.XenbusStateUnknown) {
        this.disconnect();
        await this.setState(XenbusState.XenbusStateClosed);
      }
      return;
    }
    switch (fe) {
      case XenbusState.XenbusStateInitialised:
      case XenbusState.XenbusStateConnected:
        if (this.queues.length === 0) await this.connect().catch(async (err: unknown) => {
          // A frontend that names bad rings gets the device closed, as Linux's blkback does.
          this.disconnect();
          this.log(`connect: ${err instanceof Error ? err.message : String(err)}`);
          await this.setState(XenbusState.XenbusStateClosing);
        });
        break;
      case XenbusState.XenbusStateClosing:
        this.disconnect();
        await this.setState(XenbusState.XenbusStateClosing);
        break;
      case XenbusState.XenbusStateClosed:
        this.disconnect();
        await this.setState(XenbusState.XenbusStateClosed);
        break;
      case XenbusState.XenbusStateInitialising:
        if (this.state === XenbusState.XenbusStateClosed || this.state === XenbusState.XenbusStateClosing) await this.setState(XenbusState.XenbusStateInitWait);
        break;
      default:
        break;
    }
  }

  private async connect(): Promise<void> {
    const f = this.o.frontendPath;
    const num = async (key: string): Promise<number> => {
      const v = parseXenbusUnsigned(await this.o.xs.read(`${f}/${key}`), 0xffffffff);
      if (!v.ok) throw new Error(`frontend ${key}: ${v.reason}`);
      return v.value;
    };
    const optional = async (key: string, fallback: number): Promise<number> => {
      const raw = await this.o.xs.read(`${f}/${key}`).catch(() => null);
      if (raw === null) return fallback;
      const v = parseXenbusUnsigned(raw, 0xffffffff);
      if (!v.ok) throw new Error(`frontend ${key}: ${v.reason}`);
      return v.value;
    };
    const protocol = await this.o.xs.read(`${f}/protocol`).catch(() => PROTO_X86_64);
    if (protocol !== PROTO_X86_64) {
      this.log(`protocol ${JSON.stringify(protocol)} is not offered (only ${PROTO_X86_64})`);
      await this.setState(XenbusState.XenbusStateClosing);
      return;
    }
    // One queue unless the frontend asked for more (multi-queue-num-queues, then queue-N/ holds
    // each queue's ring-ref(s) and event-channel); ring-page-order applies to every queue.
    const queues = await optional('multi-queue-num-queues', 1);
    const order = await optional('ring-page-order', 0);
    if (queues < 1 || queues > MAX_QUEUES || order > MAX_RING_PAGE_ORDER) {
      this.log(`frontend asks for ${queues} queue(s) of 2^${order}-page rings; at most ${MAX_QUEUES} of 2^${MAX_RING_PAGE_ORDER} are offered`);
      await this.setState(XenbusState.XenbusStateClosing);
      return;
    }
    const discard = !this.o.storage.readOnly && this.o.discard === true;
    // Persistent grants only when both ends said so (Linux: feature_persistent && the frontend's).
    const persistent = (await optional('feature-persistent', 0)) === 1;
    const ports = new Set<number>();
    for (let q = 0; q < queues; q++) {
      const dir = queues === 1 ? '' : `queue-${q}/`;
      const refs: number[] = [];
      if (order === 0) refs.push(await num(`${dir}ring-ref`));
      else for (let i = 0; i < 2 ** order; i++) refs.push(await num(`${dir}ring-ref${i}`));
      const port = await num(`${dir}event-channel`);
      // Xen binds an unbound port once (EVTCHNOP_bind_interdomain): two queues cannot share one.
      if (ports.has(port)) throw new Error(`queue ${q}: event channel ${port} is already another queue's`);
      ports.add(port);
      const queue = await this.connectQueue(refs, port, discard, persistent);
      this.queues.push(queue);
    }
    this.log(`connected: ${queues} queue(s) of 2^${order}-page rings, persistent grants ${persistent ? 'on' : 'off'}`);
    await this.setState(XenbusState.XenbusStateConnected);
    // Requests may already be waiting.
    for (const q of this.queues) q.ring.kick();
  }

  /**
   * Maps one queue's ring pages (written into: responses) and binds its channel. A multi-page
   * ring must be contiguous in the guest (Linux allocates it so); each page is still mapped and
   * checked on its own, and the ring is the view over exactly those pages.
   */
  private async connectQueue(refs: readonly number[], port: number, discard: boolean, persistent: boolean): Promise<Queue> {
    const pages: GrantMapping[] = [];
    let ring: BlkifRing | null = null;
    let channel: EventChannel | null = null;
    try {
      for (const ref of refs) pages.push(this.o.grants.map(ref, 'write'));
      const first = pages[0]!.bytes;
      const contiguous = pages.every((m, i) => m.bytes.buffer === first.buffer && m.bytes.byteOffset === first.byteOffset + i * PAGE_SIZE && m.bytes.byteLength === PAGE_SIZE);
      if (!contiguous) throw new Error(`the ${refs.length} ring pages are not consecutive guest pages`);
      const view = new Uint8Array(first.buffer, first.byteOffset, refs.length * PAGE_SIZE);
      const r = new BlkifRing(view, { storage: this.o.storage, grants: this.o.grants, notify: () => channel?.notify(), stats: this.stats, log: (line) => this.log(line), discard, persistent });
      ring = r;
      channel = await this.o.bindEventChannel(port, () => r.kick());
      return { pages, channel, ring: r };
    } catch (err) {
      ring?.stop();
      channel?.close();
      for (const m of pages) m.unmap();
      throw err;
    }
  }

  private disconnect(): void {
    for (const q of this.queues.splice(0)) {
      // The ring first: it stops serving and unmaps its persistent grants.
      q.ring.stop();
      q.channel.close();
      for (const m of q.pages) m.unmap();
    }
  }

  private detaching = false;

  /**
   * Hot-unplug: says Closing to the frontend and waits up to `timeoutMs` for it to close. Returns
   * the frontend's state when it did not (the guest still uses the disk), or null once it is safe
   * to remove. A frontend that never connected (no driver in the guest) needs no answer.
   */
  async detach(timeoutMs: number): Promise<XenbusState | null> {
    this.detaching = true;
    await this.busy;
    await this.o.xs.write(`${this.o.backendPath}/online`, '0');
    await this.setState(XenbusState.XenbusStateClosing);
    const done = (): boolean =>
      this.frontendState === XenbusState.XenbusStateClosed || this.frontendState === XenbusState.XenbusStateUnknown || this.frontendState === XenbusState.XenbusStateInitialising;
    if (done()) return null;
    return new Promise((resolve) => {
      const check = (): void => {
        if (!done()) return;
        finish(null);
      };
      const finish = (r: XenbusState | null): void => {
        clearTimeout(timer);
        this.stateWaiters.delete(check);
        resolve(r);
      };
      const timer = setTimeout(() => finish(this.frontendState), timeoutMs);
      this.stateWaiters.add(check);
    });
  }

  /** The frontend's state as last read (XenbusStateUnknown before it wrote one). */
  get peerState(): XenbusState {
    return this.frontendState;
  }

  /** The device is being removed (domain destroyed or detached). */
  async close(): Promise<void> {
    await this.o.xs.unwatch(`${this.o.frontendPath}/state`, this.token).catch(() => undefined);
    this.disconnect();
    this.o.storage.close();
  }
}
