import { describe, expect, it } from 'vitest';
import { type AnyStructLayout, LayoutError, defineStruct } from '../../ring-buffer/layout.ts';
import { type Probe, compare, layoutProbes, runProbes } from '../../ring-buffer/testing/c-layout-check.ts';
import { SHARED_INFO_LAYOUTS } from './shared-info.ts';
import { WIRE_LAYOUTS, e820entry, evtchn_status, xen_add_to_physmap } from './wire.ts';

// Every layout we declare, compared with what gcc computes from the installed Xen headers.
const LAYOUTS: readonly AnyStructLayout[] = [...WIRE_LAYOUTS, ...SHARED_INFO_LAYOUTS, e820entry];

/** Extra C facts that a layout cannot name because they alias a declared field. */
const ALIASES: ReadonlyArray<{ cName: string; member: string; offset: number; size: number }> = [
  { cName: evtchn_status.c.type, member: 'u.unbound.dom', offset: 16, size: 2 },
  { cName: evtchn_status.c.type, member: 'u.interdomain.dom', offset: 16, size: 2 },
  { cName: evtchn_status.c.type, member: 'u.pirq', offset: 16, size: 4 },
  { cName: 'struct shared_info', member: 'vcpu_info[1]', offset: 64, size: 64 },
  { cName: 'struct shared_info', member: 'evtchn_pending[1]', offset: 0x808, size: 8 },
];

function aliasProbes(a: (typeof ALIASES)[number]): Probe[] {
  return [
    { key: `${a.cName}.${a.member}.offset`, expected: a.offset, num: `offsetof(${a.cName}, ${a.member})` },
    { key: `${a.cName}.${a.member}.width`, expected: a.size, num: `sizeof(((${a.cName} *)0)->${a.member})` },
  ];
}

const PRELUDE = [
  // The latest interface version: vcpu_time_info.flags and GNTTABOP_set_version need it.
  '#define __XEN_INTERFACE_VERSION__ 0x00040e00',
  '#include <stdint.h>',
  '#include <xen/xen.h>',
  '#include <xen/event_channel.h>',
  '#include <xen/memory.h>',
  '#include <xen/hvm/hvm_op.h>',
  '#include <xen/vcpu.h>',
  '#include <xen/sched.h>',
  '#include <xen/version.h>',
  '#include <xen/grant_table.h>',
  // Not in Xen's public headers: the BIOS E820 record as Linux declares it.
  'struct e820entry { uint64_t addr; uint64_t size; uint32_t type; } __attribute__((packed));',
];

describe('wire layouts against /usr/include/xen', () => {
  const probes = [...LAYOUTS.flatMap((l) => layoutProbes(l)), ...ALIASES.flatMap(aliasProbes)];
  const fromC = runProbes(PRELUDE, probes);

  it('prints one value per probe', () => {
    expect(Object.keys(fromC)).toHaveLength(probes.length);
  });

  it.each(LAYOUTS.map((l) => [l.c.type, l] as const))('%s has the C size, offsets, widths and signedness', (_name, l) => {
    const { c, ours } = compare(layoutProbes(l), fromC);
    expect(c).toEqual(ours);
  });

  it.each(ALIASES.map((a) => [`${a.cName}.${a.member}`, a] as const))('%s sits where the union words say', (_key, a) => {
    const { c, ours } = compare(aliasProbes(a), fromC);
    expect(c).toEqual(ours);
  });
});

describe('layout codec on Xen structs', () => {
  it('round-trips every field type and zero-fills padding', () => {
    const v = { domid: 0x7ff0, size: 0, space: 1, idx: 2n, gpfn: 0xfeff8n };
    const bytes = xen_add_to_physmap.encode(v);
    expect(bytes.length).toBe(24);
    expect(Array.from(bytes.subarray(0, 8))).toEqual([0xf0, 0x7f, 0, 0, 1, 0, 0, 0]);
    expect(xen_add_to_physmap.decode(bytes)).toEqual(v);
  });

  it('decodes u64 fields with all 64 bits', () => {
    const bytes = new Uint8Array(24).fill(0xff);
    expect(xen_add_to_physmap.decode(bytes).gpfn).toBe(0xffff_ffff_ffff_ffffn);
  });

  it('refuses values that do not fit, short buffers and malformed declarations', () => {
    expect(() => xen_add_to_physmap.encode({ domid: 0x10000, size: 0, space: 0, idx: 0n, gpfn: 0n })).toThrow(LayoutError);
    expect(() => xen_add_to_physmap.encode({ domid: 0, size: 0, space: 0, idx: -1n, gpfn: 0n })).toThrow(LayoutError);
    expect(() => xen_add_to_physmap.decode(new Uint8Array(23))).toThrow(LayoutError);
    expect(() => defineStruct('bad', 4, { a: { offset: 2, type: 'u32' } })).toThrow(LayoutError);
    expect(() => defineStruct('bad', 8, { a: { offset: 1, type: 'u16' } })).toThrow(LayoutError);
    expect(() => defineStruct('bad', 8, { a: { offset: 0, type: 'u32' }, b: { offset: 2, type: { bytes: 2 } } })).toThrow(LayoutError);
  });
});
