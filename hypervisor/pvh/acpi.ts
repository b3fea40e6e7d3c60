// A minimal ACPI table set for a PVH guest, built as a pure function of the vCPU count and where
// the tables go. Its purpose is what a Linux guest cannot do without ACPI: enumerate its vCPUs and
// the IOAPIC (MADT), and power off or reboot in a way the shim sees (FADT + DSDT `_S5`). Without
// ACPI, Linux turns `poweroff` into a halt that never leaves the guest.
//
//   RSDP (rev 2) -> XSDT -> FADT -> DSDT (one `_S5_` package), FACS
//     (RSDT too)        -> MADT (one local APIC per vCPU, the IOAPIC, ISA overrides, LAPIC NMI)
//
// The shim's side of the contract, all port I/O it must trap:
//   ACPI_PM1A_EVT_BLK (4 bytes)  PM1 status (reads 0) / enable (reads back what was written).
//   ACPI_PM1A_CNT_BLK (2 bytes)  PM1 control: reads must return SCI_EN (ACPI is always on: there
//                                is no SMI command port to switch it); a write with SLP_EN and
//                                SLP_TYP == ACPI_S5_SLP_TYP is the guest's poweroff.
//   ACPI_PM_TMR_BLK   (4 bytes)  the PM timer: a free-running 32-bit count at ACPI_PM_TIMER_HZ.
//                                Linux calibrates the TSC against it when the PIT is too jittery
//                                to (always, under nested virtualization); no overflow SCI.
//   ACPI_RESET_PORT   (1 byte)   writing ACPI_RESET_VALUE is the guest's reboot (FADT RESET_REG;
//                                0xcf9 is also where Linux's "reboot=pci" writes).
// decodePm1aControlWrite() and ACPI_RESET_VALUE give the shim the decoding in one place.
//
// Layouts follow the ACPI 6 specification (tables are packed, little-endian); every table carries
// a checksum byte that makes its bytes sum to 0 mod 256.
import { type Gpa, gpa } from '../memory/guest-memory.ts';
import { AcpiBuildError } from './errors.ts';
import { IOAPIC_PADDR, LAPIC_PADDR } from './guest-layout.ts';

export const ACPI_PM1A_EVT_BLK = 0x600;
export const ACPI_PM1_EVT_LEN = 4;
export const ACPI_PM1A_CNT_BLK = 0x604;
export const ACPI_PM1_CNT_LEN = 2;
export const ACPI_PM_TMR_BLK = 0x608;
export const ACPI_PM_TMR_LEN = 4;
/** The PM timer's fixed rate (ACPI spec: 3.579545 MHz). */
export const ACPI_PM_TIMER_HZ = 3_579_545;
export const ACPI_RESET_PORT = 0xcf9;
export const ACPI_RESET_VALUE = 0x06;
/** ISA IRQ of the SCI: level-triggered, active high, as on PC chipsets. */
export const ACPI_SCI_IRQ = 9;
/** The SLP_TYP value our DSDT gives for S5 (soft off). */
export const ACPI_S5_SLP_TYP = 5;

/** PM1 control register bits. */
export const ACPI_PM1_CNT_SCI_EN = 1 << 0;
export const ACPI_PM1_CNT_SLP_TYP_SHIFT = 10;
export const ACPI_PM1_CNT_SLP_TYP_MASK = 7 << ACPI_PM1_CNT_SLP_TYP_SHIFT;
export const ACPI_PM1_CNT_SLP_EN = 1 << 13;

/** What a guest's write to PM1a_CNT asks for. */
export type Pm1ControlRequest = { readonly kind: 'sleep'; readonly slpTyp: number } | { readonly kind: 'none' };

export function decodePm1aControlWrite(value: number): Pm1ControlRequest {
  if ((value & ACPI_PM1_CNT_SLP_EN) === 0) return { kind: 'none' };
  return { kind: 'sleep', slpTyp: (value & ACPI_PM1_CNT_SLP_TYP_MASK) >> ACPI_PM1_CNT_SLP_TYP_SHIFT };
}

const OEM_ID = 'XLTS  ';
const OEM_TABLE_ID = 'XLTSPVH ';
const CREATOR_ID = 'XLTS';
const HEADER_SIZE = 36;
const RSDP_SIZE = 36;
const FACS_SIZE = 64;
const FADT_SIZE = 276;
/** MADT local APIC entries carry 8-bit ids; more vCPUs would need x2APIC entries. */
export const ACPI_MAX_VCPUS = 255;

