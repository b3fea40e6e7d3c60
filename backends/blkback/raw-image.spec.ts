import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ImageError, RawImage } from './raw-image.ts';

let dir: string;
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function image(bytes: number, fill = 0x11): string {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raw-image-'));
  const p = path.join(dir, 'd.img');
  fs.writeFileSync(p, Buffer.alloc(bytes, fill));
  return p;
}

describe('RawImage', () => {
  it('reads, writes, flushes and punches holes that read back as zeros', () => {
    const p = image(64 * 1024);
    const img = new RawImage(p, false);
    expect(img.size).toBe(64 * 1024);
    img.write(4096, Buffer.alloc(512, 0xab));
    img.flush();
    const back = new Uint8Array(512);
    img.read(4096, back);
    expect(back.every((b) => b === 0xab)).toBe(true);
    expect(img.discard(8192, 8192)).toBe(true);
    const hole = new Uint8Array(8192);
    img.read(8192, hole);
    expect(hole.every((b) => b === 0)).toBe(true);
    img.close();
    const onDisk = fs.readFileSync(p);
    expect(onDisk.length).toBe(64 * 1024); // the size is kept
    expect(onDisk[16384]).toBe(0x11);
  });

  it('moves a request\'s segments with one vectored call each way, and reports a short read', () => {
    const p = image(16 * 1024);
    const img = new RawImage(p, false);
    const segs = [Buffer.alloc(4096, 1), Buffer.alloc(512, 2), Buffer.alloc(1024, 3)];
    img.writev(2048, segs);
    const back = [new Uint8Array(4096), new Uint8Array(512), new Uint8Array(1024)];
    img.readv(2048, back);
    expect(back.map((b) => [b[0], b.at(-1)])).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
    ]);
    expect(fs.readFileSync(p).subarray(2048, 2048 + 5632).equals(Buffer.concat(segs))).toBe(true);
    // Past the end of the file the vectored read comes up short and the rest is refused.
    expect(() => img.readv(16 * 1024 - 512, [new Uint8Array(512), new Uint8Array(512)])).toThrow(/short read/);
    img.close();
    expect(() => new RawImage(p, true).writev(0, [Buffer.alloc(512)])).toThrow(ImageError);
  });

  it('refuses writes to a read-only image and leaves it untouched', () => {
    const p = image(4096);
    const img = new RawImage(p, true);
    expect(() => img.write(0, Buffer.alloc(512))).toThrow(ImageError);
    expect(() => img.discard(0, 512)).toThrow(ImageError);
    img.close();
    expect(fs.readFileSync(p).every((b) => b === 0x11)).toBe(true);
  });

  it('lets an image be attached writable once at a time, and refuses missing or ragged files', () => {
    const p = image(4096);
    const a = new RawImage(p, false);
    expect(() => new RawImage(p, false)).toThrow(/already attached writable/);
    const ro = new RawImage(p, true);
    ro.close();
    a.close();
    new RawImage(p, false).close();
    expect(() => new RawImage(path.join(dir, 'nope.img'), false)).toThrow(/no such file/);
    fs.writeFileSync(path.join(dir, 'odd.img'), Buffer.alloc(1000));
    expect(() => new RawImage(path.join(dir, 'odd.img'), false)).toThrow(/512-byte sectors/);
  });
});
