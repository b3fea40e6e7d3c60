/*
 * Differential oracle for ring-buffer/: drives Xen's own io/ring.h macros (from libxen-dev, not a
 * copy) through a script of operations read from stdin, one per line, and prints one line per
 * operation. test/ring-differential.test.ts runs the same script against FrontRing/BackRing and
 * requires every line to be identical, so any divergence from Xen's semantics shows up as the first
 * differing line rather than as a wrong page at the end.
 *
 * Both ends live in this one process over one buffer, driven in the script's order: the point is
 * the arithmetic and the page contents, not concurrency (test/ring-stress.test.ts covers that).
 *
 * Build: gcc -DENTRY_SIZE=<bytes>; the entry size is a compile-time type in C, so the test builds
 * one binary per entry size it covers.
 *
 * Operations (numbers are decimal, or 0x-prefixed hex):
 *   init <bytes>              fill the buffer with FILL_BYTE, SHARED_RING_INIT, FRONT/BACK_RING_INIT
 *   attach <bytes> <idx>      as init, then both producers := idx, both events := idx + 1, and
 *                             FRONT/BACK_RING_ATTACH at idx (how the tests reach the 2^32 wrap)
 *   front_put <tag>           fill the request slot at req_prod_pvt from tag, req_prod_pvt++
 *   front_push                RING_PUSH_REQUESTS
 *   front_push_notify         RING_PUSH_REQUESTS_AND_CHECK_NOTIFY       -> notify 0|1
 *   front_free / front_full   RING_FREE_REQUESTS / RING_FULL             -> n <count> / bool 0|1
 *   front_unconsumed          RING_HAS_UNCONSUMED_RESPONSES (a count)   -> n <count>
 *   front_take                copy the response at rsp_cons, rsp_cons++  -> entry <hex>
 *   front_final               RING_FINAL_CHECK_FOR_RESPONSES             -> work 0|1
 *   front_rsp_overflow        RING_RESPONSE_PROD_OVERFLOW(shared rsp_prod) -> bool 0|1
 *   back_unconsumed           RING_HAS_UNCONSUMED_REQUESTS (a count)     -> n <count>
 *   back_take                 copy the request at req_cons, req_cons++   -> entry <hex>
 *   back_put <tag>            fill the response slot at rsp_prod_pvt, rsp_prod_pvt++
 *   back_push                 RING_PUSH_RESPONSES
 *   back_push_notify          RING_PUSH_RESPONSES_AND_CHECK_NOTIFY      -> notify 0|1
 *   back_final                RING_FINAL_CHECK_FOR_REQUESTS              -> work 0|1
 *   back_req_overflow         RING_REQUEST_PROD_OVERFLOW(shared req_prod) -> bool 0|1
 *   poke <field> <value>      store a shared header word as the peer could (field: req_prod,
 *                             req_event, rsp_prod, rsp_event)
 *   dump                      -> page <hex of the whole ring area>
 *   blkif_info                -> blkif <sizeof(union blkif_sring_entry)> <__CONST_RING_SIZE(blkif, 4096)>
 *
 * Every output line is "<result> | <req_prod> <req_event> <rsp_prod> <rsp_event> | <req_prod_pvt>
 * <rsp_cons> | <rsp_prod_pvt> <req_cons>" (the state after the operation), or "error <text>" for a
 * script this program cannot run, after which it exits 2.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * ring.h leaves the barriers to the includer for interface versions >= 0x00030208; sequentially
 * consistent fences are stronger than any port of Xen needs, which is what an oracle wants.
 */
#define __XEN_INTERFACE_VERSION__ 0x00040e00
#define xen_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define xen_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define xen_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)

#include <xen/xen.h>
#include <xen/io/ring.h>
#include <xen/io/blkif.h>

#ifndef ENTRY_SIZE
#error "build with -DENTRY_SIZE=<bytes>"
#endif

