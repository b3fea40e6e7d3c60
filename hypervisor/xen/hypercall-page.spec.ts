import { describe, expect, it } from 'vitest';
import { gpa } from '../memory/guest-memory.ts';
import { __HYPERVISOR_event_channel_op, __HYPERVISOR_iret } from './abi.ts';
import { HypercallMsrError, XEN_HYPERCALL_PORT, buildHypercallPage, installHypercallPage } from './hypercall-page.ts';
import { ArrayGuestMemory } from './test-support.ts';

/** A decoder for exactly the instructions a stub may contain; anything else is an error. */
function decodeStub(bytes: Uint8Array): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < bytes.length) {
    const op = bytes[i]!;
    if (op === 0xb8) {
      out.push(`mov $${new DataView(bytes.buffer, bytes.byteOffset + i + 1, 4).getUint32(0, true)}, %eax`);
      i += 5;
    } else if (op === 0xe7) {
      out.push(`out %eax, $0x${bytes[i + 1]!.toString(16)}`);
      i += 2;
    } else if (op === 0xc3) {
      out.push('ret');
      i += 1;
    } else if (op === 0x0f && bytes[i + 1] === 0x0b) {
      out.push('ud2');
      i += 2;
    } else if (op === 0xcc) {
      out.push('int3');
      i += 1;
    } else {
      throw new Error(`unexpected opcode 0x${op.toString(16)} at ${i}`);
    }
  }
  return out;
}

describe('buildHypercallPage', () => {
  const page = buildHypercallPage();

  it('is one page of 128 32-byte stubs: mov $nr,%eax; out %eax,$port; ret; int3 padding', () => {
    expect(page.length).toBe(4096);
    for (let nr = 0; nr < 128; nr++) {
      const stub = decodeStub(page.subarray(nr * 32, nr * 32 + 32));
      if (nr === __HYPERVISOR_iret) {
        expect(stub).toEqual(['ud2', ...new Array(30).fill('int3')]);
      } else {
        expect(stub.slice(0, 3)).toEqual([`mov $${nr}, %eax`, `out %eax, $0x${XEN_HYPERCALL_PORT.toString(16)}`, 'ret']);
        expect(stub.slice(3)).toEqual(new Array(24).fill('int3'));
      }
    }
  });

  it('encodes the chosen port and the exact bytes of a stub', () => {
    const p = buildHypercallPage(0x42);
    const at = __HYPERVISOR_event_channel_op * 32;
    expect(Array.from(p.subarray(at, at + 8))).toEqual([0xb8, 32, 0, 0, 0, 0xe7, 0x42, 0xc3]);
    expect(() => buildHypercallPage(0x100)).toThrow(RangeError);
    expect(() => buildHypercallPage(0x5e5e)).toThrow(RangeError);
  });
});

describe('installHypercallPage', () => {
  it('writes the page at the address given to the MSR', () => {
    const mem = ArrayGuestMemory.flat(4);
    expect(installHypercallPage(mem, 0x2000n)).toBe(0x2000);
    expect(mem.view(gpa(0x2000), 4096)).toEqual(buildHypercallPage());
  });

  it('refuses page indexes other than 0 and pages outside RAM', () => {
    const mem = ArrayGuestMemory.flat(4);
    expect(() => installHypercallPage(mem, 0x2001n)).toThrow(HypercallMsrError);
    expect(() => installHypercallPage(mem, 0x4000n)).toThrow(HypercallMsrError);
    expect(() => installHypercallPage(mem, 1n << 63n)).toThrow(HypercallMsrError);
  });
});
