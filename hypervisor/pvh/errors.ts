// One Error subclass per way a kernel image or a boot plan can be refused. A kernel file is
// untrusted input (a corrupt download, a hostile image handed to the toolstack), so each refusal
// names the field and value that failed, and callers can tell the cases apart by class.

/** Base class: every refusal of the PVH loader is a PvhError. */
export class PvhError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The bytes are not an ELF file at all (no `\x7fELF` magic, or shorter than an ELF identification). */
export class NotElfError extends PvhError {
  constructor(detail = '') {
    super(`not an ELF file${detail ? `: ${detail}` : ''}`);
  }
}

/** An ELF file whose headers are inconsistent with the file or with what a PVH guest can be. */
export class ElfFormatError extends PvhError {}

/** A well-formed ELF that carries no Xen note with the 32-bit PVH entry point. */
export class NoPvhEntryNoteError extends PvhError {
  constructor() {
    super('no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)');
  }
}

/** A PT_LOAD segment, or the entry point, that does not land in guest RAM as the layout plans it. */
export class SegmentOutsideRamError extends PvhError {}

/** Two things the loader must place (segments, modules, boot pages) would overlap. */
export class LoadOverlapError extends PvhError {}

/** The guest-physical layout cannot be planned for the requested memory size and contents. */
export class LayoutError extends PvhError {}

/** A kernel image that is neither an ELF nor a bzImage whose setup header we accept. */
export class BzImageError extends PvhError {}

/** A bzImage whose payload uses a compressor we cannot decode. */
export class UnsupportedCompressionError extends PvhError {}

/** The decompressor failed, produced too much, or produced a size other than the image announced. */
export class DecompressionError extends PvhError {}

/** A command line or module command line that cannot be handed to the guest. */
export class CommandLineError extends PvhError {}

/** ACPI tables that cannot be built as asked (too many vCPUs for the table area, bad port, ...). */
export class AcpiBuildError extends PvhError {}

/** A boot-ABI struct (start_info, module list, memory map) asked to hold a value its field cannot. */
export class StructLayoutError extends PvhError {}
