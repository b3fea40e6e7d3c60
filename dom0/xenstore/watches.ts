// Watches of one connection, and how a change maps to the path an event reports.
import { XenstoreError } from './errors.ts';
import { isChildOf } from './paths.ts';
import type { XsChange } from './transaction.ts';

export interface XsWatch {
  /** Canonical watched path (absolute or '@special'). */
  readonly path: string;
  readonly token: string;
  /** Prefix to strip from event paths when the watch was registered with a relative path. */
  readonly relativeBase: string;
}

export class XsWatchList {
  private readonly list: XsWatch[] = [];

  get size(): number {
    return this.list.length;
  }

  all(): readonly XsWatch[] {
    return this.list;
  }

  /** EEXIST when the same path and token are already watched. */
  add(w: XsWatch): void {
    if (this.list.some((x) => x.path === w.path && x.token === w.token)) {
      throw new XenstoreError('EEXIST', `already watching ${w.path} with token ${w.token}`);
    }
    this.list.push(w);
  }

  /** ENOENT when no such watch. */
  remove(path: string, token: string): void {
    const i = this.list.findIndex((x) => x.path === path && x.token === token);
    if (i < 0) throw new XenstoreError('ENOENT', `no watch on ${path} with token ${token}`);
    this.list.splice(i, 1);
  }

  clear(): void {
    this.list.length = 0;
  }
}

/**
 * The path a watch event for `change` carries to watch `w`, or null if the watch does not fire.
 * A change at or below the watched path reports the changed path; the removal of a subtree
 * containing the watched path reports the watched path itself.
 */
export function eventPath(w: XsWatch, change: XsChange): string | null {
  let path: string | null = null;
  if (isChildOf(change.path, w.path)) path = change.path;
  else if (change.recursive && isChildOf(w.path, change.path)) path = w.path;
  if (path === null) return null;
  if (w.relativeBase !== '' && path.startsWith(w.relativeBase)) return path.slice(w.relativeBase.length);
  return path;
}
