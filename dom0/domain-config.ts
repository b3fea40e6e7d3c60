// The domain configuration xltsd acts on: plain data (no classes, no functions, no Maps), so the
// CLI can send it over the control socket in a msgpackr frame and the daemon can keep it to
// restart a domain with on_reboot=restart. Field names are xl.cfg's own keys where xl has one
// (on_poweroff, max_grant_frames, direct_io_safe), so a reader can hold a config against xl.cfg(5).
//
// The CLI's xl.cfg mapper (cli/xl-cfg/) builds one of these from a file; validateDomainConfig is
// the daemon's gate on whatever arrives over the socket, so it checks every field of an `unknown`
// value again rather than trusting that the sender ran the mapper. Paths must be absolute here:
// the daemon's working directory is not the CLI's, so resolving relative paths is the mapper's job.

/** The guest types xlts runs: a Linux (or XTF) kernel on KVM vCPUs, or a TypeScript program. */
export const DOMAIN_TYPES = ['pvh', 'process'] as const;
export type DomainType = (typeof DOMAIN_TYPES)[number];

/** Every action xl.cfg(5) accepts for on_poweroff / on_reboot / on_crash. */
export const XL_SHUTDOWN_ACTIONS = [
  'destroy',
  'restart',
  'rename-restart',
  'preserve',
  'coredump-destroy',
  'coredump-restart',
  'soft-reset',
] as const;
export type XlShutdownAction = (typeof XL_SHUTDOWN_ACTIONS)[number];

/** The subset xltsd carries out. */
export const SHUTDOWN_ACTIONS = ['destroy', 'restart', 'preserve'] as const;
export type ShutdownAction = (typeof SHUTDOWN_ACTIONS)[number];

/** Why each xl action outside SHUTDOWN_ACTIONS is refused, for the error message. */
const UNSUPPORTED_ACTION_REASON: Readonly<Record<Exclude<XlShutdownAction, ShutdownAction>, string>> = {
  'rename-restart': 'xlts does not keep renamed husks of old domains; use restart or preserve',
  'coredump-destroy': 'xlts writes no guest core dumps yet; use destroy or preserve',
  'coredump-restart': 'xlts writes no guest core dumps yet; use restart or preserve',
  'soft-reset': 'soft reset (kexec of a Xen-aware HVM guest) has no meaning for pvh or process guests',
};

/** Disk image formats xl knows; xlts's block backend serves raw images only. */
export const XL_DISK_FORMATS = ['raw', 'qcow', 'qcow2', 'vhd', 'qed', 'empty'] as const;
export type XlDiskFormat = (typeof XL_DISK_FORMATS)[number];

/** The shutdown policy fields, in xl's names. */
export const SHUTDOWN_POLICY_KEYS = ['on_poweroff', 'on_reboot', 'on_crash'] as const;
export type ShutdownPolicyKey = (typeof SHUTDOWN_POLICY_KEYS)[number];

/** xl's defaults (xl.cfg(5), "Event Actions"). */
export const DEFAULT_SHUTDOWN_POLICY: Readonly<Record<ShutdownPolicyKey, ShutdownAction>> = {
  on_poweroff: 'destroy',
  on_reboot: 'restart',
  on_crash: 'destroy',
};

/**
 * One virtual block device. `target` is an absolute host path to a raw image or block device;
 * `device_id` is the xenstore `virtual-device` number computed from `vdev` by the CLI
 * (cli/xl-cfg/vdev.ts: 202<<8 | disk<<4 | partition for small xvd indexes, and so on).
 */
