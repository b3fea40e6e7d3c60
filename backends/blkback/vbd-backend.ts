// The backend end of one virtual block device's xenbus handshake, as Linux's blkback does it:
//   start:        features and disk facts written, state InitWait
//   frontend Initialised/Connected: read ring-ref, event-channel, protocol; map the ring through
//                 the grant mapper, bind the channel; state Connected
//   frontend Closing/Closed: release the ring and channel; state Closing, then Closed
//   frontend back to Initialising (a reconnect): state InitWait again
//   detach (hot-unplug, the toolstack asks): state Closing; the frontend lets go of the disk and
//                 goes Closed, or, while the guest still has it open, stays Closing (Linux's
//                 blkfront refuses with "Device in use")
// Single page ring, one queue, indirect segments and discard; no persistent grants yet.
import { XenbusState, parseXenbusState, parseXenbusUnsigned } from '../../ring-buffer/xenbus.ts';
import { BlkifRing, emptyStats, type BlkStats } from './blkif-ring.ts';
import type { BindEventChannel, BlockStorage, EventChannel, GrantMapper, GrantMapping, XenstoreAccess } from './interfaces.ts';
import { MAX_INDIRECT_SEGMENTS, SECTOR_SIZE } from './request.ts';

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
  private ringPage: GrantMapping | null = null;
  private channel: EventChannel | null = null;
  private ring: BlkifRing | null = null;
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
    await w('feature-persistent', 0);
    await w('max-ring-page-order', 0);
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
        if (this.ring === null) await this.connect();
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
    const protocol = await this.o.xs.read(`${f}/protocol`).catch(() => PROTO_X86_64);
    if (protocol !== PROTO_X86_64) {
      this.log(`protocol ${JSON.stringify(protocol)} is not offered (only ${PROTO_X86_64})`);
      await this.setState(XenbusState.XenbusStateClosing);
      return;
    }
    const ringRef = await num('ring-ref');
    const port = await num('event-channel');
    // The shared ring is a granted page too; we write responses into it.
    this.ringPage = this.o.grants.map(ringRef, 'write');
    const page = this.ringPage.bytes;
    this.channel = await this.o.bindEventChannel(port, () => this.ring?.kick());
    const channel = this.channel;
    const discard = !this.o.storage.readOnly && this.o.discard === true;
    this.ring = new BlkifRing(page, this.o.storage, this.o.grants, () => channel.notify(), this.stats, (line) => this.log(line), discard);
    await this.setState(XenbusState.XenbusStateConnected);
    // Requests may already be waiting.
    this.ring.kick();
  }

  private disconnect(): void {
    this.ring = null;
    this.channel?.close();
    this.channel = null;
    this.ringPage?.unmap();
    this.ringPage = null;
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
