// From merged xl.cfg settings to a DomainConfig. Each key is read with the type xl.cfg(5) gives
// it; every problem is collected with its file, line and key, and all are thrown together. Keys
// xlts does not use are warnings (returned, never printed here) and otherwise ignored, so a cfg
// written for xl still loads and says what it lost.
//
// Paths. xl hands kernel, ramdisk and disk targets to libxl as written, so a relative path is
// taken relative to wherever xl runs (and libxl puts /dev in front of a disk target that does not
// start with '/', reading it as a device name). xlts resolves every relative path -- kernel,
// ramdisk, a program path, a disk target -- against the folder of the cfg file, so a cfg and its
// images can move together and `xlts create` works from any directory. A path of the form
// `@<name>/<file>` is a placeholder for something whose location only the CLI knows (the default
// Linux guest lives in a cache keyed by a hash): the caller's `resolvePlaceholder` maps it to an
// absolute path.
import { isAbsolute, resolve } from 'node:path';
import {
  DEFAULT_MAX_GRANT_FRAMES,
  DEFAULT_MEMORY_MIB,
  DEFAULT_SHUTDOWN_POLICY,
  DEFAULT_VCPUS,
  DomainConfigError,
  MAX_GRANT_FRAMES_LIMIT,
  MAX_MEMORY_MIB,
  MAX_VCPUS,
  SHUTDOWN_POLICY_KEYS,
  domainNameProblem,
  unsupportedActionReason,
  validateDomainConfig,
  type DiskSpec,
  type DomainConfig,
  type ShutdownAction,
  type ShutdownPolicyKey,
  type VifSpec,
} from '../../dom0/domain-config.ts';
import { parseDiskSpec, toDiskSpec } from './disk.ts';
import { XlCfgError, XlSpecError, type XlCfgIssue } from './errors.ts';
import { parseXlNumber } from './number.ts';
import type { XlCfgEntry, XlCfgValue } from './parser.ts';
import { parseVifSpec } from './vif.ts';

/** A placeholder path `@<name>/<file>`, and the key it was found under. */
export interface PlaceholderRef {
  readonly name: string;
  readonly file: string;
  readonly key: string;
}

/** Returns the absolute path a placeholder stands for (the CLI may build it first). */
export type PlaceholderResolver = (ref: PlaceholderRef) => string | Promise<string>;

export interface MapOptions {
  /** Names the config in messages about keys it lacks (the cfg path as the user gave it). */
  readonly source: string;
  /** The folder relative paths resolve against: the cfg file's. */
  readonly baseDir: string;
  readonly resolvePlaceholder?: PlaceholderResolver;
}

export interface MappedConfig {
  readonly config: DomainConfig;
  readonly warnings: readonly XlCfgIssue[];
}

/** The keys the mapper reads; everything else draws a warning. */
export const XLTS_CFG_KEYS = [
  'name', 'type', 'builder', 'uuid', 'kernel', 'ramdisk', 'cmdline', 'root', 'extra', 'program',
  'memory', 'maxmem', 'vcpus', 'maxvcpus', ...SHUTDOWN_POLICY_KEYS, 'disk', 'vif', 'max_grant_frames',
] as const;

const PLACEHOLDER_RE = /^@([a-z0-9][a-z0-9-]*)\/(.+)$/;

export async function mapXlCfg(entries: ReadonlyMap<string, XlCfgEntry>, options: MapOptions): Promise<MappedConfig> {
  const m = new Mapper(entries, options);
  return m.run();
}

/** Thrown inside the mapper to abandon one key; the issue is already recorded. */
class KeyAbandoned extends Error {
  override readonly name = 'KeyAbandoned';
}

class Mapper {
  private readonly errors: XlCfgIssue[] = [];
  private readonly warnings: XlCfgIssue[] = [];
  private readonly source: string;

  constructor(
    private readonly entries: ReadonlyMap<string, XlCfgEntry>,
    private readonly options: MapOptions,
  ) {
    this.source = options.source;
  }