export interface DiskSpec {
  readonly target: string;
  readonly format: 'raw';
  /** The guest's name for the disk, as written in the cfg (xvda, hdc, sdb1, d3p1, or a number). */
  readonly vdev: string;
  /** The `virtual-device` key of the frontend directory; also the devid in xenstore paths. */
  readonly device_id: number;
  /** 'ro' or 'rw' (xl also spells them 'r' and 'w'; the mapper canonicalises). */
  readonly access: 'ro' | 'rw';
  readonly devtype: 'disk' | 'cdrom';
  /** Advertise discard to the frontend (xl's default: yes). */
  readonly discard: boolean;
  /** The frontend may trust its backend (xl's default: yes); written as the frontend's `trusted`. */
  readonly trusted: boolean;
  /** The user asserts O_DIRECT is safe on this target. */
  readonly direct_io_safe: boolean;
}

/** A vif rate limit, as libxl writes it to xenstore: "<bytes>,<usec>" per replenish interval. */
export interface VifRate {
  readonly bytes_per_interval: number;
  readonly interval_usecs: number;
}

/** One virtual network interface. Absent optional fields take the daemon's defaults. */
export interface VifSpec {
  /** The position in the vif list unless `devid=` says otherwise. */
  readonly devid: number;
  /** Lower-case, colon separated; absent means the daemon picks one (xl: random in 00:16:3e). */
  readonly mac?: string;
  readonly bridge?: string;
  readonly ip?: string;
  readonly model?: string;
  readonly vifname?: string;
  readonly gatewaydev?: string;
  readonly rate?: VifRate;
  readonly mtu?: number;
  readonly trusted: boolean;
}

interface CommonDomainConfig {
  /** Unique on the host; never all digits, so a control command's `domain` is unambiguous. */
  readonly name: string;
  readonly uuid?: string;
  /** The guest's RAM in MiB. */
  readonly memory: number;
  readonly vcpus: number;
  /**
   * The kernel command line (pvh), or the argument string handed to the program (process).
   * xl's `root` and `extra` are folded in by the mapper, never stored separately.
   */
  readonly cmdline: string;
  readonly on_poweroff: ShutdownAction;
  readonly on_reboot: ShutdownAction;
  readonly on_crash: ShutdownAction;
  readonly disks: readonly DiskSpec[];
  readonly vifs: readonly VifSpec[];
  /** Grant-table frames the guest may set up (xl's max_grant_frames). */
  readonly max_grant_frames: number;
}

export interface PvhDomainConfig extends CommonDomainConfig {
  readonly type: 'pvh';
  /** Absolute path of the ELF kernel with a XEN_ELFNOTE_PHYS32_ENTRY note. */
  readonly kernel: string;
  readonly ramdisk?: string;
}

export interface ProcessDomainConfig extends CommonDomainConfig {
  readonly type: 'process';
  /** A built-in program name ('idle'), or an absolute path to a module exporting a guest program. */
  readonly program: string;
}

export type DomainConfig = PvhDomainConfig | ProcessDomainConfig;

export const DEFAULT_MEMORY_MIB = 128;
export const DEFAULT_VCPUS = 1;
export const DEFAULT_MAX_GRANT_FRAMES = 64;
/** HVM_MAX_VCPUS in Xen's public headers: what a PVH domain can be given. */
export const MAX_VCPUS = 128;
/** A host-sized ceiling that catches unit mistakes (memory=536870912 meant as bytes). */
export const MAX_MEMORY_MIB = 1 << 20;
/** Well above any real use; a guest with more is a typo or an attempt to exhaust the host. */
export const MAX_GRANT_FRAMES_LIMIT = 4096;
export const MAX_DOMAIN_NAME_LENGTH = 64;
/** The `virtual-device` numbers below 2<<28 are assigned (xen-vbd-interface(7)); above is reserved. */
export const VBD_DEVICE_ID_LIMIT = 2 << 28;
/** Dom0's name in xl; no guest may take it. */
export const DOM0_NAME = 'Domain-0';

/** The configuration is not one xltsd can run; `problems` lists every reason found. */
export class DomainConfigError extends Error {
  override readonly name = 'DomainConfigError';
  constructor(readonly problems: readonly string[]) {
    super(problems.length === 1 ? `bad domain config: ${problems[0]}` : `bad domain config:\n  ${problems.join('\n  ')}`);
  }
}

