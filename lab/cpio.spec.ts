// buildCpio: parsed back field by field, and (when cpio(1) is installed) listed by GNU cpio.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { buildCpio, type CpioEntry } from './cpio.ts';
import { findOnPath } from './tools.ts';

interface Parsed {
  name: string;
  mode: number;
  size: number;
  rdevmajor: number;
  rdevminor: number;
  data: Buffer;
}

/** A newc reader, independent of the writer's code, for the round trip. */
function parseNewc(archive: Buffer): Parsed[] {
  const out: Parsed[] = [];
  let at = 0;
  const align = (n: number): number => (n + 3) & ~3;
  for (;;) {
    expect(archive.toString('ascii', at, at + 6)).toBe('070701');
    const field = (i: number): number => parseInt(archive.toString('ascii', at + 6 + i * 8, at + 14 + i * 8), 16);
    const namesize = field(11);
    const size = field(6);
    const name = archive.toString('utf8', at + 110, at + 110 + namesize - 1);
    const dataAt = align(at + 110 + namesize);
    const entry = { name, mode: field(1), size, rdevmajor: field(9), rdevminor: field(10), data: archive.subarray(dataAt, dataAt + size) };
    at = align(dataAt + size);
    if (name === 'TRAILER!!!') break;
    out.push(entry);
  }
  expect(at).toBe(archive.length);
  return out;
}

const ENTRIES: CpioEntry[] = [
  { kind: 'dir', path: 'bin' },
  { kind: 'dir', path: '/dev' },
  { kind: 'chardev', path: 'dev/console', major: 5, minor: 1 },
  { kind: 'file', path: 'bin/busybox', data: Buffer.from('abcde'), mode: 0o755 },
  { kind: 'symlink', path: 'bin/sh', target: 'busybox' },
  { kind: 'file', path: 'init', data: Buffer.from('#!/bin/sh\n') },
];

describe('buildCpio', () => {
  it('writes each entry with its type, mode, device numbers and 4-byte alignment', () => {
    const parsed = parseNewc(buildCpio(ENTRIES));
    expect(parsed.map((p) => [p.name, p.mode.toString(8)])).toEqual([
      ['bin', '40755'],
      ['dev', '40755'],
      ['dev/console', '20600'],
      ['bin/busybox', '100755'],
      ['bin/sh', '120777'],
      ['init', '100644'],
    ]);
    expect(parsed[2]).toMatchObject({ rdevmajor: 5, rdevminor: 1, size: 0 });
    expect(parsed[3]?.data.toString()).toBe('abcde');
    expect(parsed[4]?.data.toString()).toBe('busybox');
  });

  it('is deterministic', () => {
    expect(buildCpio(ENTRIES).equals(buildCpio(ENTRIES))).toBe(true);
  });

  it('refuses paths that climb out of the archive', () => {
    expect(() => buildCpio([{ kind: 'dir', path: '../etc' }])).toThrow(RangeError);
    expect(() => buildCpio([{ kind: 'dir', path: '/' }])).toThrow(RangeError);
  });

  it.skipIf(findOnPath('cpio') === undefined)('is read by GNU cpio', () => {
    const listed = spawnSync('cpio', ['-t', '--quiet'], { input: buildCpio(ENTRIES) });
    expect(listed.status).toBe(0);
    expect(listed.stdout.toString().trim().split('\n')).toEqual(['bin', 'dev', 'dev/console', 'bin/busybox', 'bin/sh', 'init']);
  });
});
