/*
 * Interrupt and exception entry: one 16-byte stub per vector (xtf_trap_stubs + 16 * vector), each
 * pushing a dummy error code where the CPU pushes none, then the vector, and joining a common path
 * that saves the general registers (struct xtf_regs in traps.c) and calls xtf_trap(regs).
 */

    .section .text, "ax", @progbits
    .code64

    .balign 16
    .globl xtf_trap_stubs
xtf_trap_stubs:
    .set vec, 0
    .rept 256
    .balign 16
    /* Exceptions that push an error code: #DF, #TS, #NP, #SS, #GP, #PF, #AC, #CP, #VC, #SX. */
    .if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
    .else
    pushq $0
    .endif
    pushq $vec
    jmp xtf_trap_common
    .set vec, vec + 1
    .endr

xtf_trap_common:
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, %rdi
    call xtf_trap
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    addq $16, %rsp      /* vector and error code */
    iretq

    .section .note.GNU-stack, "", @progbits