// FADT flags and IA-PC boot architecture flags.
const FADT_WBINVD = 1 << 0;
const FADT_C1_SUPPORTED = 1 << 2;
const FADT_POWER_BUTTON = 1 << 4; // power button is not a fixed feature (we have none)
const FADT_SLEEP_BUTTON = 1 << 5;
const FADT_TMR_VAL_EXT = 1 << 8; // the PM timer counts 32 bits, not 24
const FADT_RESET_REGISTER = 1 << 10;
const BOOT_ARCH_VGA_NOT_PRESENT = 1 << 2;
/** C2/C3 latencies above these limits mean "not supported". */
const C2_NOT_SUPPORTED = 101;
const C3_NOT_SUPPORTED = 1001;
const GAS_SYSTEM_IO = 1;
const GAS_ACCESS_BYTE = 1;
const GAS_ACCESS_WORD = 2;
const GAS_ACCESS_DWORD = 3;

// MADT entry types and flags.
const MADT_PCAT_COMPAT = 1 << 0;
const MADT_LOCAL_APIC = 0;
const MADT_IO_APIC = 1;
const MADT_INTERRUPT_OVERRIDE = 2;
const MADT_LOCAL_APIC_NMI = 4;
const MADT_LAPIC_ENABLED = 1 << 0;
const MPS_INTI_ACTIVE_HIGH = 1;
const MPS_INTI_LEVEL = 3 << 2;
const ALL_PROCESSORS = 0xff;

export interface AcpiRequest {
  /** Guest-physical address of the table area (RSDP first: keep it in 0xe0000-0xfffff for the legacy scan). */
  readonly base: Gpa;
  readonly size: number;
  readonly vcpus: number;
}

export interface AcpiTables {
  /** The table area's contents, to be copied to `base`. */
  readonly bytes: Uint8Array;
  readonly base: Gpa;
  /** What start_info.rsdp_paddr should say. */
  readonly rsdp: Gpa;
  /** Where each table is, by signature (RSDP included as "RSD PTR"). */
  readonly tables: Readonly<Record<string, Gpa>>;
}

export function buildAcpiTables(req: AcpiRequest): AcpiTables {
  if (!Number.isInteger(req.vcpus) || req.vcpus < 1 || req.vcpus > ACPI_MAX_VCPUS) {
    throw new AcpiBuildError(`${req.vcpus} vCPUs: the MADT describes 1 to ${ACPI_MAX_VCPUS}`);
  }
  if (req.base % 16 !== 0) throw new AcpiBuildError(`ACPI area at 0x${req.base.toString(16)} is not 16-byte aligned (the RSDP must be)`);
  if (req.base + req.size > 2 ** 32) throw new AcpiBuildError('ACPI area must lie below 4 GiB (the FADT and RSDT hold 32-bit addresses)');

  // Place every table first (addresses are cross-referenced), then encode.
  const place = new Placer(req.base, req.size);
  const rsdpAt = place.take(RSDP_SIZE, 16);
  const dsdt = encodeDsdt();
  const madt = encodeMadt(req.vcpus);
  const xsdtAt = place.take(HEADER_SIZE + 2 * 8, 16);
  const rsdtAt = place.take(HEADER_SIZE + 2 * 4, 16);
  const fadtAt = place.take(FADT_SIZE, 16);
  const facsAt = place.take(FACS_SIZE, 64);
  const dsdtAt = place.take(dsdt.length, 16);
  const madtAt = place.take(madt.length, 16);

  const area = new Uint8Array(place.used);
  const put = (at: number, bytes: Uint8Array): void => area.set(bytes, at - req.base);
  put(dsdtAt, dsdt);
  put(madtAt, madt);
  put(facsAt, encodeFacs());
  put(fadtAt, encodeFadt(facsAt, dsdtAt));
  put(xsdtAt, encodeSdt('XSDT', 1, [fadtAt, madtAt], 8));
  put(rsdtAt, encodeSdt('RSDT', 1, [fadtAt, madtAt], 4));
  put(rsdpAt, encodeRsdp(rsdtAt, xsdtAt));

  return {
    bytes: area,
    base: req.base,
    rsdp: gpa(rsdpAt),
    tables: {
      'RSD PTR': gpa(rsdpAt),
      XSDT: gpa(xsdtAt),
      RSDT: gpa(rsdtAt),
      FACP: gpa(fadtAt),
      FACS: gpa(facsAt),
      DSDT: gpa(dsdtAt),
      APIC: gpa(madtAt),
    },
  };
}

/** Byte sum of a table; a valid table (checksum included) sums to 0 mod 256. */
export function acpiChecksum(bytes: Uint8Array): number {
  let sum = 0;
  for (const b of bytes) sum = (sum + b) & 0xff;
  return sum;
}

class Placer {
  used = 0;

  constructor(
    private readonly base: number,
    private readonly size: number,
  ) {}

