// The XenStore ring page (io/xs_wire.h): the guest writes requests into req and reads replies
// and watch events from rsp; xenstored does the opposite. Three more words negotiate
// reconnection and report errors.
import { ByteRingReader, ByteRingWriter, interfaceWords } from './byte-ring.ts';
import { defineStruct } from './layout.ts';

export const XENSTORE = {
  XENSTORE_RING_SIZE: 1024,
  /** server_features bits */
  XENSTORE_SERVER_FEATURE_RECONNECTION: 1,
  XENSTORE_SERVER_FEATURE_ERROR: 2,
  /** connection values */
  XENSTORE_CONNECTED: 0,
  XENSTORE_RECONNECT: 1,
  /** error values */
  XENSTORE_ERROR_NONE: 0,
  XENSTORE_ERROR_COMM: 1,
  XENSTORE_ERROR_RINGIDX: 2,
  XENSTORE_ERROR_PROTO: 3,
} as const;

/**
 * struct xenstore_domain_interface {
 *     char req[XENSTORE_RING_SIZE];   // requests to xenstored
 *     char rsp[XENSTORE_RING_SIZE];   // replies and watch events
 *     XENSTORE_RING_IDX req_cons, req_prod;   // uint32_t
 *     XENSTORE_RING_IDX rsp_cons, rsp_prod;
 *     uint32_t server_features;       // XENSTORE_SERVER_FEATURE_*
 *     uint32_t connection;            // XENSTORE_CONNECTED / XENSTORE_RECONNECT
 *     uint32_t error;                 // XENSTORE_ERROR_*
 * };                                  // 2076 bytes
 */
export const xenstoreDomainInterface = defineStruct('xenstore_domain_interface', 2076, {
  req: { offset: 0, type: { bytes: XENSTORE.XENSTORE_RING_SIZE } },
  rsp: { offset: 1024, type: { bytes: XENSTORE.XENSTORE_RING_SIZE } },
  req_cons: { offset: 2048, type: 'u32' },
  req_prod: { offset: 2052, type: 'u32' },
  rsp_cons: { offset: 2056, type: 'u32' },
  rsp_prod: { offset: 2060, type: 'u32' },
  server_features: { offset: 2064, type: 'u32' },
  connection: { offset: 2068, type: 'u32' },
  error: { offset: 2072, type: 'u32' },
});

const F = xenstoreDomainInterface.fields;
const WORDS_AT = F.req_cons.offset;
const word = (offset: number): number => (offset - WORDS_AT) / 4;

/**
 * The three control words. Each access is a single Atomics load or store; a value read from the
 * page is whatever the peer last wrote, so callers validate it against the XENSTORE_* values.
 */
export class XenstoreControlWords {
  constructor(private readonly words: Uint32Array) {}
  get serverFeatures(): number {
    return Atomics.load(this.words, word(F.server_features.offset));
  }
  set serverFeatures(v: number) {
    Atomics.store(this.words, word(F.server_features.offset), v);
  }
  get connection(): number {
    return Atomics.load(this.words, word(F.connection.offset));
  }
  set connection(v: number) {
    Atomics.store(this.words, word(F.connection.offset), v);
  }
  get error(): number {
    return Atomics.load(this.words, word(F.error.offset));
  }
  set error(v: number) {
    Atomics.store(this.words, word(F.error.offset), v);
  }
}

function views(page: Uint8Array) {
  const words = interfaceWords(page, 'xenstore_domain_interface', xenstoreDomainInterface.size, WORDS_AT);
  const reqSpec = {
    name: 'xenstore.req',
    data: page.subarray(F.req.offset, F.req.offset + F.req.type.bytes),
    words,
    consWord: word(F.req_cons.offset),
    prodWord: word(F.req_prod.offset),
  };
  const rspSpec = {
    name: 'xenstore.rsp',
    data: page.subarray(F.rsp.offset, F.rsp.offset + F.rsp.type.bytes),
    words,
    consWord: word(F.rsp_cons.offset),
    prodWord: word(F.rsp_prod.offset),
  };
  return { reqSpec, rspSpec, control: new XenstoreControlWords(words) };
}

/** xenstored's side: reads requests, writes replies and watch events. */
export function xenstoreServer(page: Uint8Array): { requests: ByteRingReader; responses: ByteRingWriter; control: XenstoreControlWords } {
  const { reqSpec, rspSpec, control } = views(page);
  return { requests: new ByteRingReader(reqSpec), responses: new ByteRingWriter(rspSpec), control };
}

/** The guest's side: writes requests, reads replies and watch events. */
export function xenstoreClient(page: Uint8Array): { requests: ByteRingWriter; responses: ByteRingReader; control: XenstoreControlWords } {
  const { reqSpec, rspSpec, control } = views(page);
  return { requests: new ByteRingWriter(reqSpec), responses: new ByteRingReader(rspSpec), control };
}
