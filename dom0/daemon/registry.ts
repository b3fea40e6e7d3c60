// The domain registry of xltsd: domid allocation, unique names, each domain's lifecycle (phases
// from dom0/control/phases.ts, every move checked), its shim process, its xenstore tree and store
// ring, its console, and the on_poweroff/on_reboot/on_crash policy applied when the guest ends.
//
// Creating is all or nothing: every step registers its undo, and a failure runs them all (kill
// the shim, release the domain from XenStore and remove its nodes, unmap and unlink its RAM
// file, free the name and domid) before the error goes back to the caller.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import { EventEmitter } from 'eventemitter3';
import type { XenstoreClient } from '../../frontends/xenbus/index.ts';
import { SharedMemoryFile } from '../../hypervisor/memory/shared-memory-file.ts';
import type { BuiltDomain, LinkFate, ShimSpec } from '../../hypervisor/shim/dom0-link.ts';
import type { ShutdownReason } from '../../hypervisor/xen/index.ts';
import { XS } from '../../ring-buffer/xs-wire.ts';
import { DOMID_FIRST_RESERVED, type BlockDeviceInfo, type DomainSummary } from '../control/commands.ts';
import { BadConfigError, BadRequestError, BusyError, InternalControlError, NameInUseError, NoSuchDomainError, type DomainRef } from '../control/errors.ts';
import type { ControlEvent } from '../control/messages.ts';
import { checkPhaseTransition, phaseAfterShutdown, shutdownPolicyKey, type DomainPhase } from '../control/phases.ts';
import type { DiskSpec, DomainConfig } from '../domain-config.ts';
import { XenstoreRingServer, type XenstoreEngine, type XsConnection } from '../xenstore/index.ts';
import { ConsoleRingBackend } from '../../hypervisor/xen/console-ring-backend.ts';
import { DomainGrants } from '../grants/domain-grants.ts';
import { ImageError, RawImage } from '../../backends/blkback/raw-image.ts';
import { VbdBackend } from '../../backends/blkback/vbd-backend.ts';
import { removeVbdXenstore, vbdBackendPath, vbdFrontendPath, writeVbdXenstore } from './vbd-xenstore.ts';
import { removeDomainXenstore, writeDomainXenstore } from './domain-xenstore.ts';
import type { RunPaths } from './run-dir.ts';
import { ShimProcess, ShimStartError } from './shim-process.ts';

/** Console output kept per domain for `xlts console` to replay on attach. */
const CONSOLE_HISTORY_BYTES = 256 * 1024;
/** How long a shim may take to build its domain (a cold tsx start under TCG is slow). */
const BUILD_TIMEOUT_MS = 120_000;
const PAGE = 4096;

export interface RegistryOptions {
  readonly engine: XenstoreEngine;
  readonly xs: XenstoreClient;
  /** The privileged session INTRODUCE goes through. */
  readonly session: XsConnection;
  readonly paths: RunPaths;
  readonly log: (line: string) => void;
}

export interface RegistryEvents {
  event: (e: ControlEvent) => void;
}

type ConsoleListener = (bytes: Uint8Array) => void;

export interface AttachedDisk {
  readonly spec: DiskSpec;
  readonly backend: VbdBackend;
}

/** How long block-detach waits for the guest to let go of a disk (libxl waits 10 s too). */
const DETACH_TIMEOUT_MS = 10_000;

export class ManagedDomain {
  phase: DomainPhase = 'creating';
  shutdownReason: ShutdownReason | undefined;
  shim: ShimProcess | null = null;
  ram: SharedMemoryFile | null = null;
  ring: XenstoreRingServer | null = null;
  gnttab: SharedMemoryFile | null = null;
  /** Disks by devid: those of the config and the hot-plugged ones. */
  readonly disks = new Map<number, AttachedDisk>();
  grants: DomainGrants | null = null;
  /** Handlers of the guest's ports bound to Dom0 by backends (besides store and console). */
  readonly portHandlers = new Map<number, () => void>();
  console: ConsoleRingBackend | null = null;
  built: BuiltDomain | null = null;
  readonly createdAt = Date.now();
  private history: Uint8Array[] = [];
  private historyBytes = 0;
  readonly consoleListeners = new Set<ConsoleListener>();

  constructor(
    readonly domid: number,
    readonly uuid: string,
    readonly config: DomainConfig,
    readonly ramPath: string,
  ) {}

  get name(): string {
    return this.config.name;
  }

