import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CBuildError, XEN_RING_HEADER, buildCProgram, cCacheDir } from './build.ts';

describe('C build helper', () => {
  let cache: string;
  let saved: string | undefined;

  beforeEach(() => {
    saved = process.env['XLTS_CACHE_DIR'];
    cache = fs.mkdtempSync(path.join(os.tmpdir(), 'xlts-c-cache-'));
    process.env['XLTS_CACHE_DIR'] = cache;
  });

  afterEach(() => {
    if (saved === undefined) delete process.env['XLTS_CACHE_DIR'];
    else process.env['XLTS_CACHE_DIR'] = saved;
    fs.rmSync(cache, { recursive: true, force: true });
  });

  it('says to run scripts/setup.sh when the Xen headers are missing', () => {
    const build = (): string =>
      buildCProgram({ source: 'ring-harness.c', defines: { ENTRY_SIZE: 8 } }, { compiler: 'gcc', xenRingHeader: '/nonexistent/xen/io/ring.h' });
    expect(build).toThrow(CBuildError);
    expect(build).toThrow(/libxen-dev\): run scripts\/setup\.sh/);
  });

  it('says to run scripts/setup.sh when the compiler is missing', () => {
    const build = (): string =>
      buildCProgram({ source: 'ring-harness.c', defines: { ENTRY_SIZE: 8 } }, { compiler: 'xlts-no-such-gcc', xenRingHeader: XEN_RING_HEADER });
    expect(build).toThrow(/xlts-no-such-gcc is not installed: run scripts\/setup\.sh/);
    // A failed build leaves no half-written binary behind.
    expect(fs.existsSync(cCacheDir()) ? fs.readdirSync(cCacheDir()) : []).toEqual([]);
  });

  it('builds into XLTS_CACHE_DIR, once per source and arguments', () => {
    const a = buildCProgram({ source: 'ring-harness.c', defines: { ENTRY_SIZE: 8 } });
    expect(path.dirname(a)).toBe(path.join(cache, 'c'));
    const built = fs.statSync(a).mtimeMs;
    expect(buildCProgram({ source: 'ring-harness.c', defines: { ENTRY_SIZE: 8 } })).toBe(a);
    expect(fs.statSync(a).mtimeMs).toBe(built);
    const b = buildCProgram({ source: 'ring-harness.c', defines: { ENTRY_SIZE: 16 } });
    expect(b).not.toBe(a);
    expect(fs.readdirSync(path.join(cache, 'c')).sort()).toEqual([path.basename(a), path.basename(b)].sort());
  });
});
