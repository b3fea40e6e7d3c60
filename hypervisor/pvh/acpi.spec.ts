import { describe, expect, it } from 'vitest';
import { gpa } from '../memory/guest-memory.ts';
import {
  ACPI_PM1A_CNT_BLK,
  ACPI_PM1A_EVT_BLK,
  ACPI_PM_TMR_BLK,
  ACPI_PM1_CNT_SLP_EN,
  ACPI_RESET_PORT,
  ACPI_RESET_VALUE,
  ACPI_S5_SLP_TYP,
  ACPI_SCI_IRQ,
  type AcpiTables,
  acpiChecksum,
  buildAcpiTables,
  decodePm1aControlWrite,
  s5Aml,
} from './acpi.ts';
import { AcpiBuildError } from './errors.ts';
import { ACPI_TABLES_PADDR, ACPI_TABLES_SIZE, IOAPIC_PADDR, LAPIC_PADDR } from './guest-layout.ts';

/** Reads the tables back the way an OS does: from the RSDP, following pointers, checking checksums. */
class AcpiReader {
  constructor(private readonly t: AcpiTables) {}

  bytes(addr: number, length: number): Uint8Array {
    const off = addr - this.t.base;
    if (off < 0 || off + length > this.t.bytes.length) throw new Error(`0x${addr.toString(16)}+${length} outside the table area`);
    return this.t.bytes.subarray(off, off + length);
  }