  take(length: number, align: number): number {
    const at = Math.ceil((this.base + this.used) / align) * align;
    if (at + length > this.base + this.size) throw new AcpiBuildError(`ACPI tables need more than the ${this.size}-byte area`);
    this.used = at + length - this.base;
    return at;
  }
}

/** Little-endian writer over a fixed-size table. */
class TableWriter {
  readonly bytes: Uint8Array;
  private readonly dv: DataView;

  constructor(length: number) {
    this.bytes = new Uint8Array(length);
    this.dv = new DataView(this.bytes.buffer);
  }

  u8(at: number, v: number): this {
    this.dv.setUint8(at, v);
    return this;
  }

  u16(at: number, v: number): this {
    this.dv.setUint16(at, v, true);
    return this;
  }

  u32(at: number, v: number): this {
    this.dv.setUint32(at, v, true);
    return this;
  }

  u64(at: number, v: number): this {
    this.dv.setBigUint64(at, BigInt(v), true);
    return this;
  }

  ascii(at: number, s: string, width: number): this {
    if (s.length !== width) throw new AcpiBuildError(`"${s}" is not ${width} characters`);
    for (let i = 0; i < width; i++) this.bytes[at + i] = s.charCodeAt(i);
    return this;
  }

  /** Generic Address Structure: space, bit width, bit offset, access size, 64-bit address. */
  gas(at: number, space: number, bitWidth: number, accessSize: number, address: number): this {
    return this.u8(at, space).u8(at + 1, bitWidth).u8(at + 2, 0).u8(at + 3, accessSize).u64(at + 4, address);
  }

  /** The common 36-byte header; call last, as it computes the checksum over the whole table. */
  header(signature: string, revision: number): Uint8Array {
    this.ascii(0, signature, 4)
      .u32(4, this.bytes.length)
      .u8(8, revision)
      .u8(9, 0)
      .ascii(10, OEM_ID, 6)
      .ascii(16, OEM_TABLE_ID, 8)
      .u32(24, 1)
      .ascii(28, CREATOR_ID, 4)
      .u32(32, 1);
    this.u8(9, (0x100 - acpiChecksum(this.bytes)) & 0xff);
    return this.bytes;
  }
}

function encodeRsdp(rsdt: number, xsdt: number): Uint8Array {
  const w = new TableWriter(RSDP_SIZE);
  w.ascii(0, 'RSD PTR ', 8).ascii(9, OEM_ID, 6).u8(15, 2).u32(16, rsdt).u32(20, RSDP_SIZE).u64(24, xsdt);
  // The first checksum covers the ACPI 1.0 part (20 bytes), the extended one all 36.
  w.u8(8, (0x100 - acpiChecksum(w.bytes.subarray(0, 20))) & 0xff);
  w.u8(32, (0x100 - acpiChecksum(w.bytes)) & 0xff);
  return w.bytes;
}

/** RSDT (4-byte entries) or XSDT (8-byte entries). */
function encodeSdt(signature: 'RSDT' | 'XSDT', revision: number, entries: readonly number[], width: 4 | 8): Uint8Array {
  const w = new TableWriter(HEADER_SIZE + entries.length * width);
  entries.forEach((e, i) => (width === 8 ? w.u64(HEADER_SIZE + i * 8, e) : w.u32(HEADER_SIZE + i * 4, e)));
  return w.header(signature, revision);
}

function encodeFadt(facs: number, dsdt: number): Uint8Array {
  const w = new TableWriter(FADT_SIZE);
  w.u32(36, facs) // FIRMWARE_CTRL
    .u32(40, dsdt)
    .u8(45, 0) // preferred PM profile: unspecified
    .u16(46, ACPI_SCI_IRQ)
    .u32(48, 0) // SMI_CMD 0: no SMM, the system is always in ACPI mode
    .u32(56, ACPI_PM1A_EVT_BLK)
    .u32(64, ACPI_PM1A_CNT_BLK)
    .u32(76, ACPI_PM_TMR_BLK)
    .u8(88, ACPI_PM1_EVT_LEN)
    .u8(89, ACPI_PM1_CNT_LEN)
    .u8(91, ACPI_PM_TMR_LEN)
    .u16(96, C2_NOT_SUPPORTED)
    .u16(98, C3_NOT_SUPPORTED)
    // A CMOS RTC is there (hypervisor/devices/cmos-rtc.ts); no VGA, no 8042 declared.
    .u16(109, BOOT_ARCH_VGA_NOT_PRESENT)
    .u32(112, FADT_WBINVD | FADT_C1_SUPPORTED | FADT_POWER_BUTTON | FADT_SLEEP_BUTTON | FADT_TMR_VAL_EXT | FADT_RESET_REGISTER)
    .gas(116, GAS_SYSTEM_IO, 8, GAS_ACCESS_BYTE, ACPI_RESET_PORT)
    .u8(128, ACPI_RESET_VALUE)
    .u8(131, 0) // FADT minor version
    .u64(132, facs) // X_FIRMWARE_CTRL
    .u64(140, dsdt) // X_DSDT
    .gas(148, GAS_SYSTEM_IO, ACPI_PM1_EVT_LEN * 8, GAS_ACCESS_DWORD, ACPI_PM1A_EVT_BLK)
    .gas(172, GAS_SYSTEM_IO, ACPI_PM1_CNT_LEN * 8, GAS_ACCESS_WORD, ACPI_PM1A_CNT_BLK)
    .gas(208, GAS_SYSTEM_IO, ACPI_PM_TMR_LEN * 8, GAS_ACCESS_DWORD, ACPI_PM_TMR_BLK)
    .ascii(268, 'xlts\0\0\0\0', 8); // hypervisor vendor identity
  return w.header('FACP', 6);
}

