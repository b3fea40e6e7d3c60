import { describe, expect, it } from 'vitest';
import { type Probe, compare, runProbes } from './testing/c-layout-check.ts';
import {
  XENBUS_KEY,
  XEN_IO_PROTO,
  XenbusState,
  backendPath,
  domainPath,
  featureKey,
  formatXenbusState,
  frontendPath,
  isXenbusState,
  parseXenbusState,
  parseXenbusUnsigned,
  queueKey,
  ringRefKey,
  xenbusStateName,
} from './xenbus.ts';

const enc = new TextEncoder();

describe('XenbusState', () => {
  it('has the values and names of enum xenbus_state in io/xenbus.h and XEN_IO_PROTO_* of io/protocols.h', () => {
    const probes: Probe[] = [
      ...Object.entries(XenbusState).map(([name, value]): Probe => ({ key: name, expected: value, num: name })),
      ...Object.entries(XEN_IO_PROTO).map(([name, value]): Probe => ({ key: name, expected: value, str: name })),
    ];
    const fromC = runProbes(['#include <stdint.h>', '#include <xen/io/xenbus.h>', '#include <xen/io/protocols.h>'], probes);
    const { c, ours } = compare(probes, fromC);
    expect(c).toEqual(ours);
    expect(Object.keys(XenbusState)).toHaveLength(9);
  });

  it('names every state and refuses non-states', () => {
    expect(xenbusStateName(XenbusState.XenbusStateConnected)).toBe('XenbusStateConnected');
    expect(xenbusStateName(0)).toBe('XenbusStateUnknown');
    expect(xenbusStateName(8)).toBe('XenbusStateReconfigured');
    expect(() => xenbusStateName(9 as XenbusState)).toThrow(RangeError);
    expect([0, 4, 8].map(isXenbusState)).toEqual([true, true, true]);
    expect([-1, 9, 1.5, Number.NaN, '4', null].map(isXenbusState)).toEqual([false, false, false, false, false, false]);
  });

  it('formats states as the decimal digit Xen writes and refuses anything else', () => {
    expect(formatXenbusState(XenbusState.XenbusStateInitWait)).toBe('2');
    expect(formatXenbusState(XenbusState.XenbusStateClosed)).toBe('6');
    expect(() => formatXenbusState(11 as XenbusState)).toThrow(RangeError);
    expect(() => formatXenbusState(Number.NaN as XenbusState)).toThrow(RangeError);
  });

  it('parses every state written canonically, from a string or from raw bytes', () => {
    for (let s = 0; s <= 8; s++) {
      expect(parseXenbusState(String(s))).toEqual({ ok: true, value: s });
      expect(parseXenbusState(enc.encode(String(s)))).toEqual({ ok: true, value: s });
    }
  });

  it('refuses what a hostile or sloppy peer may write, never yielding NaN', () => {
    const garbage = ['', '9', '-1', '04', ' 4', '4 ', '+4', '4\0', '4\n', 'x', '44', '4.0', '٤', 'Connected', '\u0000'];
    for (const g of garbage) {
      const r = parseXenbusState(g);
      expect(r.ok, JSON.stringify(g)).toBe(false);
      if (!r.ok) {
        expect(r.raw).toBe(g);
        expect(r.reason.length).toBeGreaterThan(0);
      }
    }
    expect(parseXenbusState(new Uint8Array([0xff, 0xfe])).ok).toBe(false);
  });

  it('keeps a refusal of a huge value short', () => {
    const r = parseXenbusState('7'.repeat(4000));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.raw.length).toBeLessThan(100);
  });
});

describe('parseXenbusUnsigned', () => {
  it('accepts canonical decimals up to the bound', () => {
    expect(parseXenbusUnsigned('0')).toEqual({ ok: true, value: 0 });
    expect(parseXenbusUnsigned('8')).toEqual({ ok: true, value: 8 });
    expect(parseXenbusUnsigned('4294967295')).toEqual({ ok: true, value: 0xffffffff });
    expect(parseXenbusUnsigned(enc.encode('1023'), 1023)).toEqual({ ok: true, value: 1023 });
  });

  it('refuses signs, spaces, leading zeros, hex, overflow and values above the bound', () => {
    for (const g of ['', '-1', '+1', ' 1', '1 ', '01', '0x10', '1e3', '1.0', '4294967296', '99999999999', 'NaN', 'Infinity']) {
      expect(parseXenbusUnsigned(g).ok, JSON.stringify(g)).toBe(false);
    }
    expect(parseXenbusUnsigned('1024', 1023).ok).toBe(false);
    expect(() => parseXenbusUnsigned('1', -1)).toThrow(RangeError);
  });
});

describe('xenstore keys and paths', () => {
  it('names the generic device nodes as split drivers write them', () => {
    expect(XENBUS_KEY.BACKEND_ID).toBe('backend-id');
    expect(XENBUS_KEY.FRONTEND_ID).toBe('frontend-id');
    expect(XENBUS_KEY.EVENT_CHANNEL).toBe('event-channel');
    expect(XENBUS_KEY.RING_REF).toBe('ring-ref');
    expect(featureKey('persistent')).toBe('feature-persistent');
    expect(featureKey('gso-tcpv4')).toBe('feature-gso-tcpv4');
    expect(ringRefKey(3)).toBe('ring-ref3');
    expect(queueKey(0)).toBe('queue-0');
  });

  it('refuses names that would escape the device directory', () => {
    for (const bad of ['', 'a/b', '../x', 'x\0', '@introduceDomain', 'a b']) {
      expect(() => featureKey(bad), JSON.stringify(bad)).toThrow(RangeError);
    }
    expect(() => ringRefKey(-1)).toThrow(RangeError);
    expect(() => queueKey(1.5)).toThrow(RangeError);
  });

  it('builds the frontend and backend directories of a device', () => {
    expect(domainPath(0)).toBe('/local/domain/0');
    expect(frontendPath(5, 'vbd', 51712)).toBe('/local/domain/5/device/vbd/51712');
    expect(backendPath(0, 'vif', 5, 0)).toBe('/local/domain/0/backend/vif/5/0');
  });

  it('refuses reserved domids and bad device classes or ids', () => {
    expect(() => domainPath(0x7ff0)).toThrow(RangeError);
    expect(() => domainPath(-1)).toThrow(RangeError);
    expect(() => frontendPath(1, 'vbd/..', 0)).toThrow(RangeError);
    expect(() => frontendPath(1, 'vbd', -2)).toThrow(RangeError);
    expect(() => backendPath(0, 'vbd', 0x7ff2, 0)).toThrow(RangeError);
  });
});
