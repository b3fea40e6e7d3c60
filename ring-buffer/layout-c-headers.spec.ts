// Every layout, size and constant declared in ring-buffer/ checked against the real Xen public
// headers (libxen-dev, /usr/include/xen): we generate a small C program from our own layout data
// that prints sizeof/offsetof/signedness of each declared field and the value of each named
// constant as one flat JSON object, compile it with gcc, and compare with what the TypeScript
// declarations say. gcc and libxen-dev come from scripts/setup.sh; without them this test fails
// rather than skips, because an unchecked layout is exactly what it exists to prevent.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BLKIF_RING_ENTRY_SIZE } from './blkif.ts';
import { XENCONS } from './console-interface.ts';
import { type AnyStructLayout, type FieldSpec, fieldWidth } from './layout.ts';
import { NETIF_RX_RING_ENTRY_SIZE, NETIF_TX_RING_ENTRY_SIZE } from './netif.ts';
import { SRING_HEADER_SIZE, ringBytesForPageOrder, ringSize } from './sring.ts';
import { WIRE_CONSTANTS, WIRE_LAYOUTS } from './wire-layouts.ts';

type Probe = { key: string; expected: number | string } & ({ num: string } | { str: string });

function scalarSigned(f: FieldSpec): boolean | null {
  return typeof f.type === 'string' ? f.type.startsWith('i') : null;
}

/** The probes for one layout: its size, and offset, width and (for integers) signedness of each field. */
function layoutProbes(l: AnyStructLayout): Probe[] {
  const T = l.c.type;
  const out: Probe[] = [{ key: `${l.name}.sizeof`, expected: l.size, num: l.c.sizeExpr ?? `sizeof(${T})` }];
  for (const [name, f] of Object.entries(l.fields)) {
    const d = f.c ?? name;
    out.push({ key: `${l.name}.${name}.offset`, expected: f.offset, num: `offsetof(${T}, ${d})` });
    out.push({ key: `${l.name}.${name}.width`, expected: fieldWidth(f), num: `sizeof(((${T} *)0)->${d})` });
    const signed = scalarSigned(f);
    if (signed !== null) {
      const elem = f.count === undefined ? d : `${d}[0]`;
      out.push({ key: `${l.name}.${name}.signed`, expected: signed ? 1 : 0, num: `((__typeof__(((${T} *)0)->${elem}))-1 < 0)` });
    }
  }
  return out;
}

function constantProbes(): Probe[] {
  const out: Probe[] = [];
  for (const [table, consts] of Object.entries(WIRE_CONSTANTS)) {
    for (const [name, value] of Object.entries(consts)) {
      const key = `${table}.${name}`;
      out.push(typeof value === 'string' ? { key, expected: value, str: name } : { key, expected: value, num: name });
    }
  }
  return out;
}

/** Facts derived from layouts rather than declared: slot sizes and ring sizes (__CONST_RING_SIZE). */
function derivedProbes(): Probe[] {
  const out: Probe[] = [
    { key: 'sring.header', expected: SRING_HEADER_SIZE, num: 'offsetof(struct netif_tx_sring, ring)' },
    { key: 'blkif.entry', expected: BLKIF_RING_ENTRY_SIZE, num: 'sizeof(union blkif_sring_entry)' },
    { key: 'netif_tx.entry', expected: NETIF_TX_RING_ENTRY_SIZE, num: 'sizeof(union netif_tx_sring_entry)' },
    { key: 'netif_rx.entry', expected: NETIF_RX_RING_ENTRY_SIZE, num: 'sizeof(union netif_rx_sring_entry)' },
    { key: 'xencons.in', expected: XENCONS.XENCONS_IN_SIZE, num: 'sizeof(((struct xencons_interface *)0)->in)' },
    { key: 'xencons.out', expected: XENCONS.XENCONS_OUT_SIZE, num: 'sizeof(((struct xencons_interface *)0)->out)' },
    { key: 'xencons.mask', expected: 5, num: '({ struct xencons_interface i; MASK_XENCONS_IDX(1029, i.in); })' },
    { key: 'xenstore.mask', expected: 5, num: 'MASK_XENSTORE_IDX(1029)' },
  ];
  const rings: [string, number][] = [
    ['blkif', BLKIF_RING_ENTRY_SIZE],
    ['netif_tx', NETIF_TX_RING_ENTRY_SIZE],
    ['netif_rx', NETIF_RX_RING_ENTRY_SIZE],
  ];
  for (const [ring, entry] of rings) {
    for (let order = 0; order <= 4; order++) {
      const bytes = ringBytesForPageOrder(order);
      out.push({ key: `${ring}.ring_size.order${order}`, expected: ringSize(bytes, entry), num: `__CONST_RING_SIZE(${ring}, ${bytes})` });
    }
  }
  return out;
}

function cProgram(probes: readonly Probe[]): string {
  const lines = probes.map((p, i) => {
    const sep = i === 0 ? '' : ',';
    return 'num' in p
      ? `  printf("${sep}\\"%s\\": %lld\\n", "${p.key}", (long long)(${p.num}));`
      : `  printf("${sep}\\"%s\\": \\"%s\\"\\n", "${p.key}", ${p.str});`;
  });
  return [
    '#include <stdint.h>',
    '#include <stddef.h>',
    '#include <stdio.h>',
    '#include <xen/xen.h>',
    '#include <xen/grant_table.h>',
    '#include <xen/io/ring.h>',
    '#include <xen/io/blkif.h>',
    '#include <xen/io/netif.h>',
    '#include <xen/io/console.h>',
    '#include <xen/io/xs_wire.h>',
    'int main(void) {',
    '  printf("{\\n");',
    ...lines,
    '  printf("}\\n");',
    '  return 0;',
    '}',
    '',
  ].join('\n');
}

const probes = [...WIRE_LAYOUTS.flatMap(layoutProbes), ...constantProbes(), ...derivedProbes()];
let dir = '';
let fromC: Record<string, number | string> = {};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'xlts-layout-'));
  const src = join(dir, 'layouts.c');
  const exe = join(dir, 'layouts');
  writeFileSync(src, cProgram(probes));
  execFileSync('gcc', ['-std=gnu11', '-Wall', '-Werror', '-o', exe, src], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  fromC = JSON.parse(execFileSync(exe, { encoding: 'utf8', timeout: 10_000 })) as Record<string, number | string>;
});

afterAll(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

describe('wire layouts match /usr/include/xen (x86_64, gcc)', () => {
  it('prints one value per probe', () => {
    expect(Object.keys(fromC)).toHaveLength(probes.length);
    expect(probes.length).toBeGreaterThan(200);
  });

  for (const layout of WIRE_LAYOUTS) {
    it(`${layout.c.type} as ${layout.name}: size, offsets, widths, signedness`, () => {
      const mine = layoutProbes(layout);
      expect(Object.fromEntries(mine.map((p) => [p.key, fromC[p.key]]))).toEqual(Object.fromEntries(mine.map((p) => [p.key, p.expected])));
    });
  }

  it('every named constant has the value of its C macro or enumerator', () => {
    const mine = constantProbes();
    expect(Object.fromEntries(mine.map((p) => [p.key, fromC[p.key]]))).toEqual(Object.fromEntries(mine.map((p) => [p.key, p.expected])));
  });

  it('ring slots, ring sizes per page order and index masks agree with ring.h', () => {
    const mine = derivedProbes();
    expect(Object.fromEntries(mine.map((p) => [p.key, fromC[p.key]]))).toEqual(Object.fromEntries(mine.map((p) => [p.key, p.expected])));
  });
});
