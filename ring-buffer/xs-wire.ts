// XenStore wire protocol (io/xs_wire.h): message types, the error names an XS_ERROR reply
// carries, and the 16-byte message header. Shared by the daemon's engine and the clients.
import { defineStruct } from './layout.ts';

/** enum xsd_sockmsg_type */
export const XS = {
  XS_CONTROL: 0,
  /** Older name of XS_CONTROL. */
  XS_DEBUG: 0,
  XS_DIRECTORY: 1,
  XS_READ: 2,
  XS_GET_PERMS: 3,
  XS_WATCH: 4,
  XS_UNWATCH: 5,
  XS_TRANSACTION_START: 6,
  XS_TRANSACTION_END: 7,
  XS_INTRODUCE: 8,
  XS_RELEASE: 9,
  XS_GET_DOMAIN_PATH: 10,
  XS_WRITE: 11,
  XS_MKDIR: 12,
  XS_RM: 13,
  XS_SET_PERMS: 14,
  XS_WATCH_EVENT: 15,
  XS_ERROR: 16,
  XS_IS_DOMAIN_INTRODUCED: 17,
  XS_RESUME: 18,
  XS_SET_TARGET: 19,
  // 20 was XS_RESTRICT, since removed.
  XS_RESET_WATCHES: 21,
  XS_DIRECTORY_PART: 22,
  XS_TYPE_COUNT: 23,
  XS_INVALID: 0xffff,
} as const;
export type XsType = (typeof XS)[keyof typeof XS];

/** enum xs_watch_type: the order of the strings in an XS_WATCH_EVENT payload. */
export const XS_WATCH = {
  XS_WATCH_PATH: 0,
  XS_WATCH_TOKEN: 1,
} as const;

/** Flags of an XS_WRITE in the old (mode-string) form. */
export const XS_WRITE_MODE = {
  XS_WRITE_NONE: 'NONE',
  XS_WRITE_CREATE: 'CREATE',
  XS_WRITE_CREATE_EXCL: 'CREATE|EXCL',
} as const;

/**
 * The error names of XS_ERROR replies, in xsd_errors order (io/xs_wire.h; new ones are only ever
 * appended there). The wire carries the name, never a number.
 */
export const XSD_ERRORS = [
  'EINVAL',
  'EACCES',
  'EEXIST',
  'EISDIR',
  'ENOENT',
  'ENOMEM',
  'ENOSPC',
  'EIO',
  'ENOTEMPTY',
  'ENOSYS',
  'EROFS',
  'EBUSY',
  'EAGAIN',
  'EISCONN',
  'E2BIG',
  'EPERM',
] as const;
export type XsdErrorName = (typeof XSD_ERRORS)[number];

export const XENSTORE_LIMITS = {
  /** Largest payload after the header; longer is a protocol violation. */
  XENSTORE_PAYLOAD_MAX: 4096,
  XENSTORE_ABS_PATH_MAX: 3072,
  XENSTORE_REL_PATH_MAX: 2048,
} as const;

/**
 * struct xsd_sockmsg {
 *     uint32_t type;    // XS_*
 *     uint32_t req_id;  // echoed in the daemon's response
 *     uint32_t tx_id;   // transaction id, 0 outside a transaction
 *     uint32_t len;     // payload bytes following the header
 * };                    // 16 bytes
 */
export const xsdSockmsg = defineStruct('xsd_sockmsg', 16, {
  type: { offset: 0, type: 'u32' },
  req_id: { offset: 4, type: 'u32' },
  tx_id: { offset: 8, type: 'u32' },
  len: { offset: 12, type: 'u32' },
});

export const XSD_SOCKMSG_SIZE = xsdSockmsg.size;
