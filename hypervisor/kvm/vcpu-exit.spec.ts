// Decoding kvm_run exits from a synthetic page: no /dev/kvm needed.
import { describe, expect, it } from 'vitest';
import { KvmClosedError } from './errors.ts';
import { KVM_EXIT, KVM_EXIT_IO_IN, KVM_EXIT_IO_OUT, KVM_MSR_EXIT_REASON_FILTER, KVM_SYSTEM_EVENT } from './kvm-ioctls.ts';
import {
  KVM_RUN_EXIT_UNION_OFFSET as U,
  KVM_RUN_HEADER,
  KVM_RUN_INTERNAL,
  KVM_RUN_IO,
  KVM_RUN_MMIO,
  KVM_RUN_MSR,
  KVM_RUN_SYSTEM_EVENT,
} from './kvm-structs.ts';
import { KvmRunCorruptError, KvmRunPage } from './vcpu-exit.ts';

const PAGE = 4096;

function page(reason: number): { run: KvmRunPage; bytes: Uint8Array; view: DataView } {
  const buffer = new ArrayBuffer(2 * PAGE);
  const bytes = new Uint8Array(buffer);
  const view = new DataView(buffer);
  view.setUint32(KVM_RUN_HEADER.offsetOf('exit_reason'), reason, true);
  return { run: new KvmRunPage(buffer), bytes, view };
}

