// The control API's commands: a closed union shared by xltsd (which carries them out) and the
// xlts CLI (which sends them). For each command: its arguments, its result, and -- for commands
// aimed at an existing domain -- the lifecycle phases in which it is legal. parseCommand() is the
// daemon's gate: whatever arrives is checked field by field and turned into one of these, or
// refused with BadRequest (BadConfig for a create whose config does not validate).
import type { ShutdownReason } from '../../hypervisor/xen/domain-events.ts';
import { XENSTORE_LIMITS } from '../../ring-buffer/xs-wire.ts';
import { DomainConfigError, validateDiskSpec, validateDomainConfig, type DiskSpec, type DomainConfig, type DomainType } from '../domain-config.ts';
import { BadConfigError, BadRequestError, NotAllowedInPhaseError, asRecord, type DomainRef } from './errors.ts';
import { DOMAIN_PHASES, type DomainPhase } from './phases.ts';

export type { DomainRef } from './errors.ts';

/** DOMID_FIRST_RESERVED (xen.h): domids from 0x7FF0 up are special (DOMID_SELF, DOMID_IO, ...). */
export const DOMID_FIRST_RESERVED = 0x7ff0;

/** A xenstore permission as xenstore-chmod writes it: n(one), r(ead), w(rite), b(oth), for a domid. */
export interface XsPermission {
  readonly domid: number;
  readonly perm: 'n' | 'r' | 'w' | 'b';
}

/** What each command carries besides its op. */
export interface CommandArgs {
  /** Build a domain from `config`; start it unless `paused` (xl create -p). */
  create: { readonly config: DomainConfig; readonly paused: boolean };
  list: Record<never, never>;
  /** Host information (xl info). */
  info: Record<never, never>;
  destroy: { readonly domain: DomainRef };
  /** Ask the guest to shut down (or reboot); with `wait`, answer once it has (xl shutdown -w). */
  shutdown: { readonly domain: DomainRef; readonly reboot?: boolean; readonly wait?: boolean };
  reboot: { readonly domain: DomainRef; readonly wait?: boolean };
  pause: { readonly domain: DomainRef };
  unpause: { readonly domain: DomainRef };
  /** Start relaying the PV console: ConsoleData frames flow both ways on this connection. */
  'console-attach': { readonly domain: DomainRef };
  'xenstore-read': { readonly path: string };
  'xenstore-write': { readonly path: string; readonly value: string };
  /** The subtree under `path`, depth first, as xenstore-ls shows it. */
  'xenstore-ls': { readonly path: string };
  'xenstore-rm': { readonly path: string };
  /** Replace the permissions of `path`: the first entry is the owner (and everyone's default). */
  'xenstore-chmod': { readonly path: string; readonly perms: readonly XsPermission[] };
  /** Watch `path`; each firing comes as an Event on this connection until it closes. */
  'xenstore-watch': { readonly path: string; readonly token: string };
  /** Lifecycle events (of one domain, or of all) come as Events on this connection until it closes. */
  'subscribe-events': { readonly domain?: DomainRef };
  /** Hot-plug a disk into a domain (xl block-attach); the CLI has resolved the xl disk spec. */
  'block-attach': { readonly domain: DomainRef; readonly disk: DiskSpec };
  /**
   * Unplug a disk, named by vdev (xvdb) or devid (51728): the guest is asked to let go and the
   * answer waits for it; a guest that still uses the disk keeps it (an error) unless `force`.
   */
  'block-detach': { readonly domain: DomainRef; readonly device: string; readonly force?: boolean };
  /** The domain's disks with both ends' xenbus states and the backend's counters (xl block-list). */
  'block-list': { readonly domain: DomainRef };
}

export type ControlOp = keyof CommandArgs;
export const CONTROL_OPS = [
  'create',
  'list',
  'info',
  'destroy',
  'shutdown',
  'reboot',
  'pause',
  'unpause',
  'console-attach',
  'xenstore-read',
  'xenstore-write',
  'xenstore-ls',
  'xenstore-rm',
  'xenstore-chmod',
  'xenstore-watch',
  'subscribe-events',
  'block-attach',
  'block-detach',
  'block-list',
] as const satisfies readonly ControlOp[];

