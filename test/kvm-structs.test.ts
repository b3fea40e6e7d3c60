// Differential check of the KVM layer's declarations against the installed UAPI headers: a C
// program generated from our tables prints the compiler's sizeof/offsetof for every declared
// struct member and the value of every ioctl, capability and constant we name, and each must
// match what we compute. Also checks glibc's struct sigaction layout used by the vCPU kick.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import * as ioctls from '../hypervisor/kvm/kvm-ioctls.ts';
import { ALL_KVM_LAYOUTS, KVM_LAPIC_STATE_SIZE, KVM_RUN_EXIT_UNION_OFFSET } from '../hypervisor/kvm/kvm-structs.ts';
import type { FieldMap, StructLayout } from '../hypervisor/kvm/struct-layout.ts';
import { SIGACTION_LAYOUT } from '../hypervisor/native/thread-kick.ts';

const run = promisify(execFile);

/** Every (C expression, value we declared) pair to check. */
function checks(): [string, string, number][] {
  const out: [string, string, number][] = [];
  const layouts: readonly StructLayout<FieldMap>[] = ALL_KVM_LAYOUTS;
  for (const l of layouts) {
    const t = l.c.type;
    const m = l.c.member;
    const label = m ? `${t}.${m}` : t;
    const base = m ? `offsetof(${t}, ${m})` : '0';
    out.push([`${label} sizeof`, m ? `sizeof(((${t} *)0)->${m})` : `sizeof(${t})`, l.size]);
    for (const [name, f] of Object.entries(l.fields)) {
      const member = m ? `${m}.${name}` : name;
      const width = ('struct' in f ? f.struct.size : { u8: 1, u16: 2, u32: 4, i32: 4, u64: 8 }[f.type]) * (f.count ?? 1);
      out.push([`${label}.${name} offset`, `offsetof(${t}, ${member}) - ${base}`, f.offset]);
      out.push([`${label}.${name} width`, `sizeof(((${t} *)0)->${member})`, width]);
    }
  }
  out.push(['kvm_run union offset', 'offsetof(struct kvm_run, hw)', KVM_RUN_EXIT_UNION_OFFSET]);
  out.push(['kvm_lapic_state sizeof', 'sizeof(struct kvm_lapic_state)', KVM_LAPIC_STATE_SIZE]);
  for (const [name, ioctl] of Object.entries(ioctls.KVM_IOCTLS)) out.push([`ioctl ${name}`, name, ioctl.request]);
  const groups = [ioctls.KVM_CAPS, ioctls.KVM_EXIT, ioctls.KVM_SYSTEM_EVENT, ioctls.KVM_INTERNAL_ERROR, ioctls.KVM_MP_STATES];
  for (const group of groups) for (const [name, value] of Object.entries(group)) out.push([name, name, value]);
  for (const [name, value] of Object.entries(ioctls)) {
    if (typeof value === 'number' && /^KVM/.test(name)) out.push([name, name, value]);
  }
  out.push(['sigaction sizeof', 'sizeof(struct sigaction)', SIGACTION_LAYOUT.size]);
  out.push(['sigaction.sa_handler', 'offsetof(struct sigaction, sa_handler)', SIGACTION_LAYOUT.sa_handler]);
  out.push(['sigaction.sa_mask', 'offsetof(struct sigaction, sa_mask)', SIGACTION_LAYOUT.sa_mask]);
  out.push(['sigaction.sa_flags', 'offsetof(struct sigaction, sa_flags)', SIGACTION_LAYOUT.sa_flags]);
  out.push(['sigaction.sa_restorer', 'offsetof(struct sigaction, sa_restorer)', SIGACTION_LAYOUT.sa_restorer]);
  return out;
}

function cProgram(list: readonly [string, string, number][]): string {
  return [
    '#define _GNU_SOURCE',
    '#include <stddef.h>',
    '#include <stdio.h>',
    '#include <signal.h>',
    '#include <linux/kvm.h>',
    'int main(void) {',
    ...list.map(([label, expr]) => `  printf("%s=%llu\\n", ${JSON.stringify(label)}, (unsigned long long)(${expr}));`),
    '  return 0;',
    '}',
  ].join('\n');
}

describe('KVM declarations match <linux/kvm.h>', () => {
  it('agrees with gcc on every struct size, member offset and width, ioctl number and constant', async () => {
    const list = checks();
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'xlts-kvm-structs-'));
    try {
      await fs.writeFile(path.join(dir, 'kvm.c'), cProgram(list));
      await run('gcc', ['-std=c11', '-Wall', '-o', path.join(dir, 'kvm'), path.join(dir, 'kvm.c')]);
      const { stdout } = await run(path.join(dir, 'kvm'));
      const fromC = new Map(stdout.trim().split('\n').map((line) => {
        const at = line.lastIndexOf('=');
        return [line.slice(0, at), Number(line.slice(at + 1))] as const;
      }));
      const ours = new Map(list.map(([label, , value]) => [label, value] as const));
      expect(Object.fromEntries(ours)).toEqual(Object.fromEntries(fromC));
      expect(list.length).toBeGreaterThan(300);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
