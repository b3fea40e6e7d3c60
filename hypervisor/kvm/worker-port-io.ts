// The seam for port I/O a vCPU worker answers itself, without handing the exit to the main
// thread. A main-thread hop costs 400-800 us in the lab, and a booting Linux pokes legacy ports
// (the CMOS RTC, PCI configuration space it finds empty) tens of thousands of times; a device
// that needs no domain state can live in the worker and answer in the time of the KVM_RUN
// round trip. The KVM layer still knows no devices: the caller names a module that builds the
// handler inside the worker, and hands it structured-cloneable configuration (SharedArrayBuffers
// included, for state several vCPUs share).
import type { IoExit } from './vcpu-exit.ts';

/** Answers some port-I/O exits inside the worker; `false` sends the exit on to the main thread. */
export interface WorkerPortIoHandler {
  handle(exit: IoExit): boolean;
}

/**
 * Which module builds the handler, and its configuration. The module must export
 * `createWorkerPortIo(config: unknown, vcpuId: number): WorkerPortIoHandler`.
 */
export interface WorkerPortIoSpec {
  /** A file: URL (import.meta.resolve or new URL(..., import.meta.url).href). */
  readonly module: string;
  readonly config: unknown;
}

export type WorkerPortIoFactory = (config: unknown, vcpuId: number) => WorkerPortIoHandler;

/** Exits a worker answered itself, by "in|out 0xPORT": posted once when the worker ends. */
export interface WorkerPortIoStats {
  readonly type: 'port-io-stats';
  readonly counts: ReadonlyArray<readonly [string, number]>;
}

export function isWorkerPortIoStats(value: unknown): value is WorkerPortIoStats {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return v.type === 'port-io-stats' && Array.isArray(v.counts);
}

export function portIoKey(exit: IoExit): string {
  return `${exit.direction} 0x${exit.port.toString(16)}`;
}