/** One command: `{ op: 'pause', domain: 'web' }`. */
export type ControlCommand = { [K in ControlOp]: { readonly op: K } & CommandArgs[K] }[ControlOp];
export type CommandOf<K extends ControlOp> = Extract<ControlCommand, { op: K }>;

/** One line of `list` (xl list). */
export interface DomainSummary {
  readonly domid: number;
  readonly name: string;
  readonly type: DomainType;
  readonly phase: DomainPhase;
  readonly memory: number;
  readonly vcpus: number;
  readonly uuid?: string;
  /** Milliseconds since the domain was created. */
  readonly uptime_ms: number;
  /** Why it stopped, once it is shutdown or crashed. */
  readonly shutdown_reason?: ShutdownReason;
}

export interface HostInfo {
  readonly xlts_version: string;
  /** The Xen version the hypercall ABI reports to guests (XENVER_version). */
  readonly xen_version: string;
  readonly hostname: string;
  readonly nr_cpus: number;
  readonly total_memory_mib: number;
  readonly nr_domains: number;
  /** Whether this host's /dev/kvm can run guests, or they go to the KVM lab. */
  readonly kvm: 'host' | 'lab' | 'none';
  /** XenStore's unix socket: XENSTORED_PATH=<this> xenstore-ls / works (Debian's xenstore-utils). */
  readonly xenstore_socket: string;
  /** This daemon's control socket. */
  readonly control_socket: string;
}

export interface XsNode {
  /** Absolute path. */
  readonly path: string;
  readonly value: string;
}

/** What each command answers with on success. */
export interface CommandResults {
  create: { readonly domid: number; readonly name: string };
  list: { readonly domains: readonly DomainSummary[] };
  info: HostInfo;
  destroy: { readonly domid: number };
  /** The phase the domain is in when the answer is sent (shutdown, crashed or gone when waited for). */
  shutdown: { readonly domid: number; readonly phase: DomainPhase | 'gone' };
  reboot: { readonly domid: number; readonly phase: DomainPhase | 'gone' };
  pause: { readonly domid: number };
  unpause: { readonly domid: number };
  'console-attach': { readonly domid: number; readonly name: string };
  'xenstore-read': { readonly value: string };
  'xenstore-write': Record<never, never>;
  'xenstore-ls': { readonly nodes: readonly XsNode[] };
  'xenstore-rm': Record<never, never>;
  'xenstore-chmod': Record<never, never>;
  'xenstore-watch': Record<never, never>;
  /** The domains as they are when the subscription starts; events follow from there. */
  'subscribe-events': { readonly domains: readonly DomainSummary[] };
  'block-attach': { readonly domid: number; readonly vdev: string; readonly devid: number };
  'block-detach': { readonly domid: number; readonly vdev: string; readonly devid: number; readonly forced: boolean };
  'block-list': { readonly domid: number; readonly devices: readonly BlockDeviceInfo[] };
}

/** Counters of one virtual block device's backend (all its rings together). */
export interface BlockDeviceStats {
  readonly requests: number;
  readonly reads: number;
  readonly writes: number;
  readonly flushes: number;
  readonly discards: number;
  readonly indirect: number;
  readonly bytes_read: number;
  readonly bytes_written: number;
  readonly errors: number;
  /** Times the backend found requests waiting and served them in one go. */
  readonly batches: number;
  readonly max_batch: number;
  /** Event-channel notifications from the frontend, and to it. */
  readonly notifications_in: number;
  readonly notifications_out: number;
}

/** One line of `block-list`. */
export interface BlockDeviceInfo {
  readonly vdev: string;
  readonly devid: number;
  readonly target: string;
  readonly access: 'ro' | 'rw';
  /** XenbusState numbers, as xl block-list shows them (4 = Connected). */
  readonly backend_state: number;
  readonly frontend_state: number;
  readonly stats: BlockDeviceStats;
}

export type ResultOf<K extends ControlOp> = CommandResults[K];

/** Every phase but dying: the one a domain cannot be acted on in any more. */
const ALL_BUT_DYING = DOMAIN_PHASES.filter((p) => p !== 'dying');

