import { describe, expect, it } from 'vitest';
import { XENSTORE_LIMITS } from '../../ring-buffer/xs-wire.ts';
import { XenstoreError } from './errors.ts';
import { ancestorsOf, baseName, canonicalize, childPath, isChildOf, parentOf } from './paths.ts';

const errName = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    if (e instanceof XenstoreError) return e.xsdError;
    throw e;
  }
  return '';
};

describe('canonicalize', () => {
  it('keeps absolute paths and prefixes relative ones with /local/domain/<domid>/', () => {
    expect(canonicalize('/a/b', 3, false)).toEqual({ path: '/a/b', relativeBase: '' });
    expect(canonicalize('device/vbd', 3, false)).toEqual({ path: '/local/domain/3/device/vbd', relativeBase: '/local/domain/3/' });
    expect(canonicalize('/', 0, true).path).toBe('/');
  });

  it.each(['', 'a//b', '/a/', '/a b', '/a.b', '/a\0b', '/ä'])('rejects %j with EINVAL', (p) => {
    expect(errName(() => canonicalize(p, 1, false))).toBe('EINVAL');
  });

  it('admits @ paths only where special paths are allowed', () => {
    expect(errName(() => canonicalize('@releaseDomain', 0, true))).toBe('EINVAL');
    expect(canonicalize('@releaseDomain', 0, true, true).path).toBe('@releaseDomain');
  });

  it('checks XENSTORE_ABS_PATH_MAX on the absolute path', () => {
    const max = XENSTORE_LIMITS.XENSTORE_ABS_PATH_MAX;
    expect(canonicalize(`/${'a'.repeat(max - 1)}`, 0, true).path).toHaveLength(max);
    expect(errName(() => canonicalize(`/${'a'.repeat(max)}`, 0, true))).toBe('EINVAL');
  });

  it('checks a relative path once prefixed (XSA-323): REL_PATH_MAX below the domain path', () => {
    const rel = XENSTORE_LIMITS.XENSTORE_REL_PATH_MAX;
    expect(canonicalize('a'.repeat(rel), 7, false).path).toBe(`/local/domain/7/${'a'.repeat(rel)}`);
    expect(errName(() => canonicalize('a'.repeat(rel + 1), 7, false))).toBe('EINVAL');
    // The same length written absolutely is held to the same bound for a guest.
    expect(errName(() => canonicalize(`/local/domain/7/${'a'.repeat(rel + 1)}`, 7, false))).toBe('EINVAL');
  });
});

describe('path helpers', () => {
  it('parent, base name, child', () => {
    expect(parentOf('/a/b/c')).toBe('/a/b');
    expect(parentOf('/a')).toBe('/');
    expect(baseName('/a/b/c')).toBe('c');
    expect(childPath('/', 'x')).toBe('/x');
    expect(childPath('/a', 'x')).toBe('/a/x');
    expect(ancestorsOf('/a/b/c')).toEqual(['/a/b', '/a', '/']);
  });

  it('isChildOf follows xenstore.txt: itself, below, / over every absolute path', () => {
    expect(isChildOf('/a/b', '/a')).toBe(true);
    expect(isChildOf('/a', '/a')).toBe(true);
    expect(isChildOf('/ab', '/a')).toBe(false);
    expect(isChildOf('/a', '/')).toBe(true);
    expect(isChildOf('@releaseDomain', '/')).toBe(false);
    expect(isChildOf('/a', '/a/b')).toBe(false);
  });
});
