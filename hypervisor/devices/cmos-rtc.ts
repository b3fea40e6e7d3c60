// The MC146818 real-time clock and CMOS RAM behind ports 0x70 (index) and 0x71 (data), as on
// every PC. Linux reads it for the wall-clock time at boot (without it: "Unable to read current
// time from RTC" and a 1970 clock) and its rtc-cmos driver probes it; answered with "all ones",
// those reads become a busy loop of tens of thousands of exits waiting for an update that
// never ends (register A's UIP bit stays set).
//
// The clock shows the host's UTC time, always: writes to the time registers are ignored (a
// guest's `hwclock --systohc` does not move the host's clock, and there is no per-domain offset
// yet). Registers A and B and the CMOS RAM (0x0e-0x7f) keep what the guest writes, in a
// SharedArrayBuffer so every vCPU worker sees the same bytes; the index register is per vCPU,
// which is safe because Linux writes the index and reads the data under one spinlock on one CPU.
// No RTC interrupt (IRQ 8) is raised: periodic, alarm and update-ended interrupts stay off.

/** Ports of the RTC: index (bit 7 of a write masks NMIs on real hardware) and data. */
export const RTC_PORT_INDEX = 0x70;
export const RTC_PORT_DATA = 0x71;

/** Register numbers, in the names Linux's mc146818rtc.h gives them. */
export const RTC_SECONDS = 0x00;
export const RTC_MINUTES = 0x02;
export const RTC_HOURS = 0x04;
export const RTC_DAY_OF_WEEK = 0x06;
export const RTC_DAY_OF_MONTH = 0x07;
export const RTC_MONTH = 0x08;
export const RTC_YEAR = 0x09;
export const RTC_REG_A = 0x0a;
export const RTC_REG_B = 0x0b;
export const RTC_REG_C = 0x0c;
export const RTC_REG_D = 0x0d;
/** The IBM PC century byte (the FADT's century field is 0, so Linux does not read it). */
export const RTC_CENTURY = 0x32;

export const RTC_UIP = 0x80;
/** Register A: divider 010 (32.768 kHz time base), rate 0110 (1024 Hz); UIP clear. */
const RTC_REG_A_DEFAULT = 0x26;
export const RTC_SET = 0x80;
export const RTC_DM_BINARY = 0x04;
export const RTC_24H = 0x02;
const RTC_REG_B_DEFAULT = RTC_24H;
/** Register D: valid RAM and time (VRT). */
export const RTC_VRT = 0x80;

export const CMOS_SIZE = 128;
const INDEX_MASK = 0x7f;

/** The CMOS bytes every vCPU shares; pass it to each worker's CmosRtc. */
export function createCmosState(): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(CMOS_SIZE);
  const bytes = new Uint8Array(sab);
  bytes[RTC_REG_A] = RTC_REG_A_DEFAULT;
  bytes[RTC_REG_B] = RTC_REG_B_DEFAULT;
  bytes[RTC_REG_D] = RTC_VRT;
  return sab;
}

const toBcd = (n: number): number => ((Math.floor(n / 10) % 10) << 4) | n % 10;

export class CmosRtc {
  private readonly cmos: Uint8Array;
  private index = 0;

  constructor(
    state: SharedArrayBuffer,
    private readonly now: () => Date = () => new Date(),
  ) {
    if (state.byteLength !== CMOS_SIZE) throw new RangeError(`CMOS state must be ${CMOS_SIZE} bytes, got ${state.byteLength}`);
    this.cmos = new Uint8Array(state);
  }

  writeIndex(value: number): void {
    this.index = value & INDEX_MASK;
  }

  readIndex(): number {
    return this.index;
  }

  readData(): number {
    const reg = this.index;
    if (reg <= RTC_YEAR || reg === RTC_CENTURY) return this.timeRegister(reg);
    if (reg === RTC_REG_C) return 0; // no interrupt flags: none are ever raised
    if (reg === RTC_REG_D) return RTC_VRT;
    return Atomics.load(this.cmos, reg);
  }

  writeData(value: number): void {
    const reg = this.index;
    if (reg <= RTC_YEAR || reg === RTC_CENTURY || reg === RTC_REG_C || reg === RTC_REG_D) return; // see the header
    // Register A's UIP bit is read-only; the rest of A and B and the RAM keep what is written.
    Atomics.store(this.cmos, reg, reg === RTC_REG_A ? value & ~RTC_UIP & 0xff : value & 0xff);
  }

  private timeRegister(reg: number): number {
    const t = this.now();
    const b = Atomics.load(this.cmos, RTC_REG_B);
    const enc = (n: number): number => ((b & RTC_DM_BINARY) !== 0 ? n : toBcd(n));
    switch (reg) {
      case RTC_SECONDS:
        return enc(t.getUTCSeconds());
      case RTC_MINUTES:
        return enc(t.getUTCMinutes());
      case RTC_HOURS: {
        const h = t.getUTCHours();
        if ((b & RTC_24H) !== 0) return enc(h);
        // 12-hour mode: 1-12, with bit 7 for PM.
        return enc(h % 12 === 0 ? 12 : h % 12) | (h >= 12 ? 0x80 : 0);
      }
      case RTC_DAY_OF_WEEK:
        return enc(t.getUTCDay() + 1);
      case RTC_DAY_OF_MONTH:
        return enc(t.getUTCDate());
      case RTC_MONTH:
        return enc(t.getUTCMonth() + 1);
      case RTC_YEAR:
        return enc(t.getUTCFullYear() % 100);
      case RTC_CENTURY:
        return enc(Math.floor(t.getUTCFullYear() / 100));
      default:
        return 0; // the alarm registers: no alarm is ever armed
    }
  }
}
