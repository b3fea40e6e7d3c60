// Grant table v1 entries (xen/include/public/grant_table.h): the guest writes one per page it
// shares, and whoever maps or copies the page (Dom0's backends) checks it and marks it in use.
// Shared by the hypervisor (placing the frames), Dom0's grant mapper and our frontends.
import { defineStruct } from './layout.ts';

/** grant_ref_t indices 0..7 are reserved by the guest (GNTTAB_NR_RESERVED_ENTRIES). */
export const GNTTAB_NR_RESERVED_ENTRIES = 8;

/** Bits of grant_entry_v1.flags. */
export const GTF = {
  /** Type field: 0 invalid, 1 permit_access, 2 accept_transfer, 3 transitive (v2). */
  GTF_invalid: 0,
  GTF_permit_access: 1,
  GTF_accept_transfer: 2,
  GTF_type_mask: 3,
  /** The grantee may only read the frame. */
  GTF_readonly: 1 << 2,
  /** Set by the hypervisor while the frame is mapped or copied for reading / writing. */
  GTF_reading: 1 << 3,
  GTF_writing: 1 << 4,
  GTF_PWT: 1 << 5,
  GTF_PCD: 1 << 6,
  GTF_PAT: 1 << 7,
  GTF_sub_page: 1 << 8,
} as const;

/**
 * struct grant_entry_v1 {
 *     uint16_t flags;   // GTF_*
 *     domid_t  domid;   // the domain being granted access
 *     uint32_t frame;   // the guest frame (GFN) shared
 * };                    // 8 bytes
 */
export const grantEntryV1 = defineStruct('grant_entry_v1', 8, {
  flags: { offset: 0, type: 'u16' },
  domid: { offset: 2, type: 'u16' },
  frame: { offset: 4, type: 'u32' },
});

export const GRANT_ENTRIES_V1_PER_FRAME = 4096 / grantEntryV1.size;
