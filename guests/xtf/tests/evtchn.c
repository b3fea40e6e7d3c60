/*
 * 2-level event channels with the per-vCPU upcall vector, the way PVH Linux uses them: shared_info
 * and vcpu_info mapped, HVMOP_set_evtchn_upcall_vector, LAPIC software-enabled, interrupts on.
 * An IPI port bound to ourselves is sent to and must raise an upcall that finds it pending in
 * shared_info and flagged in the registered vcpu_info; a masked port must stay silent until
 * EVTCHNOP_unmask; unbound ports and VIRQ ports report their status; closed ports are refused.
 */
#include "xtf.h"

const char xtf_test_title[] = "event channels";

/* Long enough for an interrupt raised during the hypercall to have been taken on its return. */
#define WAIT_ITERATIONS 200000

static volatile unsigned int upcalls;
static volatile unsigned int last_port = ~0u;
static volatile unsigned int saw_upcall_pending;

static void upcall(void)
{
    struct shared_info *s = xtf_shared_info;
    struct vcpu_info *v = xtf_vcpu_info;

    saw_upcall_pending = v->evtchn_upcall_pending;
    v->evtchn_upcall_pending = 0;
    uint64_t sel = __atomic_exchange_n(&v->evtchn_pending_sel, 0, __ATOMIC_SEQ_CST);
    while (sel) {
        unsigned int w = lowest_bit(sel);
        sel &= sel - 1;
        uint64_t bits = ACCESS_ONCE(s->evtchn_pending[w]) & ~ACCESS_ONCE(s->evtchn_mask[w]);
        while (bits) {
            unsigned int b = lowest_bit(bits);
            bits &= bits - 1;
            __atomic_and_fetch(&s->evtchn_pending[w], ~(1ull << b), __ATOMIC_SEQ_CST);
            last_port = w * 64 + b;
        }
    }
    upcalls++;
}

static int wait_for_upcalls(unsigned int target)
{
    for (unsigned int i = 0; i < WAIT_ITERATIONS && upcalls < target; i++)
        barrier();
    return upcalls >= target;
}

static int port_pending(evtchn_port_t p)
{
    return (ACCESS_ONCE(xtf_shared_info->evtchn_pending[p / 64]) >> (p % 64)) & 1;
}

static long status_of(evtchn_port_t port, struct evtchn_status *st)
{
    *st = (struct evtchn_status){.dom = DOMID_SELF, .port = port};
    return HYPERVISOR_event_channel_op(EVTCHNOP_status, st);
}

