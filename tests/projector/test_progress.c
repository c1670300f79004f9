/*
 * Tests of projector/progress.c, the publisher of the projector's progress:
 * publishers on several threads, subscribers on two event loops (this
 * thread's and another thread's), each hearing every partition's final
 * position, never a position going back; a late subscriber hearing what was
 * published before it came; positions at or below the last one dropped; and
 * unsubscribing handing over what was published but not heard yet.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <h2o.h>

#include "projector/progress.h"
#include "schemas/base/clock.h"
#include "tests/test.h"

#define NPART 8 /* the partitions published to */
#define NTABLE 16 /* the partitions a subscriber can note */
#define NPUB 4
#define STEPS 20000

typedef struct st_heard_t {
    int64_t next[NTABLE];
    int backwards; /* a position lower than one heard before */
    int calls;
    int all_final; /* set when every partition reached its final position */
} heard_t;

static int64_t final_of(int p) { return (int64_t)STEPS * NPUB + p; }

static void on_progress(void *ctx, const xl_pos_t *pos, size_t n)
{
    heard_t *h = ctx;
    ++h->calls;
    for (size_t i = 0; i != n; ++i) {
        if (pos[i].partition < 0 || pos[i].partition >= NTABLE || pos[i].offset <= h->next[pos[i].partition])
            ++h->backwards;
        else
            h->next[pos[i].partition] = pos[i].offset;
    }
    int all = 1;
    for (int p = 0; p != NPART; ++p)
        all &= h->next[p] == final_of(p);
    h->all_final = all;
}

static int heard_all(const heard_t *h, int n)
{
    for (int i = 0; i != n; ++i)
        if (!h[i].all_final)
            return 0;
    return 1;
}

typedef struct st_pub_arg_t {
    xl_progress_t *pub;
    int id;
} pub_arg_t;

/* Publisher id raises partition p to i * NPUB + id - (NPUB - 1) + p, i = 1..STEPS;
 * the threads interleave, so many reports arrive at or below what another
 * thread already published. The last is final_of(p), from publisher NPUB - 1. */
static void *publisher_main(void *arg)
{
    pub_arg_t *a = arg;
    for (int i = 1; i <= STEPS; ++i)
        for (int p = 0; p != NPART; ++p)
            xl_progress_publish(a->pub, p, (int64_t)i * NPUB + a->id - (NPUB - 1) + p);
    return NULL;
}

/* The second loop: one subscriber, run until it heard the final positions. */
typedef struct st_loop2_t {
    xl_progress_t *pub;
    heard_t heard;
    atomic_int ready, done;
} loop2_t;

static void *loop2_main(void *arg)
{
    loop2_t *l = arg;
    h2o_loop_t *loop = h2o_evloop_create();
    h2o_multithread_queue_t *queue = h2o_multithread_create_queue(loop);
    xl_progress_sub_t *sub = xl_progress_subscribe(l->pub, queue, on_progress, &l->heard);
    atomic_store(&l->ready, 1);
    int64_t until = xl_mono_ms() + 60000;
    while (!l->heard.all_final && xl_mono_ms() < until)
        h2o_evloop_run(loop, 100);
    xl_progress_unsubscribe(sub);
    h2o_multithread_destroy_queue(queue);
    h2o_evloop_destroy(loop);
    atomic_store(&l->done, 1);
    return NULL;
}

