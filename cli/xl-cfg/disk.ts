// DISKSPEC strings (xl-disk-configuration(5)), in two steps:
// 1. parseDiskSpec() reads the string the way xl does, into everything xl's syntax can say;
// 2. toDiskSpec() keeps what xlts supports and refuses the rest by name, so a config written for
//    xl never half-works here.
//
// The syntax, in short: comma-separated parameters, blanks before each ignored;
// - key=value parameters (format, vdev, access, devtype, backend, backendtype, script,
//   specification, grant_usage, colo-*) and flags (cdrom, discard, no-discard, trusted, untrusted,
//   direct-io-safe, colo, no-colo);
// - `target=` must come last and takes the rest of the string, commas included;
// - anything else is positional and fills target, format, vdev, access in that order, except that
//   after a deprecated prefix (`phy:`, `file:`, `raw:` ...) the format position is skipped, which
//   is what makes the xm-era `file:/img,xvda,w` mean target, vdev, access;
// - a vdev positional may carry `:cdrom` or `:disk` (deprecated devtype);
// - each parameter at most once; an empty value means the default.
import { XlSpecError } from './errors.ts';
import { vdevToDeviceId } from './vdev.ts';
import type { DiskSpec } from '../../dom0/domain-config.ts';

/** What an xl DISKSPEC says, before xlts decides what it supports. Empty strings are defaults. */
export interface XlDiskSpec {
  target?: string;
  format?: string;
  vdev?: string;
  access?: 'ro' | 'rw';
  devtype?: 'disk' | 'cdrom';
  backend?: string;
  backendtype?: string;
  script?: string;
  specification?: string;
  grant_usage?: boolean;
  discard?: boolean;
  trusted?: boolean;
  direct_io_safe?: boolean;
  /** Any colo parameter or flag (COLO block replication), by name. */
  colo: string[];
  /** A deprecated prefix (phy:, file:, tap:, aio: ...) was seen. */
  deprecatedPrefix?: string;
}

const FORMATS = ['raw', 'qcow', 'qcow2', 'vhd', 'qed', 'empty'];
const BACKEND_TYPES = ['phy', 'qdisk', 'standalone', 'tap'];
const SPECIFICATIONS = ['xen', 'virtio'];
/** Prefixes xl strips and ignores. */
const IGNORED_PREFIXES = ['tapdisk', 'tap', 'tap2', 'aio', 'ioemu', 'file', 'phy'];
/** Prefixes naming a format. */
const FORMAT_PREFIXES = ['raw', 'qcow', 'qcow2', 'vhd'];
/** Prefixes naming a block script (block-<name>). */
const SCRIPT_PREFIXES = ['iscsi', 'nbd', 'enbd', 'drbd'];
const KNOWN_PREFIXES = [...IGNORED_PREFIXES, ...FORMAT_PREFIXES, ...SCRIPT_PREFIXES];
const COLO_KEYS = ['colo-host', 'colo-port', 'colo-export', 'active-disk', 'hidden-disk'];

