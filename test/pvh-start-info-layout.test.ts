// Differential check of the boot-ABI layouts: the C compiler's view of Xen's public header
// (libxen-dev's /usr/include/xen/arch-x86/hvm/start_info.h) against our declarations as data.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { StructLayout, FieldSpec } from '../hypervisor/pvh/struct-layout.ts';
import {
  XEN_HVM_MEMMAP_TYPE_PMEM,
  XEN_HVM_MEMMAP_TYPE_RAM,
  XEN_HVM_MEMMAP_TYPE_RESERVED,
  XEN_HVM_START_MAGIC_VALUE,
  hvmMemmapTableEntry,
  hvmModlistEntry,
  hvmStartInfo,
} from '../hypervisor/pvh/start-info.ts';

const run = promisify(execFile);
const HEADER = '/usr/include/xen/arch-x86/hvm/start_info.h';

interface Shape {
  readonly name: string;
  readonly size: number;
  readonly fields: readonly (readonly [string, FieldSpec])[];
}
function shape<F extends Record<string, FieldSpec>>(l: StructLayout<F>): Shape {
  return { name: l.name, size: l.size, fields: l.fieldNames.map((f): readonly [string, FieldSpec] => [f, l.fields[f]!]) };
}
const layouts: Shape[] = [shape(hvmStartInfo), shape(hvmModlistEntry), shape(hvmMemmapTableEntry)];

function cProgram(): string {
  const lines = layouts.flatMap((l) => [
    `  printf("%s.sizeof %zu\\n", "${l.name}", sizeof(struct ${l.name}));`,
    ...l.fields.flatMap(([f]) => [
      `  printf("%s.%s %zu %zu\\n", "${l.name}", "${f}", offsetof(struct ${l.name}, ${f}), sizeof(((struct ${l.name} *)0)->${f}));`,
    ]),
  ]);
  return [
    '#include <stdint.h>',
    '#include <stddef.h>',
    '#include <stdio.h>',
    `#include "${HEADER}"`,
    'int main(void) {',
    '  printf("magic %u\\n", (unsigned)XEN_HVM_START_MAGIC_VALUE);',
    '  printf("types %d %d %d\\n", XEN_HVM_MEMMAP_TYPE_RAM, XEN_HVM_MEMMAP_TYPE_RESERVED, XEN_HVM_MEMMAP_TYPE_PMEM);',
    ...lines,
    '  return 0;',
    '}',
  ].join('\n');
}

describe('hvm_start_info layouts match Xen\'s public header', () => {
  it('agrees with gcc on every size, offset and width', async () => {
    await fs.access(HEADER); // libxen-dev comes with `npm run setup`
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'xlts-pvh-layout-'));
    try {
      await fs.writeFile(path.join(dir, 'layout.c'), cProgram());
      await run('gcc', ['-std=c11', '-Wall', '-o', path.join(dir, 'layout'), path.join(dir, 'layout.c')]);
      const { stdout } = await run(path.join(dir, 'layout'));
      const facts = new Map(stdout.trim().split('\n').map((l) => {
        const [key, ...rest] = l.split(' ');
        return [key!, rest.map(Number)] as const;
      }));
      expect(facts.get('magic')).toEqual([XEN_HVM_START_MAGIC_VALUE]);
      expect(facts.get('types')).toEqual([XEN_HVM_MEMMAP_TYPE_RAM, XEN_HVM_MEMMAP_TYPE_RESERVED, XEN_HVM_MEMMAP_TYPE_PMEM]);
      for (const l of layouts) {
        expect(facts.get(`${l.name}.sizeof`), l.name).toEqual([l.size]);
        for (const [f, spec] of l.fields) {
          expect(facts.get(`${l.name}.${f}`), `${l.name}.${f}`).toEqual([spec.offset, spec.width]);
        }
      }
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
