import { describe, expect, it } from 'vitest';
import type { DiskSpec } from '../../dom0/domain-config.ts';
import { parseDiskSpec, toDiskSpec } from './disk.ts';

const asIs = (t: string): string => t;
const disk = (spec: string): DiskSpec => toDiskSpec(parseDiskSpec(spec), asIs);

const XVDA_RW: DiskSpec = {
  target: '/dev/vg/guest-volume',
  format: 'raw',
  vdev: 'xvda',
  device_id: 51712,
  access: 'rw',
  devtype: 'disk',
  discard: true,
  trusted: true,
  direct_io_safe: false,
};

describe('parseDiskSpec + toDiskSpec', () => {
  it('reads the equivalent forms of xl-disk-configuration(5) alike', () => {
    for (const spec of [
      '/dev/vg/guest-volume,,xvda',
      '/dev/vg/guest-volume,raw,xvda,rw',
      'format=raw, vdev=xvda, access=rw, target=/dev/vg/guest-volume',
      'raw:/dev/vg/guest-volume,xvda,w',
      'phy:/dev/vg/guest-volume,xvda,w',
      'file:/dev/vg/guest-volume,xvda,w',
      'tap:aio:/dev/vg/guest-volume,xvda,w',
      '  vdev=xvda,\ttarget=/dev/vg/guest-volume',
    ]) {
      expect(disk(spec), spec).toEqual(XVDA_RW);
    }
  });

  it('reads the cdrom forms alike, read-only by default', () => {
    const cd = { ...XVDA_RW, target: '/root/image.iso', vdev: 'hdc', device_id: 22 << 8, access: 'ro', devtype: 'cdrom' };
    for (const spec of [
      '/root/image.iso,,hdc,cdrom',
      '/root/image.iso,,hdc,,cdrom',
      '/root/image.iso,raw,hdc,devtype=cdrom',
      'format=raw, vdev=hdc, access=ro, devtype=cdrom, target=/root/image.iso',
      'raw:/root/image.iso,hdc:cdrom,ro',
    ]) {
      expect(disk(spec), spec).toEqual(cd);
    }
  });

  it('lets target= take the rest of the string, commas included', () => {
    expect(disk('vdev=xvdb, access=ro, target=/srv/a,b.img').target).toBe('/srv/a,b.img');
    expect(disk(',,xvdb,ro,target=/srv/x.img')).toMatchObject({ target: '/srv/x.img', access: 'ro' });
  });

  it('keeps the flags', () => {
    expect(disk('/a.img,,xvda,no-discard,untrusted,direct-io-safe')).toMatchObject({ discard: false, trusted: false, direct_io_safe: true });
    expect(disk('backendtype=qdisk,specification=xen,backend=0,/a.img,,xvda').target).toBe('/a.img');
  });

  it('resolves the target with the function it is given', () => {
    expect(toDiskSpec(parseDiskSpec('guest.img,,xvda'), (t) => `/cfgdir/${t}`).target).toBe('/cfgdir/guest.img');
  });

  it('refuses what xlts does not do, by name', () => {
    expect(() => disk('/a.qcow2,qcow2,xvda')).toThrow('format qcow2: xlts serves raw images only');
    expect(() => disk('script=block-iscsi,target=iqn.2001-05.com:disk')).toThrow(/xlts runs no hotplug scripts/);
    expect(() => disk('iscsi:iqn.x,xvda,w')).toThrow(/script block-iscsi: xlts runs no hotplug scripts/);
    expect(() => disk('backendtype=phy,/dev/sdb,,xvda')).toThrow(/no in-kernel blkback/);
    expect(() => disk('backendtype=tap,/a.img,,xvda')).toThrow(/blktap/);
    expect(() => disk('backend=driverdom,/a.img,,xvda')).toThrow(/driver domains/);
    expect(() => disk('specification=virtio,/a.img,,xvda')).toThrow(/Xen PV block devices only/);
    expect(() => disk('colo,/a.img,,xvda')).toThrow(/COLO/);
    expect(() => disk(',hdc:cdrom,r')).toThrow(/empty cdrom/);
    expect(() => disk('/a.iso,,hdc,rw,cdrom')).toThrow(/cdrom cannot be read-write/);
  });

  it('reports malformed specs', () => {
    expect(() => disk('/a.img')).toThrow(/no vdev/);
    expect(() => disk('vdev=xvda')).toThrow(/no target/);
    expect(() => disk('/a.img,xvda,w')).toThrow('format "xvda": unknown');
    expect(() => disk('/a.img,,xvda,rw,extra')).toThrow(/too many positional parameters/);
    expect(() => disk('/a.img,,xvda,rx')).toThrow(/access "rx": unknown/);
    expect(() => disk('size=5,/a.img,,xvda')).toThrow('size=: unknown disk parameter');
    expect(() => disk('/a.img,,xvda,vdev=xvdb')).toThrow(/vdev respecified/);
    expect(() => disk('weird:/a.img,xvda,w')).toThrow(/unknown deprecated disk prefix/);
    expect(() => disk('/a.img,,vda')).toThrow(/not a disk name/);
    expect(() => disk('/a=b.img,,xvda')).toThrow(/bad disk syntax/);
  });

  it('exposes the raw parse for callers that want xl semantics', () => {
    expect(parseDiskSpec('phy:/dev/sdb,xvda:cdrom,r')).toMatchObject({ target: '/dev/sdb', vdev: 'xvda', devtype: 'cdrom', access: 'ro', deprecatedPrefix: 'phy' });
    expect(parseDiskSpec('nbd:host:1234,xvda,w')).toMatchObject({ script: 'block-nbd', target: 'host:1234' });
  });
});