  consoleOutput(bytes: Uint8Array): void {
    this.history.push(bytes);
    this.historyBytes += bytes.length;
    while (this.historyBytes > CONSOLE_HISTORY_BYTES && this.history.length > 1) this.historyBytes -= this.history.shift()!.length;
    for (const l of this.consoleListeners) l(bytes);
  }

  consoleHistory(): Uint8Array {
    return Buffer.concat(this.history);
  }

  summary(): DomainSummary {
    return {
      domid: this.domid,
      name: this.name,
      type: this.config.type,
      phase: this.phase,
      memory: this.config.memory,
      vcpus: this.config.vcpus,
      uuid: this.uuid,
      uptime_ms: Date.now() - this.createdAt,
      ...(this.shutdownReason !== undefined ? { shutdown_reason: this.shutdownReason } : {}),
    };
  }
}

export class DomainRegistry extends EventEmitter<RegistryEvents> {
  private readonly domains = new Map<number, ManagedDomain>();
  private nextDomid = 1;

  constructor(private readonly opts: RegistryOptions) {
    super();
  }

  list(): DomainSummary[] {
    return [...this.domains.values()].sort((a, b) => a.domid - b.domid).map((d) => d.summary());
  }

  get size(): number {
    return this.domains.size;
  }

  find(ref: DomainRef): ManagedDomain {
    const d = typeof ref === 'number' ? this.domains.get(ref) : [...this.domains.values()].find((x) => x.name === ref);
    if (d === undefined) throw new NoSuchDomainError(ref);
    return d;
  }

  private allocateDomid(): number {
    for (let i = 0; i < DOMID_FIRST_RESERVED; i++) {
      const id = this.nextDomid;
      this.nextDomid = id + 1 >= DOMID_FIRST_RESERVED ? 1 : id + 1;
      if (!this.domains.has(id)) return id;
    }
    throw new InternalControlError('no free domid');
  }

  private setPhase(d: ManagedDomain, to: DomainPhase, reason?: ShutdownReason): void {
    const from = d.phase;
    if (checkPhaseTransition(from, to) === 'noop') return;
    d.phase = to;
    this.opts.log(`dom${d.domid} (${d.name}): ${from} -> ${to}${reason ? ` (${reason})` : ''}`);
    this.emit('event', { kind: 'phase', domid: d.domid, name: d.name, from, to, ...(reason ? { reason } : {}) });
  }

  async create(config: DomainConfig, paused: boolean): Promise<ManagedDomain> {
    const taken = [...this.domains.values()].find((d) => d.name === config.name);
    if (taken !== undefined) throw new NameInUseError(config.name, taken.domid);
    // Say so rather than boot a guest without the devices its config asks for.
    const unserved = config.vifs.map((v) => `vif ${v.devid}`);
    if (unserved.length > 0) throw new BadConfigError([`${unserved.join(', ')}: xltsd has no network backend yet`]);
    if (config.type === 'pvh') {
      for (const f of [config.kernel, ...(config.ramdisk ? [config.ramdisk] : [])]) {
        if (!fs.existsSync(f)) throw new BadConfigError([`${f}: no such file`]);
      }
    }
    const domid = this.allocateDomid();
    const d = new ManagedDomain(domid, config.uuid ?? randomUUID(), config, `${this.opts.paths.shmPrefix}dom${domid}.ram`);
    this.domains.set(domid, d);
    this.emit('event', { kind: 'phase', domid, name: d.name, from: null, to: 'creating' });
    try {
      await this.build(d);
      this.setPhase(d, 'paused');
      if (!paused) await this.unpause(d);
      return d;
    } catch (err) {
      await this.teardown(d);
      if (err instanceof ShimStartError) throw new BadConfigError([`${config.name}: ${err.message}`]);
      throw err;
    }
  }

