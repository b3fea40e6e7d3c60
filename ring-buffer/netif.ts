// Network device ring protocol (io/netif.h): flags, extra-info types and the four ring
// structures of the tx and rx rings. Offsets are checked against the installed Xen headers by
// layout-c-headers.spec.ts.
import { defineStruct } from './layout.ts';

/** netif_tx_request.flags */
export const NETTXF = {
  NETTXF_csum_blank: 1 << 0,
  NETTXF_data_validated: 1 << 1,
  NETTXF_more_data: 1 << 2,
  NETTXF_extra_info: 1 << 3,
} as const;

/** netif_rx_response.flags */
export const NETRXF = {
  NETRXF_data_validated: 1 << 0,
  NETRXF_csum_blank: 1 << 1,
  NETRXF_more_data: 1 << 2,
  NETRXF_extra_info: 1 << 3,
  NETRXF_gso_prefix: 1 << 4,
} as const;

/** netif_extra_info.type, .flags and the GSO types it carries. */
export const XEN_NETIF_EXTRA = {
  XEN_NETIF_EXTRA_TYPE_NONE: 0,
  XEN_NETIF_EXTRA_TYPE_GSO: 1,
  XEN_NETIF_EXTRA_TYPE_MCAST_ADD: 2,
  XEN_NETIF_EXTRA_TYPE_MCAST_DEL: 3,
  XEN_NETIF_EXTRA_TYPE_HASH: 4,
  XEN_NETIF_EXTRA_TYPE_MAX: 5,
  XEN_NETIF_EXTRA_FLAG_MORE: 1 << 0,
} as const;

export const XEN_NETIF_GSO_TYPE = {
  XEN_NETIF_GSO_TYPE_NONE: 0,
  XEN_NETIF_GSO_TYPE_TCPV4: 1,
  XEN_NETIF_GSO_TYPE_TCPV6: 2,
} as const;

export const NETIF_RSP = {
  NETIF_RSP_DROPPED: -2,
  NETIF_RSP_ERROR: -1,
  NETIF_RSP_OKAY: 0,
  /** No response: used for auxiliary requests such as netif_extra_info. */
  NETIF_RSP_NULL: 1,
} as const;

export const NETIF = {
  /** Largest packet a tx request chain may describe. */
  XEN_NETIF_MAX_TX_SIZE: 0xffff,
  /** Slots a backend must accept per packet at the least. */
  XEN_NETIF_NR_SLOTS_MIN: 18,
} as const;

/**
 * struct netif_tx_request {
 *     grant_ref_t gref;
 *     uint16_t offset;
 *     uint16_t flags;   // NETTXF_*
 *     uint16_t id;
 *     uint16_t size;    // first request of a packet: whole packet size
 * };                    // 12 bytes
 */
export const netifTxRequest = defineStruct('netif_tx_request', 12, {
  gref: { offset: 0, type: 'u32' },
  offset: { offset: 4, type: 'u16' },
  flags: { offset: 6, type: 'u16' },
  id: { offset: 8, type: 'u16' },
  size: { offset: 10, type: 'u16' },
});

/**
 * struct netif_tx_response {
 *     uint16_t id;
 *     int16_t  status;  // NETIF_RSP_*
 * };                    // 4 bytes
 */
export const netifTxResponse = defineStruct('netif_tx_response', 4, {
  id: { offset: 0, type: 'u16' },
  status: { offset: 2, type: 'i16' },
});

/**
 * struct netif_rx_request {
 *     uint16_t    id;
 *     uint16_t    pad;
 *     grant_ref_t gref;
 * };                    // 8 bytes
 */
export const netifRxRequest = defineStruct('netif_rx_request', 8, {
  id: { offset: 0, type: 'u16' },
  pad: { offset: 2, type: { pad: 2 } },
  gref: { offset: 4, type: 'u32' },
});

/**
 * struct netif_rx_response {
 *     uint16_t id;
 *     uint16_t offset;
 *     uint16_t flags;   // NETRXF_*
 *     int16_t  status;  // -ve: NETIF_RSP_*, +ve: bytes received
 * };                    // 8 bytes
 */
export const netifRxResponse = defineStruct('netif_rx_response', 8, {
  id: { offset: 0, type: 'u16' },
  offset: { offset: 2, type: 'u16' },
  flags: { offset: 4, type: 'u16' },
  status: { offset: 6, type: 'i16' },
});

/*
 * struct netif_extra_info {
 *     uint8_t type;    // XEN_NETIF_EXTRA_TYPE_*
 *     uint8_t flags;   // XEN_NETIF_EXTRA_FLAG_*
 *     union {
 *         struct { uint16_t size; uint8_t type; uint8_t pad; uint16_t features; } gso;
 *         struct { uint8_t addr[6]; } mcast;
 *         struct { uint8_t type; uint8_t algorithm; uint8_t value[4]; } hash;
 *         uint16_t pad[3];
 *     } u;
 * };                   // 8 bytes, occupies a tx request slot or an rx response slot
 *
 * Declared as one layout per union member: decode netifExtraInfo for the type, then the
 * member's layout from the same private copy.
 */
export const netifExtraInfo = defineStruct('netif_extra_info', 8, {
  type: { offset: 0, type: 'u8' },
  flags: { offset: 1, type: 'u8' },
  u: { offset: 2, type: { pad: 6 } },
});

export const netifExtraInfoGso = defineStruct(
  'netif_extra_info_gso',
  8,
  {
    type: { offset: 0, type: 'u8' },
    flags: { offset: 1, type: 'u8' },
    size: { offset: 2, type: 'u16', c: 'u.gso.size' },
    gso_type: { offset: 4, type: 'u8', c: 'u.gso.type' },
    pad: { offset: 5, type: { pad: 1 }, c: 'u.gso.pad' },
    features: { offset: 6, type: 'u16', c: 'u.gso.features' },
  },
  { type: 'struct netif_extra_info' },
);

export const netifExtraInfoMcast = defineStruct(
  'netif_extra_info_mcast',
  8,
  {
    type: { offset: 0, type: 'u8' },
    flags: { offset: 1, type: 'u8' },
    addr: { offset: 2, type: { bytes: 6 }, c: 'u.mcast.addr' },
  },
  { type: 'struct netif_extra_info' },
);

export const netifExtraInfoHash = defineStruct(
  'netif_extra_info_hash',
  8,
  {
    type: { offset: 0, type: 'u8' },
    flags: { offset: 1, type: 'u8' },
    hash_type: { offset: 2, type: 'u8', c: 'u.hash.type' },
    algorithm: { offset: 3, type: 'u8', c: 'u.hash.algorithm' },
    value: { offset: 4, type: { bytes: 4 }, c: 'u.hash.value' },
  },
  { type: 'struct netif_extra_info' },
);

/** Slot sizes: each ring's slot holds the union of its request and response. */
export const NETIF_TX_RING_ENTRY_SIZE = Math.max(netifTxRequest.size, netifTxResponse.size, netifExtraInfo.size);
export const NETIF_RX_RING_ENTRY_SIZE = Math.max(netifRxRequest.size, netifRxResponse.size, netifExtraInfo.size);