/* A ring entry that is nothing but bytes, so any entry size can be compared with FrontRing's. */
struct xt_entry {
    uint8_t b[ENTRY_SIZE];
};
DEFINE_RING_TYPES(xt, struct xt_entry, struct xt_entry);

_Static_assert(sizeof(union xt_sring_entry) == ENTRY_SIZE, "entry union adds no padding");

/* Filled before SHARED_RING_INIT so the test sees exactly which bytes initialisation clears. */
#define FILL_BYTE 0xa5
/* 16 pages: enough for the multi-page cases (ring-page-order up to 4, blkback's maximum). */
#define MAX_RING_BYTES (16 * 4096)

static uint8_t ring_mem[MAX_RING_BYTES] __attribute__((aligned(4096)));
static unsigned int ring_bytes;
static struct xt_sring *sring;
static struct xt_front_ring front;
static struct xt_back_ring back;
static int ready;

/* The entry contents for a tag; ring-differential.test.ts computes the same bytes (entryForTag). */
static void fill_entry(struct xt_entry *e, uint32_t tag)
{
    for (unsigned int i = 0; i < ENTRY_SIZE; i++)
        e->b[i] = (uint8_t)((tag >> ((i & 3) * 8)) ^ (i * 0x3b));
}

static void print_hex(const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        putchar(digits[p[i] >> 4]);
        putchar(digits[p[i] & 15]);
    }
}

static void print_state(void)
{
    printf(" | %u %u %u %u | %u %u | %u %u\n", sring->req_prod, sring->req_event, sring->rsp_prod,
           sring->rsp_event, front.req_prod_pvt, front.rsp_cons, back.rsp_prod_pvt, back.req_cons);
}

static void fail(const char *what, const char *line)
{
    printf("error %s: %s\n", what, line);
    fflush(stdout);
    exit(2);
}

static int parse_u32(const char *s, uint32_t *out)
{
    char *end;
    unsigned long long v;
    if (s == NULL || *s == '\0')
        return 0;
    v = strtoull(s, &end, 0);
    if (*end != '\0' || v > 0xffffffffULL)
        return 0;
    *out = (uint32_t)v;
    return 1;
}

static void setup(const char *line, uint32_t bytes, uint32_t idx)
{
    if (bytes < sizeof(struct xt_sring) || bytes > MAX_RING_BYTES || bytes % 4096 != 0)
        fail("ring bytes must be a multiple of 4096 up to 65536", line);
    ring_bytes = bytes;
    memset(ring_mem, FILL_BYTE, sizeof(ring_mem));
    sring = (struct xt_sring *)ring_mem;
    SHARED_RING_INIT(sring);
    FRONT_RING_ATTACH(&front, sring, idx, bytes);
    BACK_RING_ATTACH(&back, sring, idx, bytes);
    if (idx != 0) {
        sring->req_prod = sring->rsp_prod = idx;
        sring->req_event = sring->rsp_event = idx + 1;
    }
    ready = 1;
    printf("size %u", RING_SIZE(&front));
}