  private async build(d: ManagedDomain): Promise<void> {
    const c = d.config;
    const spec: ShimSpec = {
      domid: d.domid,
      name: c.name,
      engine: c.type === 'process' ? 'process' : 'kvm',
      cmdline: c.cmdline,
      ...(c.type === 'pvh' ? { kernel: c.kernel, ...(c.ramdisk ? { initrd: c.ramdisk } : {}) } : { program: c.program }),
      memoryMiB: c.memory,
      vcpus: c.vcpus,
      maxGrantFrames: c.max_grant_frames,
      ramPath: d.ramPath,
    };
    const shim = new ShimProcess(spec, { logStderr: (chunk) => this.opts.log(`dom${d.domid} shim: ${chunk.trimEnd()}`) });
    d.shim = shim;
    shim.on('log', (line) => this.opts.log(`dom${d.domid}: ${line}`));
    shim.on('output', (bytes) => d.consoleOutput(bytes));
    shim.on('kick', (port) => {
      if (port === d.built?.store.port) d.ring?.kick();
      else if (port === d.built?.console.port) d.console?.kick();
      else d.portHandlers.get(port)?.();
    });
    shim.on('fate', (fate) => void this.guestEnded(d, fate));
    shim.on('exit', (code, signal) => {
      if (d.phase !== 'dying' && d.phase !== 'shutdown' && d.phase !== 'crashed') {
        void this.guestEnded(d, { kind: 'shim-error', message: `the shim process exited (code ${code}, signal ${signal})` });
      }
    });
    const built = await shim.built(BUILD_TIMEOUT_MS);
    d.built = built;
    const page = (pfn: number): Uint8Array => {
      const at = pfn * PAGE;
      const r = built.regions.find((x) => at >= x.base && at + PAGE <= x.base + x.size);
      if (r === undefined || !d.ram) throw new InternalControlError(`the shim put a ring at pfn ${pfn}, outside guest RAM`);
      return d.ram.bytes(r.fileOffset + (at - r.base), PAGE);
    };
    d.ram = SharedMemoryFile.open(built.ramPath);
    d.gnttab = SharedMemoryFile.open(built.grantFrames.path);
    if (d.gnttab.size < built.grantFrames.frames * PAGE) throw new InternalControlError('the shim made a grant table smaller than it says');
    d.grants = new DomainGrants({ frames: d.gnttab.bytes(0, built.grantFrames.frames * PAGE), ram: d.ram.bytes(), regions: built.regions });
    await writeDomainXenstore(this.opts.xs, { domid: d.domid, name: d.name, uuid: d.uuid, memoryMiB: c.memory, vcpus: c.vcpus, store: built.store, console: built.console });
    // INTRODUCE through the privileged session, so @introduceDomain watchers hear of it.
    const reply = this.opts.engine.handle(this.opts.session, {
      type: XS.XS_INTRODUCE,
      txId: 0,
      payload: new TextEncoder().encode(`${d.domid}\0${built.store.pfn}\0${built.store.port}\0`),
    });
    if (reply.type !== XS.XS_INTRODUCE) throw new InternalControlError(`XenStore refused to introduce domain ${d.domid}`);
    d.ring = new XenstoreRingServer({
      engine: this.opts.engine,
      domid: d.domid,
      page: page(built.store.pfn),
      notify: () => shim.send({ kind: 'raise', port: built.store.port }),
      log: (line: string) => this.opts.log(`dom${d.domid} xenstore: ${line}`),
    });
    d.console = new ConsoleRingBackend(page(built.console.pfn), () => shim.send({ kind: 'raise', port: built.console.port }), (bytes) => d.consoleOutput(bytes));
    for (const disk of c.disks) await this.attachDisk(d, disk);
  }

  /**
   * A block device: its xenstore directories and a blkback serving the image. At build time the
   * guest finds it when it boots; on a running guest (block-attach) its xenbus sees the new
   * frontend directory and connects, as after xl block-attach.
   */
  async attachDisk(d: ManagedDomain, disk: DiskSpec): Promise<void> {
    const grants = d.grants;
    if (grants === null) throw new InternalControlError(`domain ${d.domid} has no grant table`);
    const clash = [...d.disks.values()].find((x) => x.spec.device_id === disk.device_id || x.spec.vdev === disk.vdev);
    if (clash !== undefined) throw new BadConfigError([`disk ${disk.vdev}: domain ${d.domid} already has ${clash.spec.vdev} (devid ${clash.spec.device_id})`]);
    let storage: RawImage;
    try {
      storage = new RawImage(disk.target, disk.access === 'ro');
    } catch (err) {
      if (err instanceof ImageError) throw new BadConfigError([`disk ${disk.vdev}: ${err.message}`]);
      throw err;
    }
    const backend = new VbdBackend({
      xs: this.opts.xs,
      backendPath: vbdBackendPath(d.domid, disk.device_id),
      frontendPath: vbdFrontendPath(d.domid, disk.device_id),
      storage,
      grants,
      discard: disk.discard,
      bindEventChannel: async (port, onEvent) => {
        const notify = await this.bindPort(d, port, onEvent);
        return { notify, close: () => this.unbindPort(d, port) };
      },
      log: (line) => this.opts.log(`dom${d.domid} vbd ${disk.vdev}: ${line}`),
    });
    // Owned by the domain from here, so a failure below still closes the image on teardown.
    d.disks.set(disk.device_id, { spec: disk, backend });
    try {
      await writeVbdXenstore(this.opts.xs, d.domid, disk);
      await backend.start();
    } catch (err) {
      if (d.phase === 'creating') throw err; // the whole domain is undone
      await this.releaseDisk(d, disk.device_id);
      throw err;
    }
  }