export function parseDiskSpec(spec: string): XlDiskSpec {
  const d: XlDiskSpec = { colo: [] };
  let accessSet = false;
  let i = 0;
  while (i < spec.length) {
    while (i < spec.length && /[ \t\n]/.test(spec[i]!)) i++;
    if (i >= spec.length) break;
    if (spec.startsWith('target=', i)) {
      let rest = spec.slice(i + 'target='.length);
      if (rest.endsWith(',')) rest = rest.slice(0, -1);
      setString(d, 'target', rest);
      break;
    }
    const comma = spec.indexOf(',', i);
    const token = comma < 0 ? spec.slice(i) : spec.slice(i, comma);
    i = comma < 0 ? spec.length : comma + 1;

    const kv = /^([a-z][-a-z0-9_]*)=(.*)$/s.exec(token);
    if (kv) {
      keyValue(d, kv[1]!, kv[2]!);
      if (kv[1] === 'access') accessSet = true;
      continue;
    }
    if (flag(d, token)) continue;
    let positional = token;
    for (;;) {
      // A known prefix counts whatever follows it; an unknown word before a colon is taken for a
      // prefix (and refused) only when no letter or digit follows, so `hdc:cdrom` stays a vdev.
      const known = /^([a-z][a-z0-9]*):/.exec(positional);
      if (!known || !(KNOWN_PREFIXES.includes(known[1]!) || !/^[a-z0-9]/.test(positional.slice(known[0].length)))) break;
      deprecatedPrefix(d, known[1]!);
      positional = positional.slice(known[0].length);
    }
    if (positional.includes('=')) throw new XlSpecError(`${JSON.stringify(token)}: bad disk syntax (an = in a positional parameter; use target= for such paths)`);
    if (d.target === undefined) {
      d.target = positional;
    } else if (d.deprecatedPrefix === undefined && d.format === undefined) {
      // `,hdc:cdrom,r`: xend's empty cdrom, with the vdev where the format would be.
      if (d.target === '' && vdevAndDevtype(d, positional)) d.format = 'empty';
      else setFormat(d, positional);
    } else if (d.vdev === undefined) {
      if (!vdevAndDevtype(d, positional)) d.vdev = positional;
    } else if (!accessSet) {
      accessSet = true;
      setAccess(d, positional);
    } else {
      throw new XlSpecError(`${JSON.stringify(positional)}: too many positional parameters (target, format, vdev, access)`);
    }
  }
  return d;
}

function keyValue(d: XlDiskSpec, key: string, value: string): void {
  switch (key) {
    case 'format':
      return setFormat(d, value);
    case 'vdev':
      return setString(d, 'vdev', value);
    case 'access':
      return setAccess(d, value);
    case 'devtype':
      if (value !== 'cdrom' && value !== 'disk') throw new XlSpecError(`devtype=${value}: unknown (cdrom or disk)`);
      d.devtype = value;
      return;
    case 'backend':
      return setString(d, 'backend', value);
    case 'backendtype':
      if (!BACKEND_TYPES.includes(value)) throw new XlSpecError(`backendtype=${value}: unknown (${BACKEND_TYPES.join(', ')})`);
      return setString(d, 'backendtype', value);
    case 'script':
      return setString(d, 'script', value);
    case 'specification':
      if (!SPECIFICATIONS.includes(value)) throw new XlSpecError(`specification=${value}: unknown (${SPECIFICATIONS.join(', ')})`);
      return setString(d, 'specification', value);
    case 'grant_usage':
      if (value !== '0' && value !== '1') throw new XlSpecError(`grant_usage=${value}: must be 0 or 1`);
      d.grant_usage = value === '1';
      return;
    default:
      if (COLO_KEYS.includes(key)) {
        d.colo.push(key);
        return;
      }
      throw new XlSpecError(`${key}=: unknown disk parameter`);
  }
}

function flag(d: XlDiskSpec, token: string): boolean {
  switch (token) {
    case 'cdrom':
      d.devtype = 'cdrom';
      return true;
    case 'discard':
    case 'no-discard':
      d.discard = token === 'discard';
      return true;
    case 'trusted':
    case 'untrusted':
      d.trusted = token === 'trusted';
      return true;
    case 'direct-io-safe':
      d.direct_io_safe = true;
      return true;
    case 'colo':
    case 'no-colo':
      d.colo.push(token);
      return true;
    default:
      return false;
  }
}

function deprecatedPrefix(d: XlDiskSpec, prefix: string): void {
  if (FORMAT_PREFIXES.includes(prefix)) setFormat(d, prefix);
  else if (SCRIPT_PREFIXES.includes(prefix)) setString(d, 'script', `block-${prefix}`);
  else if (!IGNORED_PREFIXES.includes(prefix)) throw new XlSpecError(`${prefix}: unknown deprecated disk prefix`);
  d.deprecatedPrefix ??= prefix;
}

/** `hdc:cdrom`, the deprecated way to give a devtype with the vdev. */
function vdevAndDevtype(d: XlDiskSpec, token: string): boolean {
  const colon = token.lastIndexOf(':');
  if (colon < 0) return false;
  const type = token.slice(colon + 1);
  if (type !== 'cdrom' && type !== 'disk') throw new XlSpecError(`${JSON.stringify(token)}: unknown deprecated device type ${JSON.stringify(type)} (cdrom or disk)`);
  setString(d, 'vdev', token.slice(0, colon));
  d.devtype = type;
  return true;
}

