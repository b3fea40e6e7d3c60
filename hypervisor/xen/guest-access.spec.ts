import { describe, expect, it } from 'vitest';
import { PAGE_SIZE, gpa } from '../memory/guest-memory.ts';
import { GuestFaultError, XEN_EFAULT } from './errors.ts';
import { GuestAccess, identityTranslate } from './guest-access.ts';
import { ArrayGuestMemory, PagedCpu } from './test-support.ts';
import { evtchn_bind_virq } from './wire.ts';

const KVA = 0xffff_8880_0000_0000n; // a Linux direct-map address: above 2^53, needs bigint

describe('GuestAccess', () => {
  it('translates each page of a range that crosses a page boundary', () => {
    const mem = ArrayGuestMemory.flat(8);
    // Virtually adjacent pages backed by physical pages 5 and 2: not contiguous.
    const cpu = new PagedCpu().map(KVA, 5 * PAGE_SIZE).map(KVA + 4096n, 2 * PAGE_SIZE);
    const access = new GuestAccess(mem, cpu);
    const data = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
    access.copyOut(KVA + 4088n, data);
    expect(Array.from(mem.view(gpa(5 * PAGE_SIZE + 4088), 8))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(Array.from(mem.view(gpa(2 * PAGE_SIZE), 8))).toEqual([9, 10, 11, 12, 13, 14, 15, 16]);
    expect(Array.from(access.copyIn(KVA + 4088n, 16))).toEqual(Array.from(data));
  });

  it('faults on a non-canonical pointer even where the translator would map it', () => {
    // KVM_TRANSLATE maps 0x8000000000000000 like 0 (it only walks the low 48 bits); a CPU faults.
    const mem = ArrayGuestMemory.flat(1);
    const access = new GuestAccess(mem, { vcpuId: 0, cpl: 0, translate: () => gpa(0) });
    expect(() => access.copyOut(0x8000_0000_0000_0000n, new Uint8Array(4))).toThrow(/not canonical/);
    expect(() => access.copyIn(0x0000_8000_0000_0000n, 4)).toThrow(GuestFaultError);
    // A range that runs from the top of the lower half into the hole faults too, writing nothing.
    expect(() => access.copyOut(0x0000_7fff_ffff_fffcn, new Uint8Array(8))).toThrow(GuestFaultError);
    expect(mem.view(gpa(0), 8).every((b) => b === 0)).toBe(true);
    expect(access.copyIn(KVA, 4)).toHaveLength(4);
  });

  it('returns a private copy: later guest writes do not change it', () => {
    const mem = ArrayGuestMemory.flat(1);
    const access = new GuestAccess(mem, { vcpuId: 0, cpl: 0, translate: identityTranslate });
    const copy = access.copyIn(0n, 4);
    mem.view(gpa(0), 1)[0] = 0xaa;
    expect(copy[0]).toBe(0);
  });

  it('faults on an unmapped second page without writing the first', () => {
    const mem = ArrayGuestMemory.flat(4);
    const cpu = new PagedCpu().map(KVA, 0);
    const access = new GuestAccess(mem, cpu);
    const err = (() => {
      try {
        access.copyOut(KVA + 4094n, new Uint8Array([1, 2, 3, 4]));
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(GuestFaultError);
    expect((err as GuestFaultError).errno).toBe(XEN_EFAULT);
    expect(mem.view(gpa(4094), 2)).toEqual(new Uint8Array(2));
  });

  it('faults on writes through a read-only mapping, on holes and on wrap-around', () => {
    const mem = new ArrayGuestMemory([
      { base: 0, size: PAGE_SIZE },
      { base: 4 * PAGE_SIZE, size: PAGE_SIZE },
    ]);
    const ro = new GuestAccess(mem, new PagedCpu().map(KVA, 0, false));
    expect(() => ro.copyIn(KVA, 8)).not.toThrow();
    expect(() => ro.copyOut(KVA, new Uint8Array(8))).toThrow(GuestFaultError);

    const id = new GuestAccess(mem, { vcpuId: 0, cpl: 0, translate: identityTranslate });
    expect(() => id.copyIn(BigInt(2 * PAGE_SIZE), 4)).toThrow(GuestFaultError); // hole
    expect(() => id.copyIn(BigInt(PAGE_SIZE - 2), 4)).toThrow(GuestFaultError); // runs into the hole
    expect(() => id.copyIn(0xffff_ffff_ffff_fffen, 4)).toThrow(GuestFaultError); // wraps
    expect(() => id.copyIn(1n << 60n, 4)).toThrow(GuestFaultError); // beyond identity range
  });

  it('reads and writes structs through their layouts', () => {
    const mem = ArrayGuestMemory.flat(1);
    const access = new GuestAccess(mem, { vcpuId: 0, cpl: 0, translate: identityTranslate });
    access.write(evtchn_bind_virq, 0x100n, { virq: 1, vcpu: 2, port: 3 });
    expect(access.read(evtchn_bind_virq, 0x100n)).toEqual({ virq: 1, vcpu: 2, port: 3 });
  });
});
