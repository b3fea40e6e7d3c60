import { describe, expect, it } from 'vitest';
import { GuestMemoryError } from '../memory/guest-memory.ts';
import { EVTCHNOP_init_control, __HYPERVISOR_event_channel_op, __HYPERVISOR_xen_version } from './abi.ts';
import { HypercallDispatcher, resultToRax } from './dispatcher.ts';
import { XEN_EFAULT, XEN_EINVAL, XEN_ENOSYS, XEN_EPERM } from './errors.ts';
import { identityTranslate } from './guest-access.ts';
import type { HypercallArgs } from './hypercall.ts';
import { RateLimitedLog } from './log.ts';
import { ArrayGuestMemory, RecordingLog, testDomain } from './test-support.ts';

const ZERO: HypercallArgs = [0n, 0n, 0n, 0n, 0n];

describe('HypercallDispatcher', () => {
  it('answers an unknown hypercall with -ENOSYS and one log line, however often it is called', () => {
    const t = testDomain();
    for (let i = 0; i < 1000; i++) expect(t.call(99).result).toBe(-XEN_ENOSYS);
    expect(t.log.lines).toEqual(['dom5 vcpu0: hypercall 99 is not implemented, returning -ENOSYS']);
    expect(t.call(2n ** 40n).result).toBe(-XEN_ENOSYS);
  });

  it('logs unknown sub-ops but not the ones refused on purpose', () => {
    const t = testDomain();
    expect(t.call(__HYPERVISOR_event_channel_op, 77, 0).result).toBe(-XEN_ENOSYS);
    expect(t.log.lines).toEqual(['dom5 vcpu0: event_channel_op(77) is not implemented, returning -ENOSYS']);
    expect(t.call(__HYPERVISOR_event_channel_op, EVTCHNOP_init_control, 0x1000).result).toBe(-XEN_ENOSYS);
    expect(t.log.lines.length).toBe(1);
  });

  it('refuses hypercalls from guest user mode with -EPERM', () => {
    const t = testDomain();
    expect(t.domain.dispatch(t.cpu(0, 3), __HYPERVISOR_xen_version, ZERO).result).toBe(-XEN_EPERM);
  });

  it('turns anything a family throws into -errno and keeps going', () => {
    const log = new RecordingLog();
    const d = new HypercallDispatcher({
      memory: ArrayGuestMemory.flat(1),
      log: new RateLimitedLog(log),
      families: [
        {
          nr: 1,
          name: 'buggy',
          handle: () => {
            throw new Error('oops');
          },
        },
        {
          nr: 2,
          name: 'leaky',
          handle: () => {
            throw new GuestMemoryError('raw view');
          },
        },
        {
          nr: 3,
          name: 'stringly',
          handle: () => {
            throw 'not an error';
          },
        },
        { nr: 4, name: 'ok', handle: () => 7 },
      ],
    });
    const cpu = { vcpuId: 0, cpl: 0, translate: identityTranslate };
    expect(d.dispatch(cpu, 1, ZERO).result).toBe(-XEN_EINVAL);
    expect(d.dispatch(cpu, 2, ZERO).result).toBe(-XEN_EFAULT);
    expect(d.dispatch(cpu, 3, ZERO).result).toBe(-XEN_EINVAL);
    expect(d.dispatch(cpu, 4n, ZERO).result).toBe(7);
    expect(d.dispatch(cpu, 4, [0n, -1n, 0n, 0n, 0n]).result).toBe(-XEN_EINVAL);
    expect(d.dispatch(cpu, 4, [0n, 1n << 64n, 0n, 0n, 0n]).result).toBe(-XEN_EINVAL);
    expect(log.lines.length).toBe(4);
    expect(d.implemented).toEqual([1, 2, 3, 4]);
  });

  it('refuses two families under one number', () => {
    const f = { nr: 1, name: 'a', handle: () => 0 };
    expect(() => new HypercallDispatcher({ memory: ArrayGuestMemory.flat(1), log: new RateLimitedLog(new RecordingLog()), families: [f, f] })).toThrow();
  });

  it('serves every family Linux PVH calls', () => {
    expect(testDomain().domain.dispatcher.implemented).toEqual([12, 17, 18, 20, 24, 29, 32, 34]);
  });

  it('converts results to rax values', () => {
    expect(resultToRax(-XEN_ENOSYS)).toBe(0xffff_ffff_ffff_ffdan);
    expect(resultToRax(0x40011)).toBe(0x40011n);
  });
});