int main(void)
{
    xl_progress_t *pub = xl_progress_create();
    h2o_loop_t *loop = h2o_evloop_create();
    h2o_multithread_queue_t *queue = h2o_multithread_create_queue(loop);
    XL_REQUIRE(pub != NULL, "xl_progress_create");

    XL_PHASE("N subscribers on two loops, publishers on four threads");
    heard_t heard[3];
    memset(heard, 0, sizeof(heard));
    for (int i = 0; i != 3; ++i)
        for (int p = 0; p != NTABLE; ++p)
            heard[i].next[p] = -1;
    xl_progress_sub_t *subs[3];
    for (int i = 0; i != 3; ++i)
        XL_REQUIRE((subs[i] = xl_progress_subscribe(pub, queue, on_progress, &heard[i])) != NULL, "subscribe %d", i);
    loop2_t l2;
    memset(&l2, 0, sizeof(l2));
    l2.pub = pub;
    for (int p = 0; p != NTABLE; ++p)
        l2.heard.next[p] = -1;
    pthread_t t2, pubs[NPUB];
    pthread_create(&t2, NULL, loop2_main, &l2);
    while (!atomic_load(&l2.ready))
        ;
    pub_arg_t args[NPUB];
    for (int i = 0; i != NPUB; ++i) {
        args[i] = (pub_arg_t){pub, i};
        pthread_create(&pubs[i], NULL, publisher_main, &args[i]);
    }
    int64_t until = xl_mono_ms() + 60000;
    while (!heard_all(heard, 3) && xl_mono_ms() < until)
        h2o_evloop_run(loop, 100);
    for (int i = 0; i != NPUB; ++i)
        pthread_join(pubs[i], NULL);
    pthread_join(t2, NULL);
    for (int i = 0; i != 3; ++i) {
        XL_CHECK(heard[i].all_final, "subscriber %d did not hear every final position", i);
        XL_CHECK_INT(heard[i].backwards, 0);
        for (int p = 0; p != NPART; ++p)
            XL_CHECK_INT(heard[i].next[p], final_of(p));
        /* reports are merged: far fewer calls than reports */
        XL_CHECK(heard[i].calls < NPUB * STEPS * NPART, "subscriber %d: %d calls", i, heard[i].calls);
    }
    XL_CHECK(l2.heard.all_final, "the other loop's subscriber did not hear every final position");
    XL_CHECK_INT(l2.heard.backwards, 0);
    XL_CHECK_INT(l2.heard.next[NPART - 1], final_of(NPART - 1));

    XL_PHASE("a late subscriber hears what was published before it");
    heard_t late;
    memset(&late, 0, sizeof(late));
    for (int p = 0; p != NTABLE; ++p)
        late.next[p] = -1;
    xl_progress_sub_t *late_sub = xl_progress_subscribe(pub, queue, on_progress, &late);
    XL_CHECK_INT(late.calls, 0); /* on the loop, not inside subscribe */
    until = xl_mono_ms() + 10000;
    while (late.calls == 0 && xl_mono_ms() < until)
        h2o_evloop_run(loop, 100);
    XL_CHECK_INT(late.calls, 1);
    XL_CHECK(late.all_final, "the late subscriber did not hear the positions published before it");

    XL_PHASE("positions at or below the last one are dropped");
    xl_progress_publish(pub, 3, final_of(3));
    xl_progress_publish(pub, 3, 5);
    xl_progress_publish(pub, -1, 1000000);
    h2o_evloop_run(loop, 50);
    XL_CHECK_INT(late.calls, 1);
    XL_CHECK_INT(late.backwards, 0);

    XL_PHASE("unsubscribe hands over what was not heard yet");
    xl_progress_publish(pub, 9, 42); /* a partition nobody heard of */
    int before = heard[0].calls;
    xl_progress_unsubscribe(subs[0]); /* the loop has not run: heard now, from the unsubscribe */
    XL_CHECK_INT(heard[0].calls, before + 1);
    XL_CHECK_INT(heard[0].next[9], 42);
    XL_CHECK_INT(heard[0].backwards, 0);
    until = xl_mono_ms() + 10000;
    while (late.calls == 1 && xl_mono_ms() < until)
        h2o_evloop_run(loop, 100);
    XL_CHECK_INT(late.calls, 2);
    XL_CHECK_INT(late.next[9], 42);
    XL_CHECK_INT(heard[0].calls, before + 1); /* gone: nothing more after the unsubscribe */

    xl_progress_unsubscribe(subs[1]);
    xl_progress_unsubscribe(subs[2]);
    xl_progress_unsubscribe(late_sub);
    h2o_multithread_destroy_queue(queue);
    h2o_evloop_destroy(loop);
    xl_progress_destroy(pub);
    return xl_test_finish();
}
