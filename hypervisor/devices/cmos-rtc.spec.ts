import { describe, expect, it } from 'vitest';
import type { IoExit } from '../kvm/vcpu-exit.ts';
import {
  CmosRtc,
  RTC_24H,
  RTC_CENTURY,
  RTC_DAY_OF_MONTH,
  RTC_DAY_OF_WEEK,
  RTC_DM_BINARY,
  RTC_HOURS,
  RTC_MINUTES,
  RTC_MONTH,
  RTC_REG_A,
  RTC_REG_B,
  RTC_REG_C,
  RTC_REG_D,
  RTC_SECONDS,
  RTC_UIP,
  RTC_VRT,
  RTC_YEAR,
  createCmosState,
} from './cmos-rtc.ts';
import { LegacyPorts, createWorkerPortIo, legacyPortsConfig } from './legacy-ports.ts';

const at = new Date(Date.UTC(2026, 10, 22, 21, 5, 9)); // Sunday 22 Nov 2026, 21:05:09 UTC

function read(rtc: CmosRtc, reg: number): number {
  rtc.writeIndex(reg);
  return rtc.readData();
}

describe('CmosRtc', () => {
  it('shows the clock in BCD, 24-hour, with UIP clear and valid RAM/time', () => {
    const rtc = new CmosRtc(createCmosState(), () => at);
    expect(read(rtc, RTC_SECONDS)).toBe(0x09);
    expect(read(rtc, RTC_MINUTES)).toBe(0x05);
    expect(read(rtc, RTC_HOURS)).toBe(0x21);
    expect(read(rtc, RTC_DAY_OF_WEEK)).toBe(1); // Sunday
    expect(read(rtc, RTC_DAY_OF_MONTH)).toBe(0x22);
    expect(read(rtc, RTC_MONTH)).toBe(0x11);
    expect(read(rtc, RTC_YEAR)).toBe(0x26);
    expect(read(rtc, RTC_CENTURY)).toBe(0x20);
    expect(read(rtc, RTC_REG_A) & RTC_UIP).toBe(0);
    expect(read(rtc, RTC_REG_B)).toBe(RTC_24H);
    expect(read(rtc, RTC_REG_C)).toBe(0);
    expect(read(rtc, RTC_REG_D)).toBe(RTC_VRT);
  });

  it('follows register B: binary mode and 12-hour mode with the PM bit', () => {
    const rtc = new CmosRtc(createCmosState(), () => at);
    rtc.writeIndex(RTC_REG_B);
    rtc.writeData(RTC_DM_BINARY | RTC_24H);
    expect(read(rtc, RTC_HOURS)).toBe(21);
    expect(read(rtc, RTC_YEAR)).toBe(26);
    rtc.writeIndex(RTC_REG_B);
    rtc.writeData(0); // BCD, 12-hour
    expect(read(rtc, RTC_HOURS)).toBe(0x80 | 0x09);
  });

  it('ignores writes to the clock and to C/D, keeps CMOS RAM across vCPUs sharing the state, masks the NMI bit', () => {
    const state = createCmosState();
    const cpu0 = new CmosRtc(state, () => at);
    const cpu1 = new CmosRtc(state, () => at);
    cpu0.writeIndex(RTC_SECONDS);
    cpu0.writeData(0x59);
    expect(read(cpu0, RTC_SECONDS)).toBe(0x09);
    cpu0.writeIndex(RTC_REG_D);
    cpu0.writeData(0);
    expect(read(cpu1, RTC_REG_D)).toBe(RTC_VRT);
    cpu0.writeIndex(0x80 | 0x40); // NMI-disable bit set on the index write
    cpu0.writeData(0xa5);
    expect(cpu0.readIndex()).toBe(0x40);
    expect(read(cpu1, 0x40)).toBe(0xa5);
    cpu1.writeIndex(RTC_REG_A);
    cpu1.writeData(0xff);
    expect(read(cpu0, RTC_REG_A)).toBe(0x7f); // UIP is read-only
  });

  it('refuses state of the wrong size', () => {
    expect(() => new CmosRtc(new SharedArrayBuffer(64))).toThrow(RangeError);
  });
});

function ioExit(direction: 'in' | 'out', port: number, size: 1 | 2 | 4, value = 0, count = 1): IoExit {
  const data = new Uint8Array(size * count);
  for (let i = 0; i < size; i++) data[i] = (value >>> (8 * i)) & 0xff;
  return { kind: 'io', direction, port, size, count, data };
}

describe('LegacyPorts (answered in the vCPU worker)', () => {
  it('answers the RTC, the POST port and PCI configuration space, and nothing else', () => {
    const ports = new LegacyPorts(legacyPortsConfig(), () => at);
    expect(ports.handle(ioExit('out', 0x70, 1, RTC_MINUTES))).toBe(true);
    const min = ioExit('in', 0x71, 1);
    expect(ports.handle(min)).toBe(true);
    expect(min.data[0]).toBe(0x05);
    const cfg = ioExit('in', 0xcfc, 4);
    expect(ports.handle(ioExit('out', 0xcf8, 4, 0x8000_0000))).toBe(true);
    expect(ports.handle(cfg)).toBe(true);
    expect([...cfg.data]).toEqual([0xff, 0xff, 0xff, 0xff]);
    expect(ports.handle(ioExit('out', 0x80, 1, 0))).toBe(true);
    // Left to the engine: other ports, string I/O, odd sizes on the RTC.
    expect(ports.handle(ioExit('in', 0x600, 2))).toBe(false);
    expect(ports.handle(ioExit('in', 0x5e, 4))).toBe(false);
    expect(ports.handle(ioExit('in', 0xcfc, 4, 0, 2))).toBe(false);
    expect(ports.handle(ioExit('in', 0x71, 2))).toBe(false);
  });

  it('counts the ACPI PM timer at 3.579545 MHz from the monotonic clock, 32 bits wide', () => {
    let ns = 1_000_000_000n; // one second
    const ports = new LegacyPorts(legacyPortsConfig(), () => at, () => ns);
    const read = (): number => {
      const e = ioExit('in', 0x608, 4);
      expect(ports.handle(e)).toBe(true);
      return new DataView(e.data.buffer).getUint32(0, true);
    };
    expect(read()).toBe(3_579_545);
    ns += 1_000_000n; // 1 ms later
    expect(read()).toBe(3_579_545 + 3_579);
    ns = 1_200_000_000_000n; // 1200 s: past 2^32 ticks, it wraps
    expect(read()).toBe((1200 * 3_579_545) % 2 ** 32);
  });

  it('is built from structured-cloneable configuration, and refuses anything else', () => {
    const config = structuredClone(legacyPortsConfig());
    expect(createWorkerPortIo(config).handle(ioExit('in', 0xcfe, 2))).toBe(true);
    expect(() => createWorkerPortIo({})).toThrow(TypeError);
  });
});