  async run(): Promise<MappedConfig> {
    for (const [key, e] of this.entries) {
      if (!(XLTS_CFG_KEYS as readonly string[]).includes(key)) this.warn(e, 'not used by xlts; ignored');
    }
    const name = this.field('name', (e) => {
      const s = this.atom(e);
      const p = domainNameProblem(s);
      if (p !== undefined) this.fail(e, `${JSON.stringify(s)} ${p}`);
      return s;
    });
    if (this.entries.get('builder') !== undefined) {
      this.field('builder', (e) => this.fail(e, 'is deprecated in xl and not read by xlts; use type="pvh" or type="process"'));
    }
    // xl's default on x86 is pv, which xlts does not have; pvh is xl's default on Arm, and ours.
    const type =
      this.field('type', (e) => {
        const s = this.atom(e);
        if (s === 'pvh' || s === 'process') return s;
        if (s === 'pv' || s === 'hvm') this.fail(e, `"${s}" guests are not supported by xlts; use "pvh" (a PVH kernel) or "process" (a TypeScript guest program)`);
        return this.fail(e, `expected "pvh" or "process", got ${JSON.stringify(s)}`);
      }) ?? 'pvh';
    const uuid = this.field('uuid', (e) => this.atom(e));
    const memory = this.field('memory', (e) => this.number(e, 1, MAX_MEMORY_MIB)) ?? DEFAULT_MEMORY_MIB;
    this.field('maxmem', (e) => {
      if (this.number(e, 1, MAX_MEMORY_MIB) !== memory) this.fail(e, 'must equal memory: xlts guests cannot balloon, so they cannot start pre-ballooned');
    });
    const vcpus = this.field('vcpus', (e) => this.number(e, 1, MAX_VCPUS)) ?? DEFAULT_VCPUS;
    this.field('maxvcpus', (e) => {
      if (this.number(e, 1, MAX_VCPUS) !== vcpus) this.fail(e, 'must equal vcpus: xlts brings every vCPU online at boot and has no vCPU hotplug');
    });
    const maxGrantFrames = this.field('max_grant_frames', (e) => this.number(e, 1, MAX_GRANT_FRAMES_LIMIT)) ?? DEFAULT_MAX_GRANT_FRAMES;
    const policy: Record<ShutdownPolicyKey, ShutdownAction> = { ...DEFAULT_SHUTDOWN_POLICY };
    for (const key of SHUTDOWN_POLICY_KEYS) {
      const action = this.field(key, (e) => {
        const s = this.atom(e);
        const reason = unsupportedActionReason(s);
        if (reason !== undefined) this.fail(e, `${JSON.stringify(s)} is not supported: ${reason}`);
        return s as ShutdownAction;
      });
      if (action !== undefined) policy[key] = action;
    }
    const cmdline = this.cmdline();

    let kernel: string | undefined;
    let ramdisk: string | undefined;
    let program: string | undefined;
    if (type === 'pvh') {
      kernel = await this.asyncField('kernel', (e) => this.path(e));
      ramdisk = await this.asyncField('ramdisk', (e) => this.path(e));
      this.field('program', (e) => this.fail(e, `only type="process" runs a program${this.entries.has('type') ? '' : ' (type defaults to "pvh")'}`));
      if (kernel === undefined && !this.entries.has('kernel')) this.missing('kernel', 'required for type="pvh"');
    } else {
      program = await this.asyncField('program', async (e) => {
        const s = this.atom(e);
        return s.includes('/') ? this.path(e) : s;
      });
      this.field('kernel', (e) => this.fail(e, 'not used by type="process" (its CPU is a program, see program=)'));
      this.field('ramdisk', (e) => this.fail(e, 'not used by type="process"'));
      if (program === undefined && !this.entries.has('program')) this.missing('program', 'required for type="process" (a built-in name like "idle", or a path)');
    }
    if (name === undefined && !this.entries.has('name')) this.missing('name', 'every domain needs one');

    const disks = (await this.asyncField('disk', (e) => this.disks(e))) ?? [];
    const vifs = this.field('vif', (e) => this.vifs(e)) ?? [];

    if (this.errors.length > 0) throw new XlCfgError(this.errors);
    const candidate = {
      name,
      type,
      ...(uuid === undefined ? {} : { uuid }),
      memory,
      vcpus,
      cmdline,
      ...policy,
      disks,
      vifs,
      max_grant_frames: maxGrantFrames,
      ...(kernel === undefined ? {} : { kernel }),
      ...(ramdisk === undefined ? {} : { ramdisk }),
      ...(program === undefined ? {} : { program }),
    };
    try {
      return { config: validateDomainConfig(candidate), warnings: this.warnings };
    } catch (err) {
      if (!(err instanceof DomainConfigError)) throw err;
      // What is left are checks across entries (two disks with one vdev): point at the list's key.
      throw new XlCfgError(
        err.problems.map((problem) => {
          const field = /^[a-z_]+/.exec(problem)?.[0] ?? '';
          const key = field === 'disks' ? 'disk' : field === 'vifs' ? 'vif' : field;
          const e = this.entries.get(key);
          return { source: e?.source ?? this.source, line: e?.line, key: undefined, message: problem };
        }),
      );
    }
  }

