// The test guests declare the slice of the Xen ABI they use themselves (guests/xtf/runtime/xen.h)
// so they build without libxen-dev. This differential test compiles one probe program twice, once
// against that file and once against Xen's public headers, and requires identical constants and
// identical sizes and offsets of every struct field the guests touch.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { XTF_SOURCE_DIR } from '../guests/xtf/build.ts';
import { type CProbe, runProbes } from '../ring-buffer/testing/c-layout-check.ts';

const OURS = path.join(XTF_SOURCE_DIR, 'runtime', 'xen.h');

/** Names in our header that are ours alone (helpers, not Xen ABI names). */
const OWN_NAMES = new Set(['XTF_XEN_H', 'HYPERCALL_STUB_SIZE', 'XEN_CPUID_LEAF_STRIDE', 'XTF_UNASSIGNED_HYPERCALL']);

const XEN_HEADERS = [
  'xen/xen.h',
  'xen/version.h',
  'xen/features.h',
  'xen/memory.h',
  'xen/event_channel.h',
  'xen/sched.h',
  'xen/vcpu.h',
  'xen/hvm/hvm_op.h',
  'xen/hvm/params.h',
  'xen/arch-x86/cpuid.h',
  'xen/arch-x86/hvm/start_info.h',
  'xen/errno.h',
];

const FIELDS: Record<string, readonly string[]> = {
  xen_feature_info: ['submap_idx', 'submap'],
  xen_add_to_physmap: ['domid', 'size', 'space', 'idx', 'gpfn'],
  sched_shutdown: ['reason'],
  vcpu_register_vcpu_info: ['mfn', 'offset', 'rsvd'],
  evtchn_alloc_unbound: ['dom', 'remote_dom', 'port'],
  evtchn_bind_virq: ['virq', 'vcpu', 'port'],
  evtchn_bind_ipi: ['vcpu', 'port'],
  evtchn_close: ['port'],
  evtchn_send: ['port'],
  evtchn_unmask: ['port'],
  evtchn_status: ['dom', 'port', 'status', 'vcpu', 'u', 'u.virq', 'u.unbound.dom', 'u.interdomain.port'],
  xen_hvm_param: ['domid', 'index', 'value'],
  xen_hvm_evtchn_upcall_vector: ['vcpu', 'vector'],
  vcpu_time_info: ['version', 'tsc_timestamp', 'system_time', 'tsc_to_system_mul', 'tsc_shift', 'flags'],
  vcpu_info: ['evtchn_upcall_pending', 'evtchn_pending_sel', 'arch', 'time'],
  shared_info: ['vcpu_info', 'evtchn_pending', 'evtchn_mask', 'wc_version', 'wc_sec', 'wc_nsec', 'wc_sec_hi'],
  hvm_start_info: ['magic', 'version', 'flags', 'nr_modules', 'modlist_paddr', 'cmdline_paddr', 'rsdp_paddr', 'memmap_paddr', 'memmap_entries'],
  hvm_memmap_table_entry: ['addr', 'size', 'type'],
};

/** Each constant's value, each struct's size, each field's offset and width (one C expression each). */
function probes(constants: readonly string[]): CProbe[] {
  const out: CProbe[] = constants.map((c) => ({ key: c, num: c }));
  for (const [struct, fields] of Object.entries(FIELDS)) {
    out.push({ key: `sizeof(${struct})`, num: `sizeof(struct ${struct})` });
    for (const f of fields) {
      out.push({ key: `${struct}.${f}.offset`, num: `offsetof(struct ${struct}, ${f})` });
      out.push({ key: `${struct}.${f}.width`, num: `sizeof(((struct ${struct} *)0)->${f})` });
    }
  }
  return out;
}

const GCC_FLAGS = ['-std=gnu11', '-D__XEN_INTERFACE_VERSION__=__XEN_LATEST_INTERFACE_VERSION__'];

function compileAndRun(name: string, prelude: readonly string[], list: readonly CProbe[]): Record<string, number | string> {
  try {
    return runProbes(prelude, list, GCC_FLAGS);
  } catch (err) {
    throw new Error(`compiling the ${name} probe failed: ${typeof err === 'object' && err && 'stderr' in err ? String(err.stderr) : String(err)}`);
  }
}

describe('guest-side Xen ABI declarations match Xen\'s public headers', () => {
  it('agrees on every constant and every struct field the guests use', async () => {
    const ours = await fs.readFile(OURS, 'utf8');
    const constants = [...ours.matchAll(/^#define\s+([A-Za-z_][A-Za-z0-9_]*)\s+\S/gm)].map((m) => m[1]!).filter((n) => !OWN_NAMES.has(n));
    expect(constants.length).toBeGreaterThan(60);
    const list = probes(constants);
    const mine = compileAndRun('ours', [`#include "${OURS}"`], list);
    const xen = compileAndRun('xen', ['#include <stdint.h>', ...XEN_HEADERS.map((h) => `#include <${h}>`)], list);
    // The answers come back through JSON: a value beyond 2^53 would be rounded there, so refuse one.
    expect(Object.entries(mine).filter(([, v]) => !Number.isSafeInteger(v))).toEqual([]);
    expect(Object.entries(xen).filter(([, v]) => !Number.isSafeInteger(v))).toEqual([]);
    const differences = Object.keys(xen).filter((k) => xen[k] !== mine[k]).map((k) => `${k}: ours ${mine[k]}, Xen ${xen[k]}`);
    expect(differences).toEqual([]);
    expect(Object.keys(mine).length).toBe(Object.keys(xen).length);
  });
});