/**
 * The phases in which each command aimed at an existing domain is legal. Commands not listed
 * (create, list, info, xenstore, subscribe) do not act on a domain's lifecycle.
 */
export const DOMAIN_COMMAND_PHASES = {
  destroy: ALL_BUT_DYING,
  // A second shutdown of a domain already shutting down is harmless, and lets `-w` wait for it.
  shutdown: ['running', 'shutting-down'],
  reboot: ['running'],
  pause: ['running'],
  unpause: ['paused'],
  'console-attach': ['paused', 'running', 'shutting-down'],
  'block-attach': ['paused', 'running'],
  'block-detach': ['paused', 'running', 'shutting-down'],
  'block-list': ALL_BUT_DYING,
} as const satisfies Partial<Record<ControlOp, readonly DomainPhase[]>>;

export type DomainCommandOp = keyof typeof DOMAIN_COMMAND_PHASES;

export function isDomainCommand(command: ControlCommand): command is CommandOf<DomainCommandOp> {
  return Object.hasOwn(DOMAIN_COMMAND_PHASES, command.op);
}

/** The phases in which `op` may act on a domain, or undefined for commands that are not phase-bound. */
export function legalPhases(op: ControlOp): readonly DomainPhase[] | undefined {
  return Object.hasOwn(DOMAIN_COMMAND_PHASES, op) ? DOMAIN_COMMAND_PHASES[op as DomainCommandOp] : undefined;
}

/** Throws NotAllowedInPhaseError unless `op` is legal for a domain in `phase`. */
export function assertCommandAllowed(op: ControlOp, domid: number, phase: DomainPhase): void {
  const allowed = legalPhases(op);
  if (allowed !== undefined && !allowed.includes(phase)) throw new NotAllowedInPhaseError(op, domid, phase, allowed);
}

/**
 * Reads a domain argument as the CLI gets it: all digits is a domid (domain names never are,
 * see domainNameProblem), anything else a name.
 */
export function parseDomainRef(arg: string): DomainRef {
  return /^[0-9]+$/.test(arg) ? Number(arg) : arg;
}

/** Checks an untrusted value and returns it as a ControlCommand with defaults filled in. */
export function parseCommand(value: unknown): ControlCommand {
  const c = asRecord(value);
  if (c === undefined) throw new BadRequestError('a command must be an object');
  const op = c.op;
  if (typeof op !== 'string' || !(CONTROL_OPS as readonly string[]).includes(op)) {
    throw new BadRequestError(`unknown command ${JSON.stringify(op)} (known: ${CONTROL_OPS.join(', ')})`);
  }
  const r = new ArgReader(c, op as ControlOp);
  switch (op as ControlOp) {
    case 'create': {
      r.only('config', 'paused');
      let config: DomainConfig;
      try {
        config = validateDomainConfig(c.config);
      } catch (err) {
        if (err instanceof DomainConfigError) throw new BadConfigError(err.problems);
        throw err;
      }
      return { op: 'create', config, paused: r.boolean('paused', false) };
    }
    case 'list':
    case 'info':
      r.only();
      return { op: op as 'list' | 'info' };
    case 'destroy':
    case 'pause':
    case 'unpause':
    case 'console-attach':
      r.only('domain');
      return { op: op as 'destroy' | 'pause' | 'unpause' | 'console-attach', domain: r.domain('domain') };
    case 'shutdown':
      r.only('domain', 'reboot', 'wait');
      return { op: 'shutdown', domain: r.domain('domain'), reboot: r.boolean('reboot', false), wait: r.boolean('wait', false) };
    case 'reboot':
      r.only('domain', 'wait');
      return { op: 'reboot', domain: r.domain('domain'), wait: r.boolean('wait', false) };
    case 'xenstore-read':
    case 'xenstore-ls':
    case 'xenstore-rm':
      r.only('path');
      return { op: op as 'xenstore-read' | 'xenstore-ls' | 'xenstore-rm', path: r.path('path') };
    case 'xenstore-write':
      r.only('path', 'value');
      return { op: 'xenstore-write', path: r.path('path'), value: r.xsValue('value') };
    case 'xenstore-chmod':
      r.only('path', 'perms');
      return { op: 'xenstore-chmod', path: r.path('path'), perms: r.perms('perms') };
    case 'xenstore-watch':
      r.only('path', 'token');
      return { op: 'xenstore-watch', path: r.path('path'), token: r.xsValue('token') };
    case 'block-attach': {
      r.only('domain', 'disk');
      let disk: DiskSpec;
      try {
        disk = validateDiskSpec(c.disk);
      } catch (err) {
        if (err instanceof DomainConfigError) throw new BadConfigError(err.problems);
        throw err;
      }
      return { op: 'block-attach', domain: r.domain('domain'), disk };
    }
    case 'block-detach':
      r.only('domain', 'device', 'force');
      return { op: 'block-detach', domain: r.domain('domain'), device: r.xsValue('device'), force: r.boolean('force', false) };
    case 'block-list':
      r.only('domain');
      return { op: 'block-list', domain: r.domain('domain') };
    case 'subscribe-events': {
      r.only('domain');
      return c.domain === undefined ? { op: 'subscribe-events' } : { op: 'subscribe-events', domain: r.domain('domain') };
    }
  }
}

