// Every layout, size and constant declared in ring-buffer/ checked against the real Xen public
// headers (libxen-dev, /usr/include/xen): we generate a small C program from our own layout data
// (testing/c-layout-check.ts) that prints sizeof/offsetof/signedness of each declared field and the
// value of each named constant as one flat JSON object, compile it with gcc, and compare with what
// the TypeScript declarations say. gcc and libxen-dev come from scripts/setup.sh; without them
// this test fails rather than skips, because an unchecked layout is exactly what it exists to prevent.
import { beforeAll, describe, expect, it } from 'vitest';
import { BLKIF_RING_ENTRY_SIZE } from './blkif.ts';
import { XENCONS } from './console-interface.ts';
import { NETIF_RX_RING_ENTRY_SIZE, NETIF_TX_RING_ENTRY_SIZE } from './netif.ts';
import { SRING_HEADER_SIZE, ringBytesForPageOrder, ringSize } from './sring.ts';
import { type Probe, compare, layoutProbes, runProbes } from './testing/c-layout-check.ts';
import { WIRE_CONSTANTS, WIRE_LAYOUTS } from './wire-layouts.ts';

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

const HEADERS = [
  '#include <stdint.h>',
  '#include <xen/xen.h>',
  '#include <xen/grant_table.h>',
  '#include <xen/io/ring.h>',
  '#include <xen/io/blkif.h>',
  '#include <xen/io/netif.h>',
  '#include <xen/io/console.h>',
  '#include <xen/io/xs_wire.h>',
];

const probes = [...WIRE_LAYOUTS.flatMap((l) => layoutProbes(l)), ...constantProbes(), ...derivedProbes()];
let fromC: Record<string, number | string> = {};

beforeAll(() => {
  fromC = runProbes(HEADERS, probes);
});

describe('wire layouts match /usr/include/xen (x86_64, gcc)', () => {
  it('prints one value per probe', () => {
    expect(Object.keys(fromC)).toHaveLength(probes.length);
    expect(probes.length).toBeGreaterThan(200);
  });

  for (const layout of WIRE_LAYOUTS) {
    it(`${layout.c.type} as ${layout.name}: size, offsets, widths, signedness`, () => {
      const { c, ours } = compare(layoutProbes(layout), fromC);
      expect(c).toEqual(ours);
    });
  }

  it('every named constant has the value of its C macro or enumerator', () => {
    const { c, ours } = compare(constantProbes(), fromC);
    expect(c).toEqual(ours);
  });

  it('ring slots, ring sizes per page order and index masks agree with ring.h', () => {
    const { c, ours } = compare(derivedProbes(), fromC);
    expect(c).toEqual(ours);
  });
});
