// Path rules (docs/misc/xenstore.txt): absolute paths start with '/', relative ones are taken
// under the caller's /local/domain/<domid>, '@' names a special watch path. Only ASCII
// alphanumerics and '-/_@' are allowed, no doubled or trailing '/' except the root. Lengths are
// checked on the canonical (absolute) path, so a relative path cannot grow past the limit once
// its prefix is added (XSA-323).
import { XENSTORE_LIMITS } from '../../ring-buffer/xs-wire.ts';
import { XenstoreError } from './errors.ts';

export const XS_SPECIAL_INTRODUCE = '@introduceDomain';
export const XS_SPECIAL_RELEASE = '@releaseDomain';
export const XS_SPECIAL_PATHS = [XS_SPECIAL_INTRODUCE, XS_SPECIAL_RELEASE] as const;
export type XsSpecialPath = (typeof XS_SPECIAL_PATHS)[number];

const ALLOWED = /^[A-Za-z0-9\-/_@]*$/;

/** /local/domain/<domid>: the base of a domain's relative paths. */
export function domainPath(domid: number): string {
  return `/local/domain/${domid}`;
}

/** A path as the store uses it, and how the client spelled it (for watch events). */
export interface CanonicalPath {
  /** Absolute path, or a special '@' path. */
  readonly path: string;
  /** The prefix (with its trailing '/') that was added to a relative path; '' otherwise. */
  readonly relativeBase: string;
}

/**
 * Validates a client path and makes it absolute. `allowSpecial` admits '@' paths (WATCH and
 * UNWATCH, and the permission ops on special nodes). `privileged` callers are held to the
 * absolute limit only; others also to XENSTORE_REL_PATH_MAX below their own domain path.
 */
export function canonicalize(raw: string, domid: number, privileged: boolean, allowSpecial = false): CanonicalPath {
  if (raw.length === 0) throw new XenstoreError('EINVAL', 'empty path');
  if (raw.startsWith('@')) {
    if (!allowSpecial) throw new XenstoreError('EINVAL', `special path ${raw} not allowed here`);
    // Any syntax may follow '@', but it must still be printable path characters.
    if (!ALLOWED.test(raw) || raw.length > XENSTORE_LIMITS.XENSTORE_ABS_PATH_MAX) {
      throw new XenstoreError('EINVAL', 'malformed special path');
    }
    return { path: raw, relativeBase: '' };
  }
  const relative = !raw.startsWith('/');
  const base = relative ? `${domainPath(domid)}/` : '';
  const path = base + raw;
  checkAbsolute(path);
  if (!privileged && path.length > domainPath(domid).length + 1 + XENSTORE_LIMITS.XENSTORE_REL_PATH_MAX) {
    throw new XenstoreError('EINVAL', `path longer than ${XENSTORE_LIMITS.XENSTORE_REL_PATH_MAX} below the domain path`);
  }
  return { path, relativeBase: base };
}

function checkAbsolute(path: string): void {
  if (path.length > XENSTORE_LIMITS.XENSTORE_ABS_PATH_MAX) {
    throw new XenstoreError('EINVAL', `path longer than ${XENSTORE_LIMITS.XENSTORE_ABS_PATH_MAX}`);
  }
  if (!ALLOWED.test(path)) throw new XenstoreError('EINVAL', 'path has characters outside [A-Za-z0-9-/_@]');
  if (path === '/') return;
  if (path.endsWith('/')) throw new XenstoreError('EINVAL', 'trailing /');
  if (path.includes('//')) throw new XenstoreError('EINVAL', 'doubled /');
}

/** The parent of an absolute path other than '/'. */
export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** The last component of an absolute path other than '/'. */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** The absolute path of child `name` under `parent`. */
export function childPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}

/**
 * xenstore.txt's "child": `child` is `parent` itself or lies below it. '/' is the parent of
 * every absolute path but of no special path.
 */
export function isChildOf(child: string, parent: string): boolean {
  if (child === parent) return true;
  if (parent === '/') return child.startsWith('/');
  return child.startsWith(parent) && child.charCodeAt(parent.length) === 0x2f;
}

/** Every proper ancestor of an absolute path, nearest first, ending with '/'. */
export function ancestorsOf(path: string): string[] {
  const out: string[] = [];
  let p = path;
  while (p !== '/') {
    p = parentOf(p);
    out.push(p);
  }
  return out;
}
