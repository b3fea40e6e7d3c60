// VIFSPEC strings (xl-network-configuration(5)): a comma-separated list of key=value pairs and
// flags, every one optional; the empty string is a vif with all defaults. xlts keeps the keys a
// PV vif needs and refuses, by name, the ones that ask for machinery it does not have (hotplug
// scripts, driver domains, emulated HVM NICs). Nothing is made up here: no random MAC, no default
// bridge; the daemon fills in what is absent, so the same cfg gives the same config every time.
import { macProblem, type VifRate, type VifSpec } from '../../dom0/domain-config.ts';
import { XlSpecError } from './errors.ts';
import { parseXlNumber } from './number.ts';

/** libxl's default replenish interval for a vif rate. */
export const DEFAULT_RATE_INTERVAL_USECS = 50_000;

/** `position` is the vif's index in the list, its devid unless the spec sets `devid=`. */
export function parseVifSpec(spec: string, position: number): VifSpec {
  const out: { -readonly [K in keyof VifSpec]: VifSpec[K] } = { devid: position, trusted: true };
  const seen = new Set<string>();
  for (const raw of spec.split(',')) {
    const token = raw.trim();
    if (token === '') continue;
    if (token === 'trusted' || token === 'untrusted') {
      out.trusted = token === 'trusted';
      continue;
    }
    const eq = token.indexOf('=');
    if (eq < 0) throw new XlSpecError(`${JSON.stringify(token)}: not key=value (nor the flag trusted or untrusted)`);
    let key = token.slice(0, eq).trim();
    const value = token.slice(eq + 1).trim();
    if (key === 'netdev') key = 'gatewaydev';
    if (seen.has(key)) throw new XlSpecError(`${key} given twice`);
    seen.add(key);
    switch (key) {
      case 'mac': {
        const p = macProblem(value);
        if (p !== undefined) throw new XlSpecError(`mac ${JSON.stringify(value)} ${p}`);
        out.mac = value.toLowerCase();
        break;
      }
      case 'bridge':
      case 'ip':
      case 'vifname':
      case 'gatewaydev':
      case 'model':
        if (value === '') throw new XlSpecError(`${key}= is empty`);
        out[key] = value;
        break;
      case 'type':
        if (value === 'ioemu') throw new XlSpecError('type=ioemu: emulated NICs are for HVM guests; xlts vifs are PV (type=vif)');
        if (value !== 'vif') throw new XlSpecError(`type=${value}: unknown (vif)`);
        break;
      case 'rate':
        out.rate = parseVifRate(value);
        break;
      case 'mtu': {
        const n = parseXlNumber(value);
        if (n === undefined || n < 68 || n > 65535) throw new XlSpecError(`mtu ${JSON.stringify(value)}: expected a number in 68..65535`);
        out.mtu = n;
        break;
      }
      case 'devid': {
        const n = parseXlNumber(value);
        if (n === undefined || n > 0xffff) throw new XlSpecError(`devid ${JSON.stringify(value)}: expected a number in 0..65535`);
        out.devid = n;
        break;
      }
      case 'script':
        throw new XlSpecError(`script=${value}: xlts runs no hotplug scripts; the backend plugs the vif into its bridge itself`);
      case 'backend':
        if (value === '0' || value === 'Domain-0') break;
        throw new XlSpecError(`backend=${value}: driver domains are not supported; every backend runs in xltsd (domain 0)`);
      default:
        throw new XlSpecError(`${key}=: unknown or unsupported vif parameter`);
    }
  }
  return out;
}

/**
 * `RATE/s[@INTERVAL]`: RATE is digits with an optional K, M or G (powers of 1000) then B (bytes) or
 * b (bits); INTERVAL is digits with an optional unit s, ms or us (also m or u; seconds when bare). The result is what
 * libxl writes to the backend's `rate` node: bytes allowed per interval, and the interval.
 */
export function parseVifRate(text: string): VifRate {
  const m = /^([0-9]+)([GMK]?)([Bb])\/s(?:@([0-9]+)([mu]?)s?)?$/.exec(text);
  if (!m) throw new XlSpecError(`rate ${JSON.stringify(text)}: expected RATE/s[@INTERVAL], e.g. 10Mb/s or 1MB/s@20ms`);
  const scale = { '': 1n, K: 1_000n, M: 1_000_000n, G: 1_000_000_000n }[m[2] as '' | 'K' | 'M' | 'G'];
  const count = BigInt(m[1]!);
  if (count === 0n || count > 0xffffffffn) throw new XlSpecError(`rate ${JSON.stringify(text)}: the number must be in 1..4294967295`);
  // Exact arithmetic: 4294967295G is past 2^53.
  let bytesPerSec = count * scale;
  if (m[3] === 'b') bytesPerSec /= 8n;
  let intervalUsecs = DEFAULT_RATE_INTERVAL_USECS;
  if (m[4] !== undefined) {
    const n = Number(m[4]);
    intervalUsecs = n * ({ '': 1e6, m: 1e3, u: 1 } as const)[(m[5] ?? '') as '' | 'm' | 'u'];
    if (n === 0 || intervalUsecs > 0xffffffff) throw new XlSpecError(`rate ${JSON.stringify(text)}: the interval must be above 0 and at most 4294967295 us`);
  }
  const bytesPerInterval = Number((bytesPerSec * BigInt(intervalUsecs)) / 1_000_000n);
  if (!Number.isSafeInteger(bytesPerInterval)) throw new XlSpecError(`rate ${JSON.stringify(text)}: too large`);
  return { bytes_per_interval: bytesPerInterval, interval_usecs: intervalUsecs };
}
