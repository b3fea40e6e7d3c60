/*
 * PVH entry of the test guests. The vCPU arrives in 32-bit protected mode with paging off and
 * %ebx = guest-physical address of hvm_start_info. We load our own GDT, enable PAE paging on
 * static identity page tables for the low 4 GiB (2 MiB pages, no loop to run: the tables are
 * assembled into .data), set EFER.LME, enable paging and far-jump into 64-bit code, which sets up
 * the stack and calls xtf_start(start_info).
 *
 * Everything is linked at its physical address (1 MiB up), so physical = virtual throughout.
 */

#define X86_CR0_PE    0x00000001
#define X86_CR0_PG    0x80000000
#define X86_CR4_PAE   0x00000020
#define MSR_EFER      0xc0000080
#define EFER_LME      0x00000100
#define PTE_P         0x001
#define PTE_RW        0x002
#define PTE_PWT       0x008
#define PTE_PCD       0x010
#define PTE_PS        0x080

#define GDT_CS64 0x08
#define GDT_DS   0x10

/* ---- ELF notes: the PVH entry point, and who we are (for the loader's diagnostics) ---- */
#define XEN_ELFNOTE_GUEST_OS     6
#define XEN_ELFNOTE_PHYS32_ENTRY 18

    .section .note.Xen, "a", @note
    .balign 4
    .long 4, 2f - 1f, XEN_ELFNOTE_GUEST_OS
    .asciz "Xen"
    .balign 4
1:  .asciz "xlts-xtf"
2:  .balign 4

    .long 4, 4, XEN_ELFNOTE_PHYS32_ENTRY
    .asciz "Xen"
    .balign 4
    .long xtf_entry32
    .balign 4

/* ---- 32-bit entry ---- */
    .section .text.entry, "ax", @progbits
    .code32
    .globl xtf_entry32
xtf_entry32:
    cld
    movl %ebx, xtf_start_info_pa

    lgdt gdt_ptr

    movl %cr4, %eax
    orl $X86_CR4_PAE, %eax
    movl %eax, %cr4

    movl $pml4, %eax
    movl %eax, %cr3

    movl $MSR_EFER, %ecx
    rdmsr
    orl $EFER_LME, %eax
    wrmsr

    movl %cr0, %eax
    orl $(X86_CR0_PG | X86_CR0_PE), %eax
    movl %eax, %cr0

    ljmp $GDT_CS64, $xtf_entry64

/* ---- 64-bit entry ---- */
    .code64
xtf_entry64:
    movl $GDT_DS, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl %eax, %fs
    movl %eax, %gs
    movq $xtf_stack_top, %rsp
    xorl %ebp, %ebp
    movl xtf_start_info_pa, %edi
    call xtf_start
    /* xtf_start does not return; if it does, stop here. */
1:  cli
    hlt
    jmp 1b

/* ---- data ---- */
    .section .data, "aw", @progbits
    .balign 8
xtf_start_info_pa:
    .long 0

    .balign 16
gdt:
    .quad 0                     /* null */
    .quad 0x00af9b000000ffff    /* 0x08: 64-bit code, DPL 0 */
    .quad 0x00cf93000000ffff    /* 0x10: flat data, DPL 0 */
gdt_end:

    .balign 8
    .word 0                     /* keeps the 4-byte base aligned */
gdt_ptr:
    .word gdt_end - gdt - 1
    .long gdt

/* Identity map of [0, 4 GiB): PML4[0] -> PDPT, PDPT[0..3] -> four page directories of 2 MiB pages. */
    .section .data.page_aligned, "aw", @progbits
    .balign 4096
pml4:
    .quad pdpt + PTE_P + PTE_RW
    .fill 511, 8, 0
pdpt:
    .quad pd + 0x0000 + PTE_P + PTE_RW
    .quad pd + 0x1000 + PTE_P + PTE_RW
    .quad pd + 0x2000 + PTE_P + PTE_RW
    .quad pd + 0x3000 + PTE_P + PTE_RW
    .fill 508, 8, 0
pd:
    /* [0, 3 GiB): RAM, write-back. */
    .set i, 0
    .rept 1536
    .quad (i << 21) + PTE_PS + PTE_P + PTE_RW
    .set i, i + 1
    .endr
    /* [3 GiB, 4 GiB): the MMIO hole (LAPIC, IOAPIC), uncached. */
    .rept 512
    .quad (i << 21) + PTE_PS + PTE_PCD + PTE_PWT + PTE_P + PTE_RW
    .set i, i + 1
    .endr

    .section .bss, "aw", @nobits
    .balign 16
xtf_stack:
    .skip 16384
    .globl xtf_stack_top
xtf_stack_top:

    .section .note.GNU-stack, "", @progbits
