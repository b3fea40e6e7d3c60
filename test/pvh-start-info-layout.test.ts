// Differential check of the boot-ABI layouts: the C compiler's view of Xen's public header
// (libxen-dev's /usr/include/xen/arch-x86/hvm/start_info.h) against our declarations as data,
// through the one gcc probe helper (ring-buffer/testing/c-layout-check.ts).
import * as fs from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import {
  XEN_HVM_MEMMAP_TYPE_PMEM,
  XEN_HVM_MEMMAP_TYPE_RAM,
  XEN_HVM_MEMMAP_TYPE_RESERVED,
  XEN_HVM_START_MAGIC_VALUE,
  hvmMemmapTableEntry,
  hvmModlistEntry,
  hvmStartInfo,
} from '../hypervisor/pvh/start-info.ts';
import { type Probe, compare, layoutProbes, runProbes } from '../ring-buffer/testing/c-layout-check.ts';

const HEADER = '/usr/include/xen/arch-x86/hvm/start_info.h';

const layouts = [hvmStartInfo.layout, hvmModlistEntry.layout, hvmMemmapTableEntry.layout];

const constants: Probe[] = [
  { key: 'XEN_HVM_START_MAGIC_VALUE', expected: XEN_HVM_START_MAGIC_VALUE, num: 'XEN_HVM_START_MAGIC_VALUE' },
  { key: 'XEN_HVM_MEMMAP_TYPE_RAM', expected: XEN_HVM_MEMMAP_TYPE_RAM, num: 'XEN_HVM_MEMMAP_TYPE_RAM' },
  { key: 'XEN_HVM_MEMMAP_TYPE_RESERVED', expected: XEN_HVM_MEMMAP_TYPE_RESERVED, num: 'XEN_HVM_MEMMAP_TYPE_RESERVED' },
  { key: 'XEN_HVM_MEMMAP_TYPE_PMEM', expected: XEN_HVM_MEMMAP_TYPE_PMEM, num: 'XEN_HVM_MEMMAP_TYPE_PMEM' },
];

describe('hvm_start_info layouts match Xen\'s public header', () => {
  it('agrees with gcc on every size, offset and width', async () => {
    await fs.access(HEADER); // libxen-dev comes with `npm run setup`
    const probes = [...constants, ...layouts.flatMap((l) => layoutProbes(l))];
    // Every field of every layout is probed: size, offset, width (and signedness).
    for (const l of layouts) {
      expect(probes.filter((p) => p.key.startsWith(`${l.name}.`) && p.key.endsWith('.offset')).length, l.name).toBe(Object.keys(l.fields).length);
    }
    const { c, ours } = compare(probes, runProbes(['#include <stdint.h>', `#include "${HEADER}"`], probes));
    expect(c).toEqual(ours);
  });
});
