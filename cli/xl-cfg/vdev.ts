// A vdev (the guest's name for a disk) and the number the frontend directory carries as
// `virtual-device`, which is also the devid in the vbd's xenstore paths. The encodings are the
// ones xen-vbd-interface(7) fixes:
//
//   xvd, disk < 16 and partition < 16      202 << 8 | disk << 4 | partition   (xvda = 51712)
//   xvd, larger                            1 << 28 | disk << 8 | partition    (disk < 2^20, partition < 256)
//   sd,  disk < 16 and partition < 16        8 << 8 | disk << 4 | partition
//   hd,  disk 0..1, partition < 64           3 << 8 | disk << 6 | partition
//   hd,  disk 2..3, partition < 64          22 << 8 | (disk - 2) << 6 | partition
//
// Names: xvd/sd/hd followed by the disk as letters (a..z, then aa..zz and on: a bijective base 26,
// so xvdaa is disk 26 and xvdtq is disk 536) and an optional partition number; or dNpM / dN for
// Xen virtual disks by number. A bare number is taken as the encoded value itself, as xl allows
// for old configs.
import { XlSpecError } from './errors.ts';
import { parseXlNumber } from './number.ts';

export const XEN_VBD_MAJOR = 202;
export const SCSI_DISK0_MAJOR = 8;
export const IDE0_MAJOR = 3;
export const IDE1_MAJOR = 22;
/** Marks the extended xvd encoding. */
export const XEN_VBD_EXTENDED = 1 << 28;
/** Values from 2 << 28 on are reserved (xen-vbd-interface(7)). */
export const VBD_RESERVED_FROM = 2 << 28;

const MAX_EXTENDED_DISK = (1 << 20) - 1;
const MAX_EXTENDED_PARTITION = 255;

export interface VbdName {
  readonly kind: 'xvd' | 'sd' | 'hd';
  readonly disk: number;
  readonly partition: number;
}

/** The xenstore `virtual-device` number for a vdev; throws XlSpecError with the reason otherwise. */
export function vdevToDeviceId(vdev: string): number {
  if (/^[0-9]/.test(vdev)) {
    const n = parseXlNumber(vdev);
    if (n === undefined || n <= 0 || n >= VBD_RESERVED_FROM) throw new XlSpecError(`vdev ${vdev}: a numeric vdev must be a number in 1..${VBD_RESERVED_FROM - 1}`);
    return n;
  }
  return encodeVbd(parseVdev(vdev), vdev);
}

/** Splits a vdev name into its kind, disk index and partition. */
export function parseVdev(vdev: string): VbdName {
  const byNumber = /^d(0|[1-9][0-9]{0,6})(?:p(0|[1-9][0-9]{0,2}))?$/.exec(vdev);
  if (byNumber) return { kind: 'xvd', disk: Number(byNumber[1]), partition: Number(byNumber[2] ?? 0) };
  // Five letters reach disk 12,356,629, beyond the largest encodable (2^20 - 1).
  const named = /^(xvd|sd|hd)([a-z]{1,5})(0|[1-9][0-9]{0,2})?$/.exec(vdev);
  if (!named) throw new XlSpecError(`vdev ${JSON.stringify(vdev)} is not a disk name (xvdX, sdX, hdX with an optional partition number, or dNpM)`);
  let disk = 0;
  for (const ch of named[2]!) disk = disk * 26 + (ch.charCodeAt(0) - 96);
  return { kind: named[1] as VbdName['kind'], disk: disk - 1, partition: Number(named[3] ?? 0) };
}

function encodeVbd({ kind, disk, partition }: VbdName, vdev: string): number {
  switch (kind) {
    case 'xvd':
      if (disk < 16 && partition < 16) return (XEN_VBD_MAJOR << 8) | (disk << 4) | partition;
      if (disk <= MAX_EXTENDED_DISK && partition <= MAX_EXTENDED_PARTITION) return XEN_VBD_EXTENDED | (disk << 8) | partition;
      throw new XlSpecError(`vdev ${vdev}: a Xen virtual disk number must be below ${MAX_EXTENDED_DISK + 1} and its partition at most ${MAX_EXTENDED_PARTITION}`);
    case 'sd':
      if (disk < 16 && partition < 16) return (SCSI_DISK0_MAJOR << 8) | (disk << 4) | partition;
      throw new XlSpecError(`vdev ${vdev}: SCSI disks go up to sdp and partitions up to 15; use xvd names beyond that`);
    case 'hd':
      if (disk < 2 && partition < 64) return (IDE0_MAJOR << 8) | (disk << 6) | partition;
      if (disk < 4 && partition < 64) return (IDE1_MAJOR << 8) | ((disk - 2) << 6) | partition;
      throw new XlSpecError(`vdev ${vdev}: IDE disks go up to hdd and partitions up to 63; use xvd names beyond that`);
  }
}