/** Why xl's action is refused, or undefined when xlts supports it. */
export function unsupportedActionReason(action: string): string | undefined {
  if ((SHUTDOWN_ACTIONS as readonly string[]).includes(action)) return undefined;
  if ((XL_SHUTDOWN_ACTIONS as readonly string[]).includes(action)) {
    return UNSUPPORTED_ACTION_REASON[action as Exclude<XlShutdownAction, ShutdownAction>];
  }
  return `not an xl action (one of ${XL_SHUTDOWN_ACTIONS.join(', ')})`;
}

/** Whether `name` can name a guest; returns the reason it cannot, or undefined. */
export function domainNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (name.length > MAX_DOMAIN_NAME_LENGTH) return `is longer than ${MAX_DOMAIN_NAME_LENGTH} characters`;
  // The control API and the CLI take "a name or a domid" wherever a domain is named.
  if (/^[0-9]+$/.test(name)) return 'is all digits, which would read as a domid';
  // Printable ASCII without blanks or '/': the name is written to xenstore and typed in shells.
  if (!/^[\x21-\x7e]+$/.test(name) || name.includes('/')) return "may hold only printable ASCII without spaces or '/'";
  if (name === DOM0_NAME) return `is ${DOM0_NAME}'s`;
  return undefined;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
/** A program name: a word without '/', so it cannot be mistaken for a path. */
const BUILTIN_PROGRAM_RE = /^[a-z][a-z0-9-]*$/;

export interface ValidateOptions {
  /**
   * The built-in process-guest programs the caller knows; when given, a `program` without a '/'
   * must be one of them. The daemon passes its registry; the CLI may not know it and omits it.
   */
  readonly builtinPrograms?: readonly string[];
}

/**
 * Checks an untrusted value field by field and returns it as a DomainConfig (a fresh object with
 * only the known fields). Throws DomainConfigError listing every problem found, not just the first.
 */
