import { describe, expect, it } from 'vitest';
import { parseVifRate, parseVifSpec } from './vif.ts';

describe('parseVifSpec', () => {
  it('gives the empty spec all defaults, devid from its position', () => {
    expect(parseVifSpec('', 3)).toEqual({ devid: 3, trusted: true });
  });

  it('reads the keys xlts keeps', () => {
    expect(parseVifSpec(' mac=00:16:3E:5D:C7:9E, bridge=xenbr1 ,ip=10.0.0.2,model=e1000, vifname=web0,type=vif,rate=10Mb/s,mtu=9000,netdev=eth0,untrusted', 0)).toEqual({
      devid: 0,
      mac: '00:16:3e:5d:c7:9e',
      bridge: 'xenbr1',
      ip: '10.0.0.2',
      model: 'e1000',
      vifname: 'web0',
      rate: { bytes_per_interval: 62500, interval_usecs: 50000 },
      mtu: 9000,
      gatewaydev: 'eth0',
      trusted: false,
    });
    expect(parseVifSpec('devid=7,backend=0', 0).devid).toBe(7);
  });

  it('validates the MAC', () => {
    expect(() => parseVifSpec('mac=00:16:3e:5d:c7', 0)).toThrow(/not a MAC address/);
    expect(() => parseVifSpec('mac=00:16:3e:5d:c7:9g', 0)).toThrow(/not a MAC address/);
    expect(() => parseVifSpec('mac=01:16:3e:5d:c7:9e', 0)).toThrow(/multicast/);
  });

  it('refuses what xlts does not do, and unknown keys', () => {
    expect(() => parseVifSpec('script=vif-route', 0)).toThrow(/no hotplug scripts/);
    expect(() => parseVifSpec('type=ioemu', 0)).toThrow(/HVM/);
    expect(() => parseVifSpec('backend=netdom', 0)).toThrow(/driver domains/);
    expect(() => parseVifSpec('colour=blue', 0)).toThrow('colour=: unknown or unsupported vif parameter');
    expect(() => parseVifSpec('bridge=a,bridge=b', 0)).toThrow('bridge given twice');
    expect(() => parseVifSpec('mtu=10', 0)).toThrow(/68..65535/);
    expect(() => parseVifSpec('xenbr0', 0)).toThrow(/not key=value/);
  });
});

describe('parseVifRate', () => {
  it('turns RATE/s[@INTERVAL] into bytes per interval, as libxl writes it', () => {
    expect(parseVifRate('10Mb/s')).toEqual({ bytes_per_interval: 62500, interval_usecs: 50000 });
    expect(parseVifRate('1MB/s@20ms')).toEqual({ bytes_per_interval: 20000, interval_usecs: 20000 });
    expect(parseVifRate('100KB/s@1s')).toEqual({ bytes_per_interval: 100000, interval_usecs: 1000000 });
    expect(parseVifRate('8b/s@2')).toEqual({ bytes_per_interval: 2, interval_usecs: 2000000 });
    expect(parseVifRate('1GB/s@500us')).toEqual({ bytes_per_interval: 500000, interval_usecs: 500 });
    expect(parseVifRate('1GB/s@5m')).toEqual({ bytes_per_interval: 5000000, interval_usecs: 5000 });
  });

  it('refuses malformed or out-of-range rates', () => {
    expect(() => parseVifRate('10Mbps')).toThrow(/expected RATE\/s/);
    expect(() => parseVifRate('0MB/s')).toThrow(/1..4294967295/);
    expect(() => parseVifRate('1MB/s@0ms')).toThrow(/interval/);
    expect(() => parseVifRate('4294967295GB/s@4294s')).toThrow(/too large/);
  });
});
