/*
 * The C side of `xlts bench ring`: the request/response workload of bench/ring/workload.ts, written
 * over Xen's own io/ring.h macros, so the TypeScript ring is measured against the real thing on
 * the same machine in the same run. Everything that shapes the numbers is kept the same as the
 * TypeScript workload: 112-byte (blkif-sized) entries in a one-page ring, requests numbered 0..n-1
 * with a check word, the back end echoing each request with a mark byte, every entry copied out of
 * the ring once and copied in once, batching (fill every free slot then one push; take every
 * published entry then one push), and the final-check discipline before sleeping.
 *
 * Usage: ring-bench <single|threads> <requests>
 *   single   both ends alternate in one thread, arming their events when idle but never sleeping
 *   threads  one pthread per end; an idle end sleeps on a futex word per direction, the primitive
 *            Atomics.wait is built on in the TypeScript two-thread run
 * Prints one line:
 *   requests=<n> elapsed_ns=<t> front_notifications=<a> back_notifications=<b> front_pushes=<c> back_pushes=<d>
 * or "error <text>" on stderr and exit status 1 if a sequence number came back wrong.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Barriers as in ring-harness.c: ring.h leaves them to the includer. */
#define __XEN_INTERFACE_VERSION__ 0x00040e00
#define xen_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define xen_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define xen_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)

#include <xen/xen.h>
#include <xen/io/ring.h>

#define ENTRY_SIZE 112
#define RING_BYTES 4096
#define CHECK_XOR 0x5a5aa5a5u
#define RESPONSE_MARK 0x52

struct bench_entry {
    uint8_t b[ENTRY_SIZE];
};
DEFINE_RING_TYPES(bench, struct bench_entry, struct bench_entry);

static uint8_t ring_mem[RING_BYTES] __attribute__((aligned(4096)));

/* One futex word per direction, each on its own cache line. */
static struct {
    int word __attribute__((aligned(64)));
} ev_to_back, ev_to_front;

struct end_stats {
    unsigned int produced;
    unsigned int notifications;
    unsigned int pushes;
};

struct front_end {
    struct bench_front_ring ring;
    unsigned int total, sent, received;
    struct end_stats st;
    int threaded;
};

struct back_end {
    struct bench_back_ring ring;
    unsigned int total, handled;
    struct end_stats st;
    int threaded;
};

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void die(const char *side, unsigned int expected, uint32_t got)
{
    fprintf(stderr, "error %s: expected sequence number %u, got %u\n", side, expected, got);
    exit(1);
}

static void ev_notify(int *word)
{
    __atomic_fetch_add(word, 1, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void ev_wait(int *word, int token)
{
    /* EAGAIN (the word moved since the token was read) and EINTR both mean: look again. */
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, token, NULL, NULL, 0);
}

static int front_work(struct front_end *f)
{
    struct bench_entry e;
    int moved = 0, put = 0, notify;
    RING_IDX prod = f->ring.sring->rsp_prod;

    xen_rmb(); /* read the responses only after seeing rsp_prod */
    while (f->ring.rsp_cons != prod) {
        RING_COPY_RESPONSE(&f->ring, f->ring.rsp_cons, &e);
        f->ring.rsp_cons++;
        uint32_t seq = get_u32(e.b);
        if (seq != f->received || get_u32(e.b + 4) != (seq ^ CHECK_XOR) || e.b[8] != RESPONSE_MARK)
            die("front", f->received, seq);
        f->received++;
        moved = 1;
    }
    memset(&e, 0, sizeof(e));
    while (f->sent < f->total && !RING_FULL(&f->ring)) {
        put_u32(e.b, f->sent);
        put_u32(e.b + 4, f->sent ^ CHECK_XOR);
        memcpy(RING_GET_REQUEST(&f->ring, f->ring.req_prod_pvt), &e, sizeof(e));
        f->ring.req_prod_pvt++;
        f->sent++;
        put++;
    }
    if (put) {
        f->st.pushes++;
        RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&f->ring, notify);
        if (notify) {
            f->st.notifications++;
            if (f->threaded)
                ev_notify(&ev_to_back.word);
        }
        moved = 1;
    }
    return moved;
}

