// The legacy PC ports a vCPU worker answers itself (hypervisor/kvm/worker-port-io.ts): ports a
// booting Linux reads thousands of times and whose answers need no domain state.
//
//   0x70-0x71   CMOS RTC (cmos-rtc.ts): the host's time, shared CMOS RAM
//   0x608       ACPI PM timer (FADT PM_TMR_BLK): 3.579545 MHz from the host's monotonic clock,
//               the reference Linux calibrates the TSC against (the PIT is too jittery when
//               nested); process.hrtime, not performance.now, so every worker counts alike
//   0x80        POST code / I/O delay port: writes ignored, reads all ones
//   0xcf8-0xcff PCI configuration mechanism #1: no PCI here (a PVH DomU has none): all ones.
//               Linux's AMD GART probe alone reads 8192 config slots this way at boot.
//
// Everything else (ACPI PM1a, reset, the hypercall port, unknown ports that deserve a log line)
// goes to the main thread's engine.
import type { IoExit } from '../kvm/vcpu-exit.ts';
import type { WorkerPortIoHandler } from '../kvm/worker-port-io.ts';
import { ACPI_PM_TIMER_HZ, ACPI_PM_TMR_BLK } from '../pvh/acpi.ts';
import { CmosRtc, RTC_PORT_DATA, RTC_PORT_INDEX, createCmosState } from './cmos-rtc.ts';

export const POST_PORT = 0x80;
export const PCI_CONFIG_ADDRESS = 0xcf8;
export const PCI_CONFIG_DATA_END = 0xcff;

export interface LegacyPortsConfig {
  readonly cmos: SharedArrayBuffer;
}

export function legacyPortsConfig(): LegacyPortsConfig {
  return { cmos: createCmosState() };
}

function isLegacyPortsConfig(value: unknown): value is LegacyPortsConfig {
  return typeof value === 'object' && value !== null && (value as { cmos?: unknown }).cmos instanceof SharedArrayBuffer;
}

export class LegacyPorts implements WorkerPortIoHandler {
  private readonly rtc: CmosRtc;

  constructor(
    config: LegacyPortsConfig,
    now?: () => Date,
    private readonly monotonicNs: () => bigint = () => process.hrtime.bigint(),
  ) {
    this.rtc = new CmosRtc(config.cmos, now);
  }

  /** The PM timer's count: ticks of the host's monotonic clock at ACPI_PM_TIMER_HZ, modulo 2^32. */
  pmTimer(): number {
    return Number(((this.monotonicNs() * BigInt(ACPI_PM_TIMER_HZ)) / 1_000_000_000n) & 0xffff_ffffn);
  }

  handle(exit: IoExit): boolean {
    const { port, data } = exit;
    // A string instruction (count > 1) on these ports is no driver's habit: let the engine log it.
    if (exit.count !== 1) return false;
    if (port === RTC_PORT_INDEX || port === RTC_PORT_DATA) {
      if (exit.size !== 1) return false;
      if (exit.direction === 'out') {
        if (port === RTC_PORT_INDEX) this.rtc.writeIndex(data[0] ?? 0);
        else this.rtc.writeData(data[0] ?? 0);
      } else {
        data[0] = port === RTC_PORT_INDEX ? this.rtc.readIndex() : this.rtc.readData();
      }
      return true;
    }
    if (port === ACPI_PM_TMR_BLK) {
      if (exit.direction === 'in') {
        const t = this.pmTimer();
        for (let i = 0; i < exit.size; i++) data[i] = (t >>> (8 * i)) & 0xff;
      }
      return true;
    }
    if (port === POST_PORT || (port >= PCI_CONFIG_ADDRESS && port <= PCI_CONFIG_DATA_END)) {
      if (exit.direction === 'in') data.fill(0xff);
      return true;
    }
    return false;
  }
}

/** The worker-side factory named by the shim's WorkerPortIoSpec. */
export function createWorkerPortIo(config: unknown): WorkerPortIoHandler {
  if (!isLegacyPortsConfig(config)) throw new TypeError('legacy-ports: configuration without a CMOS SharedArrayBuffer');
  return new LegacyPorts(config);
}

export const LEGACY_PORTS_MODULE = new URL('./legacy-ports.ts', import.meta.url).href;