  /** xl's rule: cmdline wins; otherwise "root=<root> <extra>" from whichever of the two is set. */
  private cmdline(): string {
    const cmdline = this.field('cmdline', (e) => this.atom(e));
    const root = this.field('root', (e) => this.atom(e));
    const extra = this.field('extra', (e) => this.atom(e));
    if (cmdline !== undefined) {
      for (const key of ['root', 'extra']) {
        const e = this.entries.get(key);
        if (e !== undefined) this.warn(e, 'ignored because cmdline is set (xl does the same)');
      }
      return cmdline;
    }
    return [root === undefined ? undefined : `root=${root}`, extra].filter((s) => s !== undefined).join(' ');
  }

  private disks(e: XlCfgEntry): Promise<DiskSpec[]> {
    return Promise.all(
      this.list(e).map(async (item, i) => {
        const spec = this.atomOf(e, item, `disk entry ${i + 1}`);
        try {
          const parsed = parseDiskSpec(spec);
          if (parsed.target !== undefined && parsed.target !== '') parsed.target = await this.resolvePath(e, parsed.target);
          return toDiskSpec(parsed, (t) => t);
        } catch (err) {
          if (err instanceof XlSpecError) this.fail(e, `entry ${i + 1} (${JSON.stringify(spec)}): ${err.message}`);
          throw err;
        }
      }),
    );
  }

  private vifs(e: XlCfgEntry): VifSpec[] {
    return this.list(e).map((item, i) => {
      const spec = this.atomOf(e, item, `vif entry ${i + 1}`);
      try {
        return parseVifSpec(spec, i);
      } catch (err) {
        if (err instanceof XlSpecError) this.fail(e, `entry ${i + 1} (${JSON.stringify(spec)}): ${err.message}`);
        throw err;
      }
    });
  }

  private async path(e: XlCfgEntry): Promise<string> {
    const s = this.atom(e);
    if (s === '') this.fail(e, 'is empty');
    return this.resolvePath(e, s);
  }

  private async resolvePath(e: XlCfgEntry, p: string): Promise<string> {
    const ph = PLACEHOLDER_RE.exec(p);
    if (ph) {
      const resolver = this.options.resolvePlaceholder;
      if (resolver === undefined) this.fail(e, `${JSON.stringify(p)} is a placeholder, and nothing here resolves placeholders`);
      const ref = { name: ph[1]!, file: ph[2]!, key: e.key };
      let out: string;
      try {
        out = await resolver!(ref);
      } catch (err) {
        this.fail(e, `cannot resolve ${p}: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (!isAbsolute(out!)) this.fail(e, `${p} resolved to ${JSON.stringify(out!)}, which is not an absolute path`);
      return out!;
    }
    if (p.startsWith('@')) this.fail(e, `${JSON.stringify(p)} looks like a placeholder but is not @<name>/<file>`);
    return isAbsolute(p) ? p : resolve(this.options.baseDir, p);
  }

  // ---- typed reads of one entry; each failure records an issue and abandons the key ----

  private atom(e: XlCfgEntry): string {
    return this.atomOf(e, e.value, undefined);
  }

  private atomOf(e: XlCfgEntry, v: XlCfgValue, what: string | undefined): string {
    if (v.kind === 'atom') return v.text;
    return this.fail(e, `${what === undefined ? '' : `${what}: `}expected a single value, got a list`);
  }

  private number(e: XlCfgEntry, min: number, max: number): number {
    const text = this.atom(e);
    const n = parseXlNumber(text);
    if (n === undefined) return this.fail(e, `expected a number, got ${JSON.stringify(text)}`);
    if (n < min || n > max) return this.fail(e, `${n} is outside ${min}..${max}`);
    return n;
  }

  private list(e: XlCfgEntry): readonly XlCfgValue[] {
    if (e.value.kind === 'list') return e.value.items;
    return this.fail(e, `expected a list [ '...', ... ], got the single value ${JSON.stringify(e.value.text)}`);
  }

  private field<T>(key: string, read: (e: XlCfgEntry) => T): T | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    try {
      return read(e);
    } catch (err) {
      if (err instanceof KeyAbandoned) return undefined;
      throw err;
    }
  }

  private async asyncField<T>(key: string, read: (e: XlCfgEntry) => Promise<T>): Promise<T | undefined> {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    try {
      return await read(e);
    } catch (err) {
      if (err instanceof KeyAbandoned) return undefined;
      throw err;
    }
  }

  private fail(e: XlCfgEntry, message: string): never {
    this.errors.push({ source: e.source, line: e.line, key: e.key, message });
    throw new KeyAbandoned(message);
  }

  private missing(key: string, message: string): void {
    this.errors.push({ source: this.source, line: undefined, key, message: `missing: ${message}` });
  }

  private warn(e: XlCfgEntry, message: string): void {
    this.warnings.push({ source: e.source, line: e.line, key: e.key, message });
  }
}