class ArgReader {
  constructor(
    private readonly c: Record<string, unknown>,
    private readonly op: ControlOp,
  ) {}

  private bad(message: string): never {
    throw new BadRequestError(`${this.op}: ${message}`);
  }

  only(...keys: string[]): void {
    for (const k of Object.keys(this.c)) if (k !== 'op' && !keys.includes(k)) this.bad(`unexpected field ${JSON.stringify(k)}`);
  }

  boolean(key: string, dflt: boolean): boolean {
    const v = this.c[key];
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean') this.bad(`${key} must be true or false`);
    return v as boolean;
  }

  domain(key: string): DomainRef {
    const v = this.c[key];
    if (typeof v === 'number') {
      if (!Number.isInteger(v) || v < 0 || v >= DOMID_FIRST_RESERVED) this.bad(`${key}: ${v} is not a domid (0..${DOMID_FIRST_RESERVED - 1})`);
      return v;
    }
    if (typeof v !== 'string' || v === '') this.bad(`${key} must be a domain name or domid`);
    return v as string;
  }

  path(key: string): string {
    const v = this.c[key];
    if (typeof v !== 'string' || v === '') this.bad(`${key} must be a non-empty xenstore path`);
    const s = v as string;
    if (s.includes('\0')) this.bad(`${key} contains a NUL byte`);
    if (Buffer.byteLength(s) > XENSTORE_LIMITS.XENSTORE_ABS_PATH_MAX) this.bad(`${key} is longer than XENSTORE_ABS_PATH_MAX (${XENSTORE_LIMITS.XENSTORE_ABS_PATH_MAX})`);
    return s;
  }

  xsValue(key: string): string {
    const v = this.c[key];
    if (typeof v !== 'string') this.bad(`${key} must be a string`);
    if (Buffer.byteLength(v as string) > XENSTORE_LIMITS.XENSTORE_PAYLOAD_MAX) this.bad(`${key} is longer than XENSTORE_PAYLOAD_MAX (${XENSTORE_LIMITS.XENSTORE_PAYLOAD_MAX})`);
    return v as string;
  }

  perms(key: string): XsPermission[] {
    const v = this.c[key];
    if (!Array.isArray(v) || v.length === 0) this.bad(`${key} must be a non-empty list (the first entry is the owner)`);
    return (v as unknown[]).map((p, i) => {
      const e = asRecord(p);
      if (e === undefined || Object.keys(e).some((k) => k !== 'domid' && k !== 'perm')) this.bad(`${key}[${i}] must be { domid, perm }`);
      const domid = e!.domid;
      const perm = e!.perm;
      if (typeof domid !== 'number' || !Number.isInteger(domid) || domid < 0 || domid >= DOMID_FIRST_RESERVED) this.bad(`${key}[${i}].domid is not a domid`);
      if (perm !== 'n' && perm !== 'r' && perm !== 'w' && perm !== 'b') this.bad(`${key}[${i}].perm must be n, r, w or b`);
      return { domid: domid as number, perm: perm as XsPermission['perm'] };
    });
  }
}
