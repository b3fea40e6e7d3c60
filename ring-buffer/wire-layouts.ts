// Every wire layout and constant table this library declares, in one list: for tools that walk
// them (the C-header test, diagnostics), so adding a layout without checking it is hard to miss.
import { BLKIF, BLKIF_OP, BLKIF_RSP, VDISK, blkifRequest, blkifRequestDiscard, blkifRequestIndirect, blkifRequestSegment, blkifResponse } from './blkif.ts';
import { xenconsInterface } from './console-interface.ts';
import { GTF, grantEntryV1 } from './grant-table.ts';
import type { AnyStructLayout } from './layout.ts';
import {
  NETIF,
  NETIF_RSP,
  NETRXF,
  NETTXF,
  XEN_NETIF_EXTRA,
  XEN_NETIF_GSO_TYPE,
  netifExtraInfo,
  netifExtraInfoGso,
  netifExtraInfoHash,
  netifExtraInfoMcast,
  netifRxRequest,
  netifRxResponse,
  netifTxRequest,
  netifTxResponse,
} from './netif.ts';
import { sringHeader } from './sring.ts';
import { XENSTORE, xenstoreDomainInterface } from './xenstore-interface.ts';
import { XENSTORE_LIMITS, XS, XS_WATCH, XS_WRITE_MODE, xsdSockmsg } from './xs-wire.ts';

export const WIRE_LAYOUTS: readonly AnyStructLayout[] = [
  sringHeader,
  blkifRequestSegment,
  blkifRequest,
  blkifRequestDiscard,
  blkifRequestIndirect,
  blkifResponse,
  netifTxRequest,
  netifTxResponse,
  netifRxRequest,
  netifRxResponse,
  netifExtraInfo,
  netifExtraInfoGso,
  netifExtraInfoMcast,
  netifExtraInfoHash,
  xsdSockmsg,
  xenconsInterface,
  xenstoreDomainInterface,
  grantEntryV1,
];

/**
 * Constant tables whose keys are the C names (macros or enumerators) in the Xen headers.
 * XENCONS is not here: its sizes are sizeof() of the struct's arrays, not C names.
 */
export const WIRE_CONSTANTS: Readonly<Record<string, Readonly<Record<string, number | string>>>> = {
  GTF,
  BLKIF_OP,
  BLKIF,
  BLKIF_RSP,
  VDISK,
  NETTXF,
  NETRXF,
  XEN_NETIF_EXTRA,
  XEN_NETIF_GSO_TYPE,
  NETIF_RSP,
  NETIF,
  XS,
  XS_WATCH,
  XS_WRITE_MODE,
  XENSTORE_LIMITS,
  XENSTORE,
};