void test_main(void)
{
    if (!xtf_check_rc(xtf_map_shared_info(), 0, "XENMEM_add_to_physmap(shared_info)") ||
        !xtf_check_rc(xtf_register_vcpu_info(0x80), 0, "VCPUOP_register_vcpu_info(vcpu 0)"))
        return;

    xtf_set_irq_handler(XTF_UPCALL_VECTOR, upcall);
    struct xen_hvm_evtchn_upcall_vector uv = {.vcpu = 0, .vector = XTF_UPCALL_VECTOR};
    xtf_check_rc(HYPERVISOR_hvm_op(HVMOP_set_evtchn_upcall_vector, &uv), 0, "HVMOP_set_evtchn_upcall_vector(0xf3)");
    /* Linux then sets CALLBACK_IRQ to a dummy GSI 1; the per-vCPU vector takes precedence. */
    xtf_check_rc(hvm_set_param(HVM_PARAM_CALLBACK_IRQ, 1), 0, "HVMOP_set_param(CALLBACK_IRQ, 1)");
    xtf_lapic_enable();
    sti();

    struct evtchn_bind_ipi ipi = {.vcpu = 0};
    long rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_ipi, &ipi);
    if (!xtf_check(rc == 0 && ipi.port > 0 && ipi.port < EVTCHN_2L_NR_CHANNELS, "EVTCHNOP_bind_ipi(vcpu 0) -> port %u (rc %ld)", ipi.port, rc))
        return;
    evtchn_port_t port = ipi.port;

    struct evtchn_status st;
    rc = status_of(port, &st);
    xtf_check(rc == 0 && st.status == EVTCHNSTAT_ipi && st.vcpu == 0, "EVTCHNOP_status(ipi port): status %u vcpu %u", st.status, st.vcpu);

    /*
     * Upcalls may already have arrived (Xen marks events pending when vcpu_info is registered, and
     * the hypervisor re-injects once our LAPIC accepts interrupts): count from here.
     */
    unsigned int before = upcalls;
    last_port = ~0u;
    saw_upcall_pending = 0;
    xtf_check_rc(evtchn_send(port), 0, "EVTCHNOP_send(ipi port)");
    xtf_check(wait_for_upcalls(before + 1), "upcall delivered on vector 0xf3 after send");
    xtf_check(last_port == port, "upcall found port %u pending (saw %u)", port, last_port);
    xtf_check(saw_upcall_pending, "registered vcpu_info had evtchn_upcall_pending set");

    /* Masked: the send sets the pending bit but raises no upcall. */
    __atomic_or_fetch(&xtf_shared_info->evtchn_mask[port / 64], 1ull << (port % 64), __ATOMIC_SEQ_CST);
    before = upcalls;
    xtf_check_rc(evtchn_send(port), 0, "EVTCHNOP_send(masked port)");
    wait_for_upcalls(before + 1);
    xtf_check(upcalls == before, "no upcall for a masked port");
    xtf_check(port_pending(port), "masked port left pending");
    /* Unmask through the hypervisor: a pending port is then delivered. */
    last_port = ~0u;
    xtf_check_rc(evtchn_unmask(port), 0, "EVTCHNOP_unmask(pending port)");
    xtf_check(wait_for_upcalls(before + 1) && last_port == port, "upcall for the pending port after unmask");

    struct evtchn_alloc_unbound au = {.dom = DOMID_SELF, .remote_dom = DOMID_SELF};
    rc = HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &au);
    xtf_check(rc == 0 && au.port > 0 && au.port != port, "EVTCHNOP_alloc_unbound -> port %u (rc %ld)", au.port, rc);
    rc = status_of(au.port, &st);
    xtf_check(rc == 0 && st.status == EVTCHNSTAT_unbound, "EVTCHNOP_status(unbound port): status %u", st.status);
    xtf_check_rc(evtchn_close(au.port), 0, "EVTCHNOP_close(unbound port)");
    rc = status_of(au.port, &st);
    xtf_check(rc == 0 && st.status == EVTCHNSTAT_closed, "EVTCHNOP_status(closed port): status %u", st.status);

    struct evtchn_bind_virq bv = {.virq = VIRQ_DEBUG, .vcpu = 0};
    rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_virq, &bv);
    xtf_check(rc == 0 && bv.port > 0, "EVTCHNOP_bind_virq(VIRQ_DEBUG) -> port %u (rc %ld)", bv.port, rc);
    rc = status_of(bv.port, &st);
    xtf_check(rc == 0 && st.status == EVTCHNSTAT_virq && st.u.virq == VIRQ_DEBUG, "EVTCHNOP_status(virq port): status %u virq %u", st.status, st.u.virq);
    struct evtchn_bind_virq again = {.virq = VIRQ_DEBUG, .vcpu = 0};
    xtf_check_rc(HYPERVISOR_event_channel_op(EVTCHNOP_bind_virq, &again), -XEN_EEXIST, "EVTCHNOP_bind_virq(VIRQ_DEBUG again)");
    xtf_check_rc(evtchn_close(bv.port), 0, "EVTCHNOP_close(virq port)");

    xtf_check_rc(evtchn_close(port), 0, "EVTCHNOP_close(ipi port)");
    xtf_check_rc(evtchn_send(port), -XEN_EINVAL, "EVTCHNOP_send(closed port)");
    cli();
}