export function validateDomainConfig(value: unknown, options: ValidateOptions = {}): DomainConfig {
  const problems: string[] = [];
  const v = new FieldReader(value, '', problems);
  if (!v.isObject) throw new DomainConfigError(['a domain config must be an object']);
  v.onlyKnown(TOP_LEVEL_KEYS);

  const name = v.string('name');
  if (name !== undefined) {
    const p = domainNameProblem(name);
    if (p !== undefined) problems.push(`name: ${JSON.stringify(name)} ${p}`);
  }
  const type = v.oneOf('type', DOMAIN_TYPES);
  const uuid = v.optionalString('uuid');
  if (uuid !== undefined && !UUID_RE.test(uuid)) problems.push(`uuid: ${JSON.stringify(uuid)} is not a UUID (8-4-4-4-12 hex digits)`);
  const memory = v.integer('memory', 1, MAX_MEMORY_MIB);
  const vcpus = v.integer('vcpus', 1, MAX_VCPUS);
  const cmdline = v.string('cmdline');
  const policy: Partial<Record<ShutdownPolicyKey, ShutdownAction>> = {};
  for (const key of SHUTDOWN_POLICY_KEYS) {
    const action = v.string(key);
    if (action === undefined) continue;
    const reason = unsupportedActionReason(action);
    if (reason !== undefined) problems.push(`${key}: ${JSON.stringify(action)} is not supported: ${reason}`);
    else policy[key] = action as ShutdownAction;
  }
  const maxGrantFrames = v.integer('max_grant_frames', 1, MAX_GRANT_FRAMES_LIMIT);
  const disks = v.list('disks', (item, path) => readDisk(item, path, problems));
  const vifs = v.list('vifs', (item, path) => readVif(item, path, problems));
  // One check covers both a repeated vdev and two spellings of one disk (xvda and d0).
  const vdevById = new Map<number, string>();
  for (const d of disks) {
    const other = vdevById.get(d.device_id);
    if (other !== undefined) problems.push(`disks: ${other} and ${d.vdev} are the same disk (virtual-device ${d.device_id})`);
    vdevById.set(d.device_id, d.vdev);
  }
  checkUnique(problems, 'vifs', vifs, (f) => String(f.devid), 'devid');
  checkUnique(problems, 'vifs', vifs.filter((f) => f.mac !== undefined), (f) => f.mac ?? '', 'mac');

  let kernel: string | undefined;
  let ramdisk: string | undefined;
  let program: string | undefined;
  if (type === 'pvh') {
    kernel = v.absolutePath('kernel');
    ramdisk = v.optionalAbsolutePath('ramdisk');
    v.absent('program', 'only type "process" runs a program');
  } else if (type === 'process') {
    program = v.string('program');
    if (program !== undefined) {
      if (program.includes('/')) {
        if (!program.startsWith('/')) problems.push(`program: ${JSON.stringify(program)} must be an absolute path or a built-in name`);
      } else if (!BUILTIN_PROGRAM_RE.test(program)) {
        problems.push(`program: ${JSON.stringify(program)} is neither a path nor a built-in program name`);
      } else if (options.builtinPrograms !== undefined && !options.builtinPrograms.includes(program)) {
        problems.push(`program: no built-in program ${JSON.stringify(program)} (known: ${options.builtinPrograms.join(', ') || 'none'})`);
      }
    }
    v.absent('kernel', 'a process guest has no kernel');
    v.absent('ramdisk', 'a process guest has no ramdisk');
  }
  if (problems.length > 0) throw new DomainConfigError(problems);

  // Every field was checked above; an undefined here would have left a problem behind.
  const common = {
    name: name!,
    ...(uuid === undefined ? {} : { uuid: uuid.toLowerCase() }),
    memory: memory!,
    vcpus: vcpus!,
    cmdline: cmdline!,
    on_poweroff: policy.on_poweroff!,
    on_reboot: policy.on_reboot!,
    on_crash: policy.on_crash!,
    disks,
    vifs,
    max_grant_frames: maxGrantFrames!,
  };
  if (type === 'pvh') return { type, ...common, kernel: kernel!, ...(ramdisk === undefined ? {} : { ramdisk }) };
  return { type: 'process', ...common, program: program! };
}

/** Checks one untrusted disk (a hot-plugged one: `xlts block-attach`) as a config's `disks[i]` is checked. */
export function validateDiskSpec(value: unknown): DiskSpec {
  const problems: string[] = [];
  const disk = readDisk(value, 'disk', problems);
  if (disk === undefined || problems.length > 0) throw new DomainConfigError(problems.length > 0 ? problems : ['disk: not a disk']);
  return disk;
}

function readDisk(item: unknown, path: string, problems: string[]): DiskSpec | undefined {
  const d = new FieldReader(item, path, problems);
  if (!d.isObject) {
    problems.push(`${path}: must be an object`);
    return undefined;
  }
  const before = problems.length;
  d.onlyKnown(['target', 'format', 'vdev', 'device_id', 'access', 'devtype', 'discard', 'trusted', 'direct_io_safe']);
  const target = d.absolutePath('target');
  const format = d.string('format');
  if (format !== undefined && format !== 'raw') problems.push(`${path}.format: ${JSON.stringify(format)} is not supported: xlts serves raw images only`);
  const vdev = d.string('vdev');
  if (vdev === '') problems.push(`${path}.vdev: is empty`);
  const deviceId = d.integer('device_id', 1, VBD_DEVICE_ID_LIMIT - 1);
  const access = d.oneOf('access', ['ro', 'rw'] as const);
  const devtype = d.oneOf('devtype', ['disk', 'cdrom'] as const);
  if (devtype === 'cdrom' && access === 'rw') problems.push(`${path}.access: a cdrom is read-only`);
  const discard = d.boolean('discard');
  const trusted = d.boolean('trusted');
  const directIoSafe = d.boolean('direct_io_safe');
  if (problems.length > before) return undefined;
  return {
    target: target!,
    format: 'raw',
    vdev: vdev!,
    device_id: deviceId!,
    access: access!,
    devtype: devtype!,
    discard: discard!,
    trusted: trusted!,
    direct_io_safe: directIoSafe!,
  };
}

