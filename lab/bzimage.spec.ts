// locateBzImagePayload against synthetic setup headers, and extractVmlinux end to end on a
// fake bzImage whose payload is a compressed fake ELF.
import { spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { locateBzImagePayload } from './bzimage.ts';
import { LabImageError } from './errors.ts';
import { extractVmlinux } from './lab-image.ts';
import { findOnPath } from './tools.ts';

/** A minimal ELF64 x86-64 header followed by some bytes: what extractVmlinux must produce. */
function fakeElf(): Buffer {
  const elf = Buffer.alloc(256, 0x90);
  elf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  elf.writeUInt16LE(0x3e, 18);
  return elf;
}

/** A bzImage: setupSects+1 sectors of setup, then the payload at payloadOffset of the pm code. */
function fakeBzImage(payload: Uint8Array, opts: { setupSects?: number; protocol?: number; payloadOffset?: number } = {}): Buffer {
  const setupSects = opts.setupSects ?? 3;
  const payloadOffset = opts.payloadOffset ?? 0x100;
  const start = ((setupSects || 4) + 1) * 512 + payloadOffset;
  const image = Buffer.alloc(start + payload.length + 64);
  image.writeUInt8(setupSects, 0x1f1);
  image.write('HdrS', 0x202, 'latin1');
  image.writeUInt16LE(opts.protocol ?? 0x020f, 0x206);
  image.writeUInt32LE(payloadOffset, 0x248);
  image.writeUInt32LE(payload.length, 0x24c);
  image.set(payload, start);
  return image;
}

describe('locateBzImagePayload', () => {
  it('finds the payload after the setup sectors, with its format', () => {
    const payload = gzipSync(fakeElf());
    const found = locateBzImagePayload(fakeBzImage(payload));
    expect(found).toEqual({ offset: 4 * 512 + 0x100, length: payload.length, format: 'gzip', protocol: 0x020f });
  });

  it('reads setup_sects 0 as 4', () => {
    const found = locateBzImagePayload(fakeBzImage(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0, 1, 2]), { setupSects: 0 }));
    expect(found.offset).toBe(5 * 512 + 0x100);
    expect(found.format).toBe('xz');
  });

  it('refuses what is not a bzImage, an old protocol, or a payload outside the file', () => {
    expect(() => locateBzImagePayload(Buffer.alloc(100))).toThrow(LabImageError);
    expect(() => locateBzImagePayload(Buffer.alloc(4096))).toThrow(/HdrS/);
    expect(() => locateBzImagePayload(fakeBzImage(Buffer.alloc(8), { protocol: 0x0206 }))).toThrow(/2\.08/);
    const truncated = fakeBzImage(Buffer.alloc(8));
    truncated.writeUInt32LE(1 << 30, 0x24c);
    expect(() => locateBzImagePayload(truncated)).toThrow(/outside/);
  });
});

describe('extractVmlinux', () => {
  it('decompresses a gzip payload to the ELF', async () => {
    expect(await extractVmlinux(fakeBzImage(gzipSync(fakeElf())))).toEqual(fakeElf());
  });

  it.skipIf(findOnPath('xz') === undefined)('decompresses an xz payload (with the trailing size word) through xz', async () => {
    const xz = spawnSync('xz', ['--format=xz', '--check=crc32', '-c'], { input: fakeElf() });
    const withSize = Buffer.concat([xz.stdout, Buffer.from([0, 1, 0, 0])]);
    expect(await extractVmlinux(fakeBzImage(withSize))).toEqual(fakeElf());
  });

  it('refuses a payload that is not an ELF', async () => {
    await expect(extractVmlinux(fakeBzImage(gzipSync(Buffer.alloc(64))))).rejects.toThrow(/ELF/);
  });
});