  dv(addr: number, length: number): DataView {
    const b = this.bytes(addr, length);
    return new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  sig(addr: number, n = 4): string {
    return new TextDecoder().decode(this.bytes(addr, n));
  }

  /** A table with a standard header: checks signature, length and checksum; returns its bytes. */
  table(addr: number, signature: string): DataView {
    expect(this.sig(addr)).toBe(signature);
    const length = this.dv(addr, 8).getUint32(4, true);
    expect(acpiChecksum(this.bytes(addr, length)), `${signature} checksum`).toBe(0);
    return this.dv(addr, length);
  }
}

describe('ACPI tables', () => {
  const t = buildAcpiTables({ base: gpa(ACPI_TABLES_PADDR), size: ACPI_TABLES_SIZE, vcpus: 3 });
  const r = new AcpiReader(t);

  it('starts with a revision-2 RSDP at the base, found by the legacy scan, with both checksums', () => {
    expect(t.rsdp).toBe(ACPI_TABLES_PADDR);
    expect(r.sig(t.rsdp, 8)).toBe('RSD PTR ');
    expect(acpiChecksum(r.bytes(t.rsdp, 20))).toBe(0);
    expect(acpiChecksum(r.bytes(t.rsdp, 36))).toBe(0);
    const d = r.dv(t.rsdp, 36);
    expect(d.getUint8(15)).toBe(2);
    expect(d.getUint32(20, true)).toBe(36);
  });

  it('links RSDT and XSDT to the FADT and MADT', () => {
    const d = r.dv(t.rsdp, 36);
    const xsdt = r.table(Number(d.getBigUint64(24, true)), 'XSDT');
    const rsdt = r.table(d.getUint32(16, true), 'RSDT');
    expect(xsdt.byteLength).toBe(36 + 16);
    const viaX = [Number(xsdt.getBigUint64(36, true)), Number(xsdt.getBigUint64(44, true))];
    const viaR = [rsdt.getUint32(36, true), rsdt.getUint32(40, true)];
    expect(viaX).toEqual(viaR);
    expect(viaX.map((a) => r.sig(a))).toEqual(['FACP', 'APIC']);
  });

  it('has a FADT with the trapped PM1a control port, the reset register and the DSDT', () => {
    const f = r.table(t.tables['FACP']!, 'FACP');
    expect(f.byteLength).toBe(276);
    expect(f.getUint8(8)).toBe(6);
    expect(f.getUint16(46, true)).toBe(ACPI_SCI_IRQ);
    expect(f.getUint32(48, true)).toBe(0); // no SMI command port: always in ACPI mode
    expect(f.getUint32(56, true)).toBe(ACPI_PM1A_EVT_BLK);
    expect(f.getUint32(64, true)).toBe(ACPI_PM1A_CNT_BLK);
    expect([f.getUint8(88), f.getUint8(89)]).toEqual([4, 2]);
    expect(f.getUint32(112, true) & (1 << 10)).not.toBe(0); // RESET_REG_SUP
    expect(f.getUint32(112, true) & (1 << 20)).toBe(0); // not hardware-reduced: PM1 blocks are used
    expect([f.getUint8(116), f.getUint8(117), Number(f.getBigUint64(120, true)), f.getUint8(128)]).toEqual([1, 8, ACPI_RESET_PORT, ACPI_RESET_VALUE]);
    expect([f.getUint8(172), f.getUint8(173), Number(f.getBigUint64(176, true))]).toEqual([1, 16, ACPI_PM1A_CNT_BLK]);
    // The PM timer, 32 bits wide (TMR_VAL_EXT), in both the legacy and the extended field.
    expect([f.getUint32(76, true), f.getUint8(91)]).toEqual([ACPI_PM_TMR_BLK, 4]);
    expect(f.getUint32(112, true) & (1 << 8)).not.toBe(0);
    expect([f.getUint8(208), f.getUint8(209), Number(f.getBigUint64(212, true))]).toEqual([1, 32, ACPI_PM_TMR_BLK]);
    expect(f.getUint16(109, true) & (1 << 5)).toBe(0); // a CMOS RTC is present
    const dsdt = f.getUint32(40, true);
    expect(Number(f.getBigUint64(140, true))).toBe(dsdt);
    expect(r.sig(f.getUint32(36, true))).toBe('FACS');
    expect(f.getUint32(36, true) % 64).toBe(0);
    const d = r.table(dsdt, 'DSDT');
    expect(new Uint8Array(d.buffer, d.byteOffset + 36, d.byteLength - 36)).toEqual(s5Aml());
  });

  it('encodes _S5 as Name(_S5_, Package(4){5, 5, 0, 0})', () => {
    expect(Array.from(s5Aml())).toEqual([0x08, 0x5f, 0x53, 0x35, 0x5f, 0x12, 0x08, 0x04, 0x0a, 5, 0x0a, 5, 0x00, 0x00]);
  });

  it('has a MADT with one enabled local APIC per vCPU (UID = vCPU index), the IOAPIC and overrides', () => {
    const m = r.table(t.tables['APIC']!, 'APIC');
    expect(m.getUint32(36, true)).toBe(LAPIC_PADDR);
    const entries: { type: number; bytes: DataView }[] = [];
    for (let at = 44; at < m.byteLength; ) {
      const len = m.getUint8(at + 1);
      expect(len).toBeGreaterThan(0);
      entries.push({ type: m.getUint8(at), bytes: new DataView(m.buffer, m.byteOffset + at, len) });
      at += len;
    }
    const lapics = entries.filter((e) => e.type === 0).map((e) => [e.bytes.getUint8(2), e.bytes.getUint8(3), e.bytes.getUint32(4, true)]);
    expect(lapics).toEqual([
      [0, 0, 1],
      [1, 1, 1],
      [2, 2, 1],
    ]);
    const ioapic = entries.find((e) => e.type === 1)!;
    expect(ioapic.bytes.getUint32(4, true)).toBe(IOAPIC_PADDR);
    const overrides = entries.filter((e) => e.type === 2).map((e) => [e.bytes.getUint8(3), e.bytes.getUint32(4, true), e.bytes.getUint16(8, true)]);
    expect(overrides).toEqual([
      [0, 2, 0],
      [9, 9, 0xd],
    ]);
    expect(entries.filter((e) => e.type === 4)).toHaveLength(1);
  });

  it('keeps every table inside the area', () => {
    for (const addr of Object.values(t.tables)) expect(addr - t.base).toBeLessThan(t.bytes.length);
    expect(t.bytes.length).toBeLessThan(ACPI_TABLES_SIZE);
  });

  it('scales to the maximum vCPU count and refuses what it cannot describe', () => {
    expect(buildAcpiTables({ base: gpa(ACPI_TABLES_PADDR), size: ACPI_TABLES_SIZE, vcpus: 255 }).bytes.length).toBeGreaterThan(255 * 8);
    expect(() => buildAcpiTables({ base: gpa(ACPI_TABLES_PADDR), size: ACPI_TABLES_SIZE, vcpus: 0 })).toThrow(AcpiBuildError);
    expect(() => buildAcpiTables({ base: gpa(ACPI_TABLES_PADDR), size: ACPI_TABLES_SIZE, vcpus: 256 })).toThrow(AcpiBuildError);
    expect(() => buildAcpiTables({ base: gpa(ACPI_TABLES_PADDR), size: 256, vcpus: 1 })).toThrow(/more than the 256-byte area/);
    expect(() => buildAcpiTables({ base: gpa(ACPI_TABLES_PADDR + 4), size: ACPI_TABLES_SIZE, vcpus: 1 })).toThrow(/aligned/);
  });
});

describe('PM1a control writes', () => {
  it('recognises the S5 request Linux makes for poweroff', () => {
    const poweroff = (ACPI_S5_SLP_TYP << 10) | ACPI_PM1_CNT_SLP_EN | 1;
    expect(decodePm1aControlWrite(poweroff)).toEqual({ kind: 'sleep', slpTyp: ACPI_S5_SLP_TYP });
    // ACPICA first writes SLP_TYP without SLP_EN, then sets SLP_EN: only the second is the request.
    expect(decodePm1aControlWrite(ACPI_S5_SLP_TYP << 10)).toEqual({ kind: 'none' });
    expect(decodePm1aControlWrite(1)).toEqual({ kind: 'none' });
  });
});