function encodeFacs(): Uint8Array {
  // No checksum: the FACS is read-write firmware/OS shared memory. Version 2, no waking vector.
  return new TableWriter(FACS_SIZE).ascii(0, 'FACS', 4).u32(4, FACS_SIZE).u8(32, 2).bytes;
}

/**
 * The DSDT's AML: only `Name (_S5, Package (4) { 5, 5, 0, 0 })` at the root, which tells the OS
 * what SLP_TYP to write to PM1a/PM1b control for soft-off.
 */
export function s5Aml(): Uint8Array {
  const NAME_OP = 0x08;
  const PACKAGE_OP = 0x12;
  const BYTE_PREFIX = 0x0a;
  const ZERO_OP = 0x00;
  const elements = [BYTE_PREFIX, ACPI_S5_SLP_TYP, BYTE_PREFIX, ACPI_S5_SLP_TYP, ZERO_OP, ZERO_OP];
  // PkgLength counts itself (one byte, as the package is < 64 bytes), NumElements and the elements.
  const pkgLength = 1 + 1 + elements.length;
  return new Uint8Array([NAME_OP, ...'_S5_'.split('').map((c) => c.charCodeAt(0)), PACKAGE_OP, pkgLength, 4, ...elements]);
}

function encodeDsdt(): Uint8Array {
  const aml = s5Aml();
  const w = new TableWriter(HEADER_SIZE + aml.length);
  w.bytes.set(aml, HEADER_SIZE);
  return w.header('DSDT', 2);
}

function encodeMadt(vcpus: number): Uint8Array {
  const LAPIC_LEN = 8;
  const IOAPIC_LEN = 12;
  const OVERRIDE_LEN = 10;
  const NMI_LEN = 6;
  const overrides: readonly (readonly [source: number, gsi: number, flags: number])[] = [
    [0, 2, 0], // the PIT's IRQ 0 arrives on IOAPIC pin 2, as on every PC
    [ACPI_SCI_IRQ, ACPI_SCI_IRQ, MPS_INTI_ACTIVE_HIGH | MPS_INTI_LEVEL],
  ];
  const length = 44 + vcpus * LAPIC_LEN + IOAPIC_LEN + overrides.length * OVERRIDE_LEN + NMI_LEN;
  const w = new TableWriter(length);
  w.u32(36, LAPIC_PADDR).u32(40, MADT_PCAT_COMPAT);
  let at = 44;
  for (let i = 0; i < vcpus; i++) {
    // The ACPI processor UID is what Linux takes as an AP's Xen vCPU id: it must be the vCPU index.
    w.u8(at, MADT_LOCAL_APIC).u8(at + 1, LAPIC_LEN).u8(at + 2, i).u8(at + 3, i).u32(at + 4, MADT_LAPIC_ENABLED);
    at += LAPIC_LEN;
  }
  w.u8(at, MADT_IO_APIC).u8(at + 1, IOAPIC_LEN).u8(at + 2, 0).u32(at + 4, IOAPIC_PADDR).u32(at + 8, 0);
  at += IOAPIC_LEN;
  for (const [source, gsi, flags] of overrides) {
    w.u8(at, MADT_INTERRUPT_OVERRIDE).u8(at + 1, OVERRIDE_LEN).u8(at + 2, 0).u8(at + 3, source).u32(at + 4, gsi).u16(at + 8, flags);
    at += OVERRIDE_LEN;
  }
  // LINT1 of every local APIC is the NMI input.
  w.u8(at, MADT_LOCAL_APIC_NMI).u8(at + 1, NMI_LEN).u8(at + 2, ALL_PROCESSORS).u16(at + 3, 0).u8(at + 5, 1);
  return w.header('APIC', 5);
}