  /** block-detach: the guest is asked to let go (Closing) and the disk goes once it has. */
  async detachDisk(d: ManagedDomain, device: string, force: boolean): Promise<{ spec: DiskSpec; forced: boolean }> {
    const found = [...d.disks.values()].find((x) => x.spec.vdev === device || String(x.spec.device_id) === device);
    if (found === undefined) {
      const have = [...d.disks.values()].map((x) => x.spec.vdev).join(', ') || 'none';
      throw new BadRequestError(`domain ${d.domid} has no disk ${JSON.stringify(device)} (it has: ${have})`);
    }
    const left = await found.backend.detach(DETACH_TIMEOUT_MS);
    if (left !== null && !force) {
      throw new BusyError(`disk ${found.spec.vdev} of domain ${d.domid}: the guest did not let go within ${DETACH_TIMEOUT_MS / 1000} s (frontend state ${left}; in use?); it stays unplugged from new I/O's point of view only when forced (--force)`);
    }
    await this.releaseDisk(d, found.spec.device_id);
    return { spec: found.spec, forced: left !== null };
  }

  private async releaseDisk(d: ManagedDomain, devid: number): Promise<void> {
    const disk = d.disks.get(devid);
    d.disks.delete(devid);
    await disk?.backend.close().catch(() => undefined);
    await removeVbdXenstore(this.opts.xs, d.domid, devid);
  }

  async blockList(d: ManagedDomain): Promise<BlockDeviceInfo[]> {
    const state = async (path: string): Promise<number> => {
      const v = Number(await this.opts.xs.read(`${path}/state`).catch(() => '0'));
      return Number.isInteger(v) ? v : 0;
    };
    const disks = [...d.disks.values()].sort((a, b) => a.spec.device_id - b.spec.device_id);
    const out: BlockDeviceInfo[] = [];
    for (const { spec, backend } of disks) {
      const s = backend.stats;
      out.push({
          vdev: spec.vdev,
          devid: spec.device_id,
          target: spec.target,
          access: spec.access,
          backend_state: await state(vbdBackendPath(d.domid, spec.device_id)),
          frontend_state: await state(vbdFrontendPath(d.domid, spec.device_id)),
          stats: {
            requests: s.requests,
            reads: s.reads,
            writes: s.writes,
            flushes: s.flushes,
            discards: s.discards,
            indirect: s.indirect,
            bytes_read: s.bytesRead,
            bytes_written: s.bytesWritten,
            errors: s.errors,
            batches: s.batches,
            max_batch: s.maxBatch,
            notifications_in: s.notificationsIn,
            notifications_out: s.notificationsOut,
          },
        });
    }
    return out;
  }

  /**
   * Binds a port the guest left unbound for Dom0 (a frontend's event channel) and calls `onEvent`
   * whenever the guest sends on it; returns the notify for the other direction.
   */
  async bindPort(d: ManagedDomain, port: number, onEvent: () => void): Promise<() => void> {
    const shim = d.shim;
    if (shim === null) throw new InternalControlError(`domain ${d.domid} has no shim`);
    await shim.bind(port);
    d.portHandlers.set(port, onEvent);
    return () => shim.send({ kind: 'raise', port });
  }

  unbindPort(d: ManagedDomain, port: number): void {
    d.portHandlers.delete(port);
    d.shim?.send({ kind: 'unbind', port });
  }

  async unpause(d: ManagedDomain): Promise<void> {
    if (!d.shim) throw new InternalControlError(`domain ${d.domid} has no shim`);
    await d.shim.acknowledge('unpause');
    this.setPhase(d, 'running');
  }

  async pause(d: ManagedDomain): Promise<void> {
    if (!d.shim) throw new InternalControlError(`domain ${d.domid} has no shim`);
    await d.shim.acknowledge('pause');
    this.setPhase(d, 'paused');
  }

  /** Asks the guest, through control/shutdown, to power off or reboot. */
  async requestShutdown(d: ManagedDomain, reboot: boolean): Promise<void> {
    await this.opts.xs.write(`/local/domain/${d.domid}/control/shutdown`, reboot ? 'reboot' : 'poweroff');
    this.setPhase(d, 'shutting-down');
  }