function readVif(item: unknown, path: string, problems: string[]): VifSpec | undefined {
  const f = new FieldReader(item, path, problems);
  if (!f.isObject) {
    problems.push(`${path}: must be an object`);
    return undefined;
  }
  const before = problems.length;
  f.onlyKnown(['devid', 'mac', 'bridge', 'ip', 'model', 'vifname', 'gatewaydev', 'rate', 'mtu', 'trusted']);
  const devid = f.integer('devid', 0, 0xffff);
  const mac = f.optionalString('mac');
  if (mac !== undefined) {
    const p = macProblem(mac);
    if (p !== undefined) problems.push(`${path}.mac: ${JSON.stringify(mac)} ${p}`);
  }
  const strings: Partial<Record<'bridge' | 'ip' | 'model' | 'vifname' | 'gatewaydev', string>> = {};
  for (const key of ['bridge', 'ip', 'model', 'vifname', 'gatewaydev'] as const) {
    const s = f.optionalString(key);
    if (s !== undefined) strings[key] = s;
  }
  // A Linux interface name is at most IFNAMSIZ-1 = 15 bytes.
  if (strings.vifname !== undefined && !/^[A-Za-z0-9_.-]{1,15}$/.test(strings.vifname)) {
    problems.push(`${path}.vifname: ${JSON.stringify(strings.vifname)} is not a network interface name (1-15 of A-Z a-z 0-9 _ . -)`);
  }
  let rate: VifRate | undefined;
  const rawRate = f.optionalObject('rate');
  if (rawRate !== undefined) {
    const r = new FieldReader(rawRate, `${path}.rate`, problems);
    const bytes = r.integer('bytes_per_interval', 0, Number.MAX_SAFE_INTEGER);
    const usecs = r.integer('interval_usecs', 1, 0xffffffff);
    if (bytes !== undefined && usecs !== undefined) rate = { bytes_per_interval: bytes, interval_usecs: usecs };
  }
  // 68 is IPv4's minimum MTU; 65535 the largest an IP packet can be.
  const mtu = f.optionalInteger('mtu', 68, 65535);
  const trusted = f.boolean('trusted');
  if (problems.length > before) return undefined;
  return {
    devid: devid!,
    ...(mac === undefined ? {} : { mac: mac.toLowerCase() }),
    ...strings,
    ...(rate === undefined ? {} : { rate }),
    ...(mtu === undefined ? {} : { mtu }),
    trusted: trusted!,
  };
}

/** Why `mac` is not a usable unicast MAC address, or undefined when it is. */
export function macProblem(mac: string): string | undefined {
  if (!MAC_RE.test(mac.toLowerCase())) return 'is not a MAC address (six hex octets separated by colons)';
  // Bit 0 of the first octet marks a group address: no NIC may own one.
  if ((parseInt(mac.slice(0, 2), 16) & 1) !== 0) return 'is a multicast address, which no interface can have';
  return undefined;
}

function checkUnique<T>(problems: string[], list: string, items: readonly T[], key: (item: T) => string, what: string): void {
  const seen = new Set<string>();
  for (const item of items) {
    const k = key(item);
    if (seen.has(k)) problems.push(`${list}: two entries have ${what} ${k}`);
    seen.add(k);
  }
}

const TOP_LEVEL_KEYS = [
  'name', 'type', 'uuid', 'memory', 'vcpus', 'cmdline', ...SHUTDOWN_POLICY_KEYS, 'disks', 'vifs',
  'max_grant_frames', 'kernel', 'ramdisk', 'program',
] as const;

/** Reads typed fields of an untrusted object, recording a problem for each bad one. */
class FieldReader {
  private readonly obj: Record<string, unknown> | undefined;

