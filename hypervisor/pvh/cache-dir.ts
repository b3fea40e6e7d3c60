// The per-user cache for derived artifacts (extracted kernels, built test guests). Nothing here is
// a source of truth: every entry is keyed by a hash of what it was made from, written under a
// temporary name and renamed into place, so concurrent makers and interrupted runs are harmless.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';

/** `$XLTS_CACHE_DIR`, else `~/.cache/xlts`. */
export function xltsCacheDir(): string {
  const fromEnv = process.env['XLTS_CACHE_DIR'];
  return fromEnv && fromEnv.length > 0 ? fromEnv : path.join(os.homedir(), '.cache', 'xlts');
}

/** Writes `data` to `file` atomically: a reader sees the old file, no file, or the whole new one. */
export async function writeFileAtomic(file: string, data: Uint8Array): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await fs.writeFile(tmp, data);
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}