static int back_work(struct back_end *b)
{
    struct bench_entry e;
    int answered = 0, notify;
    RING_IDX prod = b->ring.sring->req_prod;

    xen_rmb(); /* read the requests only after seeing req_prod */
    while (b->ring.req_cons != prod) {
        RING_COPY_REQUEST(&b->ring, b->ring.req_cons, &e);
        b->ring.req_cons++;
        uint32_t seq = get_u32(e.b);
        if (seq != b->handled || get_u32(e.b + 4) != (seq ^ CHECK_XOR))
            die("back", b->handled, seq);
        e.b[8] = RESPONSE_MARK;
        memcpy(RING_GET_RESPONSE(&b->ring, b->ring.rsp_prod_pvt), &e, sizeof(e));
        b->ring.rsp_prod_pvt++;
        b->handled++;
        answered++;
    }
    if (!answered)
        return 0;
    b->st.pushes++;
    RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&b->ring, notify);
    if (notify) {
        b->st.notifications++;
        if (b->threaded)
            ev_notify(&ev_to_front.word);
    }
    return 1;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static pthread_barrier_t start_barrier;
static uint64_t elapsed_ns;

static void *front_thread(void *arg)
{
    struct front_end *f = arg;
    int work;
    pthread_barrier_wait(&start_barrier);
    uint64_t t0 = now_ns();
    while (f->received != f->total) {
        if (front_work(f))
            continue;
        int token = __atomic_load_n(&ev_to_front.word, __ATOMIC_SEQ_CST);
        RING_FINAL_CHECK_FOR_RESPONSES(&f->ring, work);
        if (!work)
            ev_wait(&ev_to_front.word, token);
    }
    elapsed_ns = now_ns() - t0;
    return NULL;
}

static void *back_thread(void *arg)
{
    struct back_end *b = arg;
    int work;
    pthread_barrier_wait(&start_barrier);
    while (b->handled != b->total) {
        if (back_work(b))
            continue;
        int token = __atomic_load_n(&ev_to_back.word, __ATOMIC_SEQ_CST);
        RING_FINAL_CHECK_FOR_REQUESTS(&b->ring, work);
        if (!work)
            ev_wait(&ev_to_back.word, token);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    static struct front_end f;
    static struct back_end b;
    struct bench_sring *sring = (struct bench_sring *)ring_mem;
    unsigned long total;
    int threaded, work;

    if (argc != 3 || (strcmp(argv[1], "single") != 0 && strcmp(argv[1], "threads") != 0)) {
        fprintf(stderr, "usage: %s <single|threads> <requests>\n", argv[0]);
        return 2;
    }
    total = strtoul(argv[2], NULL, 10);
    if (total == 0 || total > 0xffffffffUL) {
        fprintf(stderr, "requests must be 1..4294967295\n");
        return 2;
    }
    threaded = strcmp(argv[1], "threads") == 0;

    SHARED_RING_INIT(sring);
    FRONT_RING_INIT(&f.ring, sring, RING_BYTES);
    BACK_RING_INIT(&b.ring, sring, RING_BYTES);
    f.total = b.total = (unsigned int)total;
    f.threaded = b.threaded = threaded;

    if (threaded) {
        pthread_t ft, bt;
        pthread_barrier_init(&start_barrier, NULL, 2);
        if (pthread_create(&bt, NULL, back_thread, &b) != 0 || pthread_create(&ft, NULL, front_thread, &f) != 0) {
            fprintf(stderr, "error pthread_create failed\n");
            return 1;
        }
        pthread_join(ft, NULL);
        pthread_join(bt, NULL);
    } else {
        uint64_t t0 = now_ns();
        while (f.received != f.total) {
            if (!front_work(&f))
                RING_FINAL_CHECK_FOR_RESPONSES(&f.ring, work);
            if (!back_work(&b))
                RING_FINAL_CHECK_FOR_REQUESTS(&b.ring, work);
        }
        elapsed_ns = now_ns() - t0;
    }
    f.st.produced = f.sent;
    b.st.produced = b.handled;
    printf("requests=%u elapsed_ns=%llu front_notifications=%u back_notifications=%u front_pushes=%u back_pushes=%u\n",
           f.total, (unsigned long long)elapsed_ns, f.st.notifications, b.st.notifications, f.st.pushes, b.st.pushes);
    return 0;
}
