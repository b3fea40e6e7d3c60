import { describe, expect, it } from 'vitest';
import { parseVdev, vdevToDeviceId } from './vdev.ts';

describe('vdevToDeviceId', () => {
  it('encodes small xvd disks as 202<<8 | disk<<4 | partition', () => {
    expect(vdevToDeviceId('xvda')).toBe(51712);
    expect(vdevToDeviceId('xvdb')).toBe(51728);
    expect(vdevToDeviceId('xvdb2')).toBe((202 << 8) | (1 << 4) | 2);
    expect(vdevToDeviceId('xvdp15')).toBe((202 << 8) | (15 << 4) | 15);
    expect(vdevToDeviceId('d0')).toBe(51712);
    expect(vdevToDeviceId('d0p0')).toBe(51712);
    expect(vdevToDeviceId('d1p2')).toBe(vdevToDeviceId('xvdb2'));
  });

  it('switches to 1<<28 | disk<<8 | partition past disk 15 or partition 15', () => {
    expect(vdevToDeviceId('xvdq')).toBe((1 << 28) | (16 << 8));
    expect(vdevToDeviceId('xvda16')).toBe((1 << 28) | 16);
    // xen-vbd-interface(7)'s own example: d536p37 is xvdtq37.
    expect(vdevToDeviceId('xvdtq37')).toBe((1 << 28) | (536 << 8) | 37);
    expect(vdevToDeviceId('d536p37')).toBe(vdevToDeviceId('xvdtq37'));
    expect(vdevToDeviceId('xvdaa')).toBe((1 << 28) | (26 << 8));
    expect(vdevToDeviceId('d1048575p255')).toBe((1 << 28) | (1048575 << 8) | 255);
  });

  it('encodes sd and hd disks', () => {
    expect(vdevToDeviceId('sda')).toBe(8 << 8);
    expect(vdevToDeviceId('sdb3')).toBe((8 << 8) | (1 << 4) | 3);
    expect(vdevToDeviceId('hda')).toBe(3 << 8);
    expect(vdevToDeviceId('hdb63')).toBe((3 << 8) | (1 << 6) | 63);
    expect(vdevToDeviceId('hdc2')).toBe((22 << 8) | 2);
    expect(vdevToDeviceId('hdd')).toBe((22 << 8) | (1 << 6));
  });

  it('takes a bare number as the encoded value', () => {
    expect(vdevToDeviceId('51712')).toBe(51712);
    expect(vdevToDeviceId('0xca00')).toBe(51712);
  });

  it('refuses what has no encoding', () => {
    expect(() => vdevToDeviceId('xvda256')).toThrow(/at most 255/);
    expect(() => vdevToDeviceId('d1048576')).toThrow(/below 1048576/);
    expect(() => vdevToDeviceId('sdq')).toThrow(/SCSI disks go up to sdp/);
    expect(() => vdevToDeviceId('sda16')).toThrow(/SCSI/);
    expect(() => vdevToDeviceId('hde')).toThrow(/IDE disks go up to hdd/);
    expect(() => vdevToDeviceId('hda64')).toThrow(/IDE/);
    expect(() => vdevToDeviceId('vda')).toThrow(/not a disk name/);
    expect(() => vdevToDeviceId('xvdA')).toThrow(/not a disk name/);
    expect(() => vdevToDeviceId('xvda01')).toThrow(/not a disk name/);
    expect(() => vdevToDeviceId('0')).toThrow(/numeric vdev/);
    expect(() => vdevToDeviceId(String(2 << 28))).toThrow(/numeric vdev/);
  });

  it('parses letters as a bijective base 26', () => {
    expect(parseVdev('xvdz')).toEqual({ kind: 'xvd', disk: 25, partition: 0 });
    expect(parseVdev('xvdzz')).toEqual({ kind: 'xvd', disk: 26 * 26 + 25, partition: 0 });
    expect(parseVdev('sdaa1')).toEqual({ kind: 'sd', disk: 26, partition: 1 });
  });
});