describe('KvmRunPage.decodeExit', () => {
  it('port I/O: direction, port, size, count and a live view of the data page', () => {
    const { run, bytes } = page(KVM_EXIT.KVM_EXIT_IO);
    KVM_RUN_IO.encode({ direction: KVM_EXIT_IO_OUT, size: 2, port: 0x1f0, count: 3, data_offset: BigInt(PAGE) }, bytes, U);
    bytes.set([1, 2, 3, 4, 5, 6], PAGE);
    const exit = run.decodeExit();
    expect(exit).toMatchObject({ kind: 'io', direction: 'out', port: 0x1f0, size: 2, count: 3 });
    if (exit.kind !== 'io') throw new Error('unreachable');
    expect([...exit.data]).toEqual([1, 2, 3, 4, 5, 6]);
    KVM_RUN_IO.encode({ direction: KVM_EXIT_IO_IN, size: 4, port: 0x12, count: 1, data_offset: BigInt(PAGE) }, bytes, U);
    const input = run.decodeExit();
    if (input.kind !== 'io') throw new Error('unreachable');
    input.data.set([9, 9, 9, 9]);
    expect([...bytes.subarray(PAGE, PAGE + 4)]).toEqual([9, 9, 9, 9]);
  });

  it('refuses I/O data outside the mapping and impossible sizes', () => {
    const { run, bytes } = page(KVM_EXIT.KVM_EXIT_IO);
    KVM_RUN_IO.encode({ direction: KVM_EXIT_IO_OUT, size: 4, port: 1, count: 1024, data_offset: BigInt(PAGE + 4) }, bytes, U);
    expect(() => run.decodeExit()).toThrow(KvmRunCorruptError);
    KVM_RUN_IO.encode({ direction: KVM_EXIT_IO_OUT, size: 4, port: 1, count: 1, data_offset: 8n }, bytes, U);
    expect(() => run.decodeExit()).toThrow(/outside/);
    KVM_RUN_IO.encode({ direction: KVM_EXIT_IO_OUT, size: 3, port: 1, count: 1, data_offset: BigInt(PAGE) }, bytes, U);
    expect(() => run.decodeExit()).toThrow(/io.size 3/);
    KVM_RUN_IO.encode({ direction: 7, size: 1, port: 1, count: 1, data_offset: BigInt(PAGE) }, bytes, U);
    expect(() => run.decodeExit()).toThrow(/direction/);
  });

  it('MMIO: address, direction and exactly len bytes of data', () => {
    const { run, bytes } = page(KVM_EXIT.KVM_EXIT_MMIO);
    KVM_RUN_MMIO.encode({ phys_addr: 0xfee0_0000n, data: [0xaa, 0xbb, 0, 0, 0, 0, 0, 0], len: 2, is_write: 1 }, bytes, U);
    const exit = run.decodeExit();
    expect(exit).toMatchObject({ kind: 'mmio', address: 0xfee0_0000, isWrite: true });
    if (exit.kind !== 'mmio') throw new Error('unreachable');
    expect([...exit.data]).toEqual([0xaa, 0xbb]);
    KVM_RUN_MMIO.encode({ phys_addr: 0n, data: [0, 0, 0, 0, 0, 0, 0, 0], len: 9, is_write: 0 }, bytes, U);
    expect(() => run.decodeExit()).toThrow(/mmio.len 9/);
  });

  it('MSR exits: respond() writes data and clears error, fail() sets error', () => {
    const { run, bytes, view } = page(KVM_EXIT.KVM_EXIT_X86_RDMSR);
    KVM_RUN_MSR.encode({ error: 0, reason: KVM_MSR_EXIT_REASON_FILTER, index: 0x4000_0200, data: 0n }, bytes, U);
    const rd = run.decodeExit();
    expect(rd).toMatchObject({ kind: 'rdmsr', index: 0x4000_0200, reason: 'filter' });
    if (rd.kind !== 'rdmsr') throw new Error('unreachable');
    rd.fail();
    expect(view.getUint8(U + KVM_RUN_MSR.offsetOf('error'))).toBe(1);
    rd.respond(-1n);
    expect(view.getUint8(U + KVM_RUN_MSR.offsetOf('error'))).toBe(0);
    expect(view.getBigUint64(U + KVM_RUN_MSR.offsetOf('data'), true)).toBe(0xffff_ffff_ffff_ffffn);
    view.setUint32(KVM_RUN_HEADER.offsetOf('exit_reason'), KVM_EXIT.KVM_EXIT_X86_WRMSR, true);
    KVM_RUN_MSR.encode({ error: 0, reason: KVM_MSR_EXIT_REASON_FILTER, index: 0x4000_0200, data: 0x5000n }, bytes, U);
    expect(run.decodeExit()).toMatchObject({ kind: 'wrmsr', index: 0x4000_0200, value: 0x5000n, reason: 'filter' });
    KVM_RUN_MSR.encode({ error: 0, reason: 3, index: 0, data: 0n }, bytes, U);
    expect(() => run.decodeExit()).toThrow(/msr.reason 3/);
  });

  it('system events, internal errors and exits with no payload', () => {
    const se = page(KVM_EXIT.KVM_EXIT_SYSTEM_EVENT);
    const data = Array.from({ length: 16 }, (_, i) => BigInt(i));
    KVM_RUN_SYSTEM_EVENT.encode({ type: KVM_SYSTEM_EVENT.KVM_SYSTEM_EVENT_RESET, ndata: 2, data }, se.bytes, U);
    expect(se.run.decodeExit()).toEqual({ kind: 'system_event', type: 'reset', typeCode: 2, data: [0n, 1n] });
    const ie = page(KVM_EXIT.KVM_EXIT_INTERNAL_ERROR);
    KVM_RUN_INTERNAL.encode({ suberror: 1, ndata: 40, data }, ie.bytes, U);
    const internal = ie.run.decodeExit();
    expect(internal).toMatchObject({ kind: 'internal_error', suberror: 1, suberrorName: 'KVM_INTERNAL_ERROR_EMULATION' });
    if (internal.kind === 'internal_error') expect(internal.data.length).toBe(16);
    expect(page(KVM_EXIT.KVM_EXIT_HLT).run.decodeExit()).toEqual({ kind: 'hlt' });
    expect(page(KVM_EXIT.KVM_EXIT_SHUTDOWN).run.decodeExit()).toEqual({ kind: 'shutdown' });
    expect(page(KVM_EXIT.KVM_EXIT_INTR).run.decodeExit()).toEqual({ kind: 'intr' });
    expect(page(KVM_EXIT.KVM_EXIT_DEBUG).run.decodeExit()).toMatchObject({ kind: 'unknown', exitReason: 4, exitReasonName: 'KVM_EXIT_DEBUG' });
    expect(page(99).run.decodeExit()).toMatchObject({ kind: 'unknown', exitReasonName: 'KVM_EXIT_99' });
  });

  it('immediate_exit is a byte of the header, and an unmapped page refuses access', () => {
    const { run, view, bytes } = page(KVM_EXIT.KVM_EXIT_X86_RDMSR);
    run.immediateExit = true;
    expect(view.getUint8(1)).toBe(1);
    KVM_RUN_MSR.encode({ error: 0, reason: KVM_MSR_EXIT_REASON_FILTER, index: 1, data: 0n }, bytes, U);
    const rd = run.decodeExit();
    run.unmapped();
    if (rd.kind !== 'rdmsr') throw new Error('unreachable');
    expect(() => rd.respond(1n)).toThrow(KvmClosedError);
    expect(() => run.immediateExit).toThrow(KvmClosedError);
    expect(() => run.decodeExit()).toThrow(KvmClosedError);
  });
});
