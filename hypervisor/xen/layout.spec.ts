import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LayoutError, decode, encode, fieldWidth, struct, type StructLayout } from './layout.ts';
import { SHARED_INFO_LAYOUTS } from './shared-info.ts';
import { WIRE_LAYOUTS, e820entry, evtchn_status, xen_add_to_physmap } from './wire.ts';

// Every layout we declare, compared with what gcc computes from the installed Xen headers.
const LAYOUTS: readonly StructLayout[] = [...WIRE_LAYOUTS, ...SHARED_INFO_LAYOUTS, e820entry];

/** Extra C facts that a layout cannot name because they alias a declared field. */
const ALIASES: ReadonlyArray<{ cName: string; member: string; offset: number; size: number }> = [
  { cName: evtchn_status.cName, member: 'u.unbound.dom', offset: 16, size: 2 },
  { cName: evtchn_status.cName, member: 'u.interdomain.dom', offset: 16, size: 2 },
  { cName: evtchn_status.cName, member: 'u.pirq', offset: 16, size: 4 },
  { cName: 'struct shared_info', member: 'vcpu_info[1]', offset: 64, size: 64 },
  { cName: 'struct shared_info', member: 'evtchn_pending[1]', offset: 0x808, size: 8 },
];

function cProgram(): string {
  const lines = [
    // The latest interface version: vcpu_time_info.flags and GNTTABOP_set_version need it.
    '#define __XEN_INTERFACE_VERSION__ 0x00040e00',
    '#include <stdint.h>',
    '#include <stddef.h>',
    '#include <stdio.h>',
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
    '#define FIELD(T, m) printf("%s.%s %zu %zu\\n", #T, #m, offsetof(T, m), sizeof(((T *)0)->m))',
    'int main(void) {',
  ];
  for (const l of LAYOUTS) {
    lines.push(`  printf("%s %zu\\n", "${l.cName}", sizeof(${l.cName}));`);
    for (const [name, spec] of Object.entries(l.fields)) lines.push(`  FIELD(${l.cName}, ${spec.c ?? name});`);
  }
  for (const a of ALIASES) lines.push(`  FIELD(${a.cName}, ${a.member});`);
  lines.push('  return 0;', '}');
  return lines.join('\n');
}

function compileAndRun(): Map<string, string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlts-layout-'));
  try {
    const src = path.join(dir, 'layout.c');
    const exe = path.join(dir, 'layout');
    fs.writeFileSync(src, cProgram());
    execFileSync('cc', ['-Wall', '-Werror', '-o', exe, src], { stdio: ['ignore', 'ignore', 'pipe'] });
    const out = execFileSync(exe, { encoding: 'utf8' });
    const facts = new Map<string, string>();
    for (const line of out.trim().split('\n')) {
      // "struct x 24" or "struct x.field 8 4": the key is everything before the numbers.
      const m = /^(.*?) (\d+(?: \d+)?)$/.exec(line);
      if (m) facts.set(m[1]!, m[2]!);
    }
    return facts;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('wire layouts against /usr/include/xen', () => {
  const facts = compileAndRun();

  it.each(LAYOUTS.map((l) => [l.cName, l] as const))('%s has the C size and offsets', (_name, l) => {
    expect(facts.get(l.cName)).toBe(String(l.size));
    for (const [name, spec] of Object.entries(l.fields)) {
      expect(facts.get(`${l.cName}.${spec.c ?? name}`), `${l.cName}.${name}`).toBe(`${spec.offset} ${fieldWidth(spec)}`);
    }
  });

  it.each(ALIASES.map((a) => [`${a.cName}.${a.member}`, a] as const))('%s sits where the union words say', (key, a) => {
    expect(facts.get(key)).toBe(`${a.offset} ${a.size}`);
  });
});

describe('layout codec', () => {
  it('round-trips every field type and zero-fills padding', () => {
    const v = { domid: 0x7ff0, size: 0, space: 1, idx: 2n, gpfn: 0xfeff8n };
    const bytes = encode(xen_add_to_physmap, v);
    expect(bytes.length).toBe(24);
    expect(Array.from(bytes.subarray(0, 8))).toEqual([0xf0, 0x7f, 0, 0, 1, 0, 0, 0]);
    expect(decode(xen_add_to_physmap, bytes)).toEqual(v);
  });

  it('decodes u64 fields with all 64 bits', () => {
    const bytes = new Uint8Array(24).fill(0xff);
    expect(decode(xen_add_to_physmap, bytes).gpfn).toBe(0xffff_ffff_ffff_ffffn);
  });

  it('refuses values that do not fit, short buffers and malformed declarations', () => {
    expect(() => encode(xen_add_to_physmap, { domid: 0x10000, size: 0, space: 0, idx: 0n, gpfn: 0n })).toThrow(LayoutError);
    expect(() => encode(xen_add_to_physmap, { domid: 0, size: 0, space: 0, idx: -1n, gpfn: 0n })).toThrow(LayoutError);
    expect(() => decode(xen_add_to_physmap, new Uint8Array(23))).toThrow(LayoutError);
    expect(() => struct('struct bad', 4, { a: { offset: 2, type: 'u32' } })).toThrow(LayoutError);
    expect(() => struct('struct bad', 8, { a: { offset: 1, type: 'u16' } })).toThrow(LayoutError);
    expect(() => struct('struct bad', 8, { a: { offset: 0, type: 'u32' }, b: { offset: 2, type: 'bytes', length: 2 } })).toThrow(LayoutError);
  });
});