function setFormat(d: XlDiskSpec, value: string): void {
  const f = value === '' ? 'raw' : value;
  if (!FORMATS.includes(f)) throw new XlSpecError(`format ${JSON.stringify(value)}: unknown (${FORMATS.join(', ')})`);
  if (d.format !== undefined && d.format !== f) throw new XlSpecError(`format respecified (${d.format}, then ${f})`);
  d.format = f;
}

function setAccess(d: XlDiskSpec, value: string): void {
  if (value === 'r' || value === 'ro') d.access = 'ro';
  else if (value === 'w' || value === 'rw') d.access = 'rw';
  else if (value !== '') throw new XlSpecError(`access ${JSON.stringify(value)}: unknown (ro, r, rw or w)`);
}

type StringField = 'target' | 'vdev' | 'backend' | 'backendtype' | 'script' | 'specification';

/** Sets a field once; xl lets a non-empty value replace an empty one, and so do we. */
function setString(d: XlDiskSpec, field: StringField, value: string): void {
  const prev = d[field];
  if (prev !== undefined && prev !== '' && prev !== value) throw new XlSpecError(`${field} respecified (${JSON.stringify(prev)}, then ${JSON.stringify(value)})`);
  d[field] = value;
}

/**
 * Keeps what xlts supports of a parsed DISKSPEC and refuses the rest. `resolveTarget` turns the
 * target into an absolute host path (the mapper resolves relative ones against the cfg's folder).
 */
export function toDiskSpec(d: XlDiskSpec, resolveTarget: (target: string) => string): DiskSpec {
  if (d.colo.length > 0) throw new XlSpecError(`${d.colo[0]}: COLO block replication is not supported by xlts`);
  if (d.script !== undefined && d.script !== '') {
    throw new XlSpecError(`script ${d.script}: xlts runs no hotplug scripts; the target must be an image file or block device`);
  }
  if (d.backend !== undefined && d.backend !== '' && d.backend !== '0' && d.backend !== 'Domain-0') {
    throw new XlSpecError(`backend=${d.backend}: driver domains are not supported; every backend runs in xltsd (domain 0)`);
  }
  if (d.backendtype === 'phy' || d.backendtype === 'tap' || d.backendtype === 'standalone') {
    const why = { phy: 'there is no in-kernel blkback', tap: 'there is no blktap', standalone: 'there is no virtio backend' }[d.backendtype];
    throw new XlSpecError(`backendtype=${d.backendtype}: xlts's block backend runs in userspace, like qdisk, and ${why}`);
  }
  if (d.specification === 'virtio') throw new XlSpecError('specification=virtio: xlts serves Xen PV block devices only');
  if (d.grant_usage !== undefined) throw new XlSpecError('grant_usage: applies to specification=virtio only, which xlts does not support');
  const format = d.format ?? 'raw';
  if (format === 'empty') throw new XlSpecError('an empty cdrom drive is not supported: give it a target');
  if (format !== 'raw') throw new XlSpecError(`format ${format}: xlts serves raw images only (convert with: qemu-img convert -O raw)`);
  if (d.target === undefined || d.target === '') throw new XlSpecError('no target: give the image or block device path (positionally or as target=)');
  if (d.vdev === undefined || d.vdev === '') throw new XlSpecError('no vdev: every disk needs one (xvda, xvdb, ...)');
  const devtype = d.devtype ?? 'disk';
  const access = d.access ?? (devtype === 'cdrom' ? 'ro' : 'rw');
  if (devtype === 'cdrom' && access === 'rw') throw new XlSpecError('a cdrom cannot be read-write');
  return {
    target: resolveTarget(d.target),
    format: 'raw',
    vdev: d.vdev,
    device_id: vdevToDeviceId(d.vdev),
    access,
    devtype,
    discard: d.discard ?? true,
    trusted: d.trusted ?? true,
    direct_io_safe: d.direct_io_safe ?? false,
  };
}