  /** Resolves once the domain has shut down or crashed (its phase then), or is gone. */
  waitForEnd(d: ManagedDomain): Promise<DomainPhase | 'gone'> {
    return new Promise((resolve) => {
      const check = (e: ControlEvent): void => {
        if (e.kind === 'removed' && e.domid === d.domid) done('gone');
        // A domain its policy destroys (or restarts) is waited for until it is gone, so the
        // caller finds its images closed and its resources freed, as after xl shutdown -w.
        else if (e.kind === 'phase' && e.domid === d.domid && (e.to === 'shutdown' || e.to === 'crashed') && this.preservedAfter(d, e.to)) done(e.to);
      };
      const done = (p: DomainPhase | 'gone'): void => {
        this.off('event', check);
        resolve(p);
      };
      if (!this.domains.has(d.domid)) resolve('gone');
      else if ((d.phase === 'shutdown' || d.phase === 'crashed') && this.preservedAfter(d, d.phase)) resolve(d.phase);
      else this.on('event', check);
    });
  }

  /** Whether the on_* policy keeps the domain once it is in `phase` (shutdown or crashed). */
  private preservedAfter(d: ManagedDomain, phase: 'shutdown' | 'crashed'): boolean {
    const key = d.shutdownReason === undefined ? (phase === 'crashed' ? 'on_crash' : undefined) : shutdownPolicyKey(d.shutdownReason) ?? 'on_crash';
    return key === undefined || d.config[key] === 'preserve';
  }

  private async guestEnded(d: ManagedDomain, fate: LinkFate): Promise<void> {
    if (d.phase === 'dying' || d.phase === 'shutdown' || d.phase === 'crashed' || !this.domains.has(d.domid)) return;
    if (d.phase === 'creating') return; // build() sees the shim go and cleans up
    const reason: ShutdownReason = fate.kind === 'shutdown' ? fate.reason : 'crash';
    this.opts.log(`dom${d.domid} (${d.name}) ended: ${describeLinkFate(fate)}`);
    d.shutdownReason = reason;
    const phase = fate.kind === 'shutdown' ? phaseAfterShutdown(fate.reason) : 'crashed';
    this.setPhase(d, phase, reason);
    const key = shutdownPolicyKey(reason) ?? 'on_crash';
    const action = d.config[key];
    if (action === 'preserve') {
      // The shim is gone; keep the record, the xenstore tree and the console history for a look.
      await d.shim?.exitedPromise;
      return;
    }
    // A restart keeps the disks the domain has now (hot-plugged ones too), as libxl does.
    const config: DomainConfig = { ...d.config, disks: [...d.disks.values()].map((x) => x.spec) };
    await this.destroy(d);
    if (action === 'restart') {
      try {
        await this.create(config, false);
      } catch (err) {
        this.opts.log(`dom${d.domid} (${d.name}): restart failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  async destroy(d: ManagedDomain): Promise<void> {
    if (!this.domains.has(d.domid) || d.phase === 'dying') return;
    this.setPhase(d, 'dying');
    await this.teardown(d);
  }

  /** Undoes everything a domain holds; safe on a half-built one. */
  private async teardown(d: ManagedDomain): Promise<void> {
    if (d.phase !== 'dying' && d.phase !== 'creating') this.setPhase(d, 'dying');
    d.ring?.close();
    d.ring = null;
    d.console = null;
    for (const devid of [...d.disks.keys()]) await this.releaseDisk(d, devid);
    await d.shim?.stop();
    if (this.opts.engine.isIntroduced(d.domid)) this.opts.engine.releaseDomain(d.domid);
    await removeDomainXenstore(this.opts.xs, d.domid, d.uuid);
    d.portHandlers.clear();
    d.grants = null;
    d.gnttab?.close();
    d.gnttab = null;
    d.ram?.close();
    d.ram = null;
    fs.rmSync(d.ramPath, { force: true });
    fs.rmSync(`${d.ramPath}.gnttab`, { force: true });
    for (const l of d.consoleListeners) l(new Uint8Array(0));
    d.consoleListeners.clear();
    this.domains.delete(d.domid);
    this.emit('event', { kind: 'removed', domid: d.domid, name: d.name });
  }

  async destroyAll(): Promise<void> {
    for (const d of [...this.domains.values()]) await this.destroy(d);
  }
}

function describeLinkFate(f: LinkFate): string {
  switch (f.kind) {
    case 'shutdown':
      return `${f.reason} (${f.how})`;
    case 'crashed':
      return `crashed (${f.how})`;
    case 'shim-error':
      return `shim error: ${f.message}`;
    case 'timeout':
      return `timeout after ${f.seconds} s`;
  }
}