int main(void)
{
    char line[256];

    while (fgets(line, sizeof(line), stdin) != NULL) {
        char *op, *a1, *a2, *save = NULL;
        uint32_t x = 0, y = 0;

        line[strcspn(line, "\r\n")] = '\0';
        op = strtok_r(line, " ", &save);
        if (op == NULL)
            continue;
        a1 = strtok_r(NULL, " ", &save);
        a2 = strtok_r(NULL, " ", &save);

        if (strcmp(op, "blkif_info") == 0) {
            /* Ties the entry sizes used in the test to the real blkif layout. */
            printf("blkif %zu %lu\n", sizeof(union blkif_sring_entry),
                   (unsigned long)__CONST_RING_SIZE(blkif, 4096));
            continue;
        }
        if (strcmp(op, "init") == 0) {
            if (!parse_u32(a1, &x))
                fail("bad init", op);
            setup(op, x, 0);
        } else if (strcmp(op, "attach") == 0) {
            if (!parse_u32(a1, &x) || !parse_u32(a2, &y))
                fail("bad attach", op);
            setup(op, x, y);
        } else if (!ready) {
            fail("no init before", op);
        } else if (strcmp(op, "front_put") == 0) {
            if (!parse_u32(a1, &x))
                fail("bad tag", op);
            fill_entry(RING_GET_REQUEST(&front, front.req_prod_pvt), x);
            front.req_prod_pvt++;
            printf("ok");
        } else if (strcmp(op, "front_push") == 0) {
            RING_PUSH_REQUESTS(&front);
            printf("ok");
        } else if (strcmp(op, "front_push_notify") == 0) {
            int notify;
            RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&front, notify);
            printf("notify %d", notify ? 1 : 0);
        } else if (strcmp(op, "front_free") == 0) {
            printf("n %u", (unsigned int)RING_FREE_REQUESTS(&front));
        } else if (strcmp(op, "front_full") == 0) {
            printf("bool %d", RING_FULL(&front) ? 1 : 0);
        } else if (strcmp(op, "front_unconsumed") == 0) {
            printf("n %u", (unsigned int)RING_HAS_UNCONSUMED_RESPONSES(&front));
        } else if (strcmp(op, "front_take") == 0) {
            struct xt_entry e;
            RING_COPY_RESPONSE(&front, front.rsp_cons, &e);
            front.rsp_cons++;
            printf("entry ");
            print_hex(e.b, ENTRY_SIZE);
        } else if (strcmp(op, "front_final") == 0) {
            unsigned int work;
            RING_FINAL_CHECK_FOR_RESPONSES(&front, work);
            printf("work %d", work ? 1 : 0);
        } else if (strcmp(op, "front_rsp_overflow") == 0) {
            printf("bool %d", RING_RESPONSE_PROD_OVERFLOW(&front, sring->rsp_prod) ? 1 : 0);
        } else if (strcmp(op, "back_unconsumed") == 0) {
            printf("n %u", (unsigned int)RING_HAS_UNCONSUMED_REQUESTS(&back));
        } else if (strcmp(op, "back_take") == 0) {
            struct xt_entry e;
            RING_COPY_REQUEST(&back, back.req_cons, &e);
            back.req_cons++;
            printf("entry ");
            print_hex(e.b, ENTRY_SIZE);
        } else if (strcmp(op, "back_put") == 0) {
            if (!parse_u32(a1, &x))
                fail("bad tag", op);
            fill_entry(RING_GET_RESPONSE(&back, back.rsp_prod_pvt), x);
            back.rsp_prod_pvt++;
            printf("ok");
        } else if (strcmp(op, "back_push") == 0) {
            RING_PUSH_RESPONSES(&back);
            printf("ok");
        } else if (strcmp(op, "back_push_notify") == 0) {
            int notify;
            RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&back, notify);
            printf("notify %d", notify ? 1 : 0);
        } else if (strcmp(op, "back_final") == 0) {
            unsigned int work;
            RING_FINAL_CHECK_FOR_REQUESTS(&back, work);
            printf("work %d", work ? 1 : 0);
        } else if (strcmp(op, "back_req_overflow") == 0) {
            printf("bool %d", RING_REQUEST_PROD_OVERFLOW(&back, sring->req_prod) ? 1 : 0);
        } else if (strcmp(op, "poke") == 0) {
            if (a1 == NULL || !parse_u32(a2, &y))
                fail("bad poke", op);
            if (strcmp(a1, "req_prod") == 0)
                sring->req_prod = y;
            else if (strcmp(a1, "req_event") == 0)
                sring->req_event = y;
            else if (strcmp(a1, "rsp_prod") == 0)
                sring->rsp_prod = y;
            else if (strcmp(a1, "rsp_event") == 0)
                sring->rsp_event = y;
            else
                fail("bad poke field", a1);
            printf("ok");
        } else if (strcmp(op, "dump") == 0) {
            printf("page ");
            print_hex(ring_mem, ring_bytes);
        } else {
            fail("unknown operation", op);
        }
        print_state();
    }
    return 0;
}
