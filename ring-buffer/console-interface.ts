// The PV console page (io/console.h): two byte rings. "in" carries keystrokes to the guest (the
// backend writes, the guest reads); "out" carries the guest's output to the backend.
import { ByteRingReader, ByteRingWriter, interfaceWords } from './byte-ring.ts';
import { defineStruct } from './layout.ts';

export const XENCONS = {
  /** sizeof(in) */
  XENCONS_IN_SIZE: 1024,
  /** sizeof(out) */
  XENCONS_OUT_SIZE: 2048,
} as const;

/**
 * struct xencons_interface {
 *     char in[1024];
 *     char out[2048];
 *     XENCONS_RING_IDX in_cons, in_prod;    // uint32_t
 *     XENCONS_RING_IDX out_cons, out_prod;
 * };                                        // 3088 bytes
 */
export const xenconsInterface = defineStruct('xencons_interface', 3088, {
  in: { offset: 0, type: { bytes: XENCONS.XENCONS_IN_SIZE } },
  out: { offset: 1024, type: { bytes: XENCONS.XENCONS_OUT_SIZE } },
  in_cons: { offset: 3072, type: 'u32' },
  in_prod: { offset: 3076, type: 'u32' },
  out_cons: { offset: 3080, type: 'u32' },
  out_prod: { offset: 3084, type: 'u32' },
});

const F = xenconsInterface.fields;
const WORDS_AT = F.in_cons.offset;
const word = (offset: number): number => (offset - WORDS_AT) / 4;

function views(page: Uint8Array) {
  const words = interfaceWords(page, 'xencons_interface', xenconsInterface.size, WORDS_AT);
  const inSpec = {
    name: 'xencons.in',
    data: page.subarray(F.in.offset, F.in.offset + F.in.type.bytes),
    words,
    consWord: word(F.in_cons.offset),
    prodWord: word(F.in_prod.offset),
  };
  const outSpec = {
    name: 'xencons.out',
    data: page.subarray(F.out.offset, F.out.offset + F.out.type.bytes),
    words,
    consWord: word(F.out_cons.offset),
    prodWord: word(F.out_prod.offset),
  };
  return { inSpec, outSpec };
}

/** Dom0's side of a console page: it writes guest input and reads guest output. */
export function consoleBackend(page: Uint8Array): { input: ByteRingWriter; output: ByteRingReader } {
  const { inSpec, outSpec } = views(page);
  return { input: new ByteRingWriter(inSpec), output: new ByteRingReader(outSpec) };
}

/** The guest's side of a console page: it reads input and writes output. */
export function consoleFrontend(page: Uint8Array): { input: ByteRingReader; output: ByteRingWriter } {
  const { inSpec, outSpec } = views(page);
  return { input: new ByteRingReader(inSpec), output: new ByteRingWriter(outSpec) };
}