  constructor(
    value: unknown,
    private readonly path: string,
    private readonly problems: string[],
  ) {
    this.obj = typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array) ? (value as Record<string, unknown>) : undefined;
  }

  get isObject(): boolean {
    return this.obj !== undefined;
  }

  private where(key: string): string {
    return this.path === '' ? key : `${this.path}.${key}`;
  }

  private raw(key: string): unknown {
    return this.obj !== undefined && Object.hasOwn(this.obj, key) ? this.obj[key] : undefined;
  }

  private bad(key: string, what: string): undefined {
    this.problems.push(`${this.where(key)}: ${what}`);
    return undefined;
  }

  string(key: string): string | undefined {
    const x = this.raw(key);
    if (x === undefined) return this.bad(key, 'is missing');
    if (typeof x !== 'string') return this.bad(key, `must be a string, got ${describe(x)}`);
    return x;
  }

  optionalString(key: string): string | undefined {
    return this.raw(key) === undefined ? undefined : this.string(key);
  }

  oneOf<const T extends readonly string[]>(key: string, allowed: T): T[number] | undefined {
    const s = this.string(key);
    if (s === undefined) return undefined;
    if (!allowed.includes(s)) return this.bad(key, `${JSON.stringify(s)} is not one of ${allowed.join(', ')}`);
    return s;
  }

  integer(key: string, min: number, max: number): number | undefined {
    const x = this.raw(key);
    if (x === undefined) return this.bad(key, 'is missing');
    if (typeof x !== 'number' || !Number.isInteger(x)) return this.bad(key, `must be an integer, got ${describe(x)}`);
    if (x < min || x > max) return this.bad(key, `${x} is outside ${min}..${max}`);
    return x;
  }

  optionalInteger(key: string, min: number, max: number): number | undefined {
    return this.raw(key) === undefined ? undefined : this.integer(key, min, max);
  }

  boolean(key: string): boolean | undefined {
    const x = this.raw(key);
    if (x === undefined) return this.bad(key, 'is missing');
    if (typeof x !== 'boolean') return this.bad(key, `must be true or false, got ${describe(x)}`);
    return x;
  }

  absolutePath(key: string): string | undefined {
    const s = this.string(key);
    if (s === undefined) return undefined;
    if (!s.startsWith('/')) return this.bad(key, `${JSON.stringify(s)} must be an absolute path`);
    if (s.includes('\0')) return this.bad(key, 'contains a NUL byte');
    return s;
  }

  optionalAbsolutePath(key: string): string | undefined {
    return this.raw(key) === undefined ? undefined : this.absolutePath(key);
  }

  optionalObject(key: string): unknown {
    const x = this.raw(key);
    if (x === undefined) return undefined;
    if (typeof x !== 'object' || x === null || Array.isArray(x)) return this.bad(key, `must be an object, got ${describe(x)}`);
    return x;
  }

  list<T>(key: string, read: (item: unknown, path: string) => T | undefined): T[] {
    const x = this.raw(key);
    if (x === undefined) {
      this.bad(key, 'is missing');
      return [];
    }
    if (!Array.isArray(x)) {
      this.bad(key, `must be a list, got ${describe(x)}`);
      return [];
    }
    const out: T[] = [];
    x.forEach((item: unknown, i) => {
      const r = read(item, `${this.where(key)}[${i}]`);
      if (r !== undefined) out.push(r);
    });
    return out;
  }

  /** A field we do not know is a sender's bug (a misspelt key), not something to drop silently. */
  onlyKnown(keys: readonly string[]): void {
    for (const key of Object.keys(this.obj ?? {})) if (!keys.includes(key)) this.bad(key, 'is not a known field');
  }

  absent(key: string, why: string): void {
    if (this.raw(key) !== undefined) this.bad(key, `must not be set: ${why}`);
  }
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'a list';
  if (typeof x === 'string') return JSON.stringify(x);
  if (typeof x === 'number' || typeof x === 'boolean' || typeof x === 'bigint') return String(x);
  return `a ${typeof x}`;
}
