/*
 * Catching up before "not found" (see catchup.h). The thread answers one
 * question at a time: "what is the log end now?"; the loop keeps the waiters
 * and the projection's progress and calls a waiter back once every partition
 * is applied up to the answer it waited for.
 */
#include "ingest/catchup.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <h2o/multithread.h>

#include "schemas/base/log.h"
#include "schemas/base/thread.h"

typedef struct st_answer_msg_t {
    h2o_multithread_message_t msg;
    h2o_linklist_t unheard; /* xl_catchup_t.unheard until the loop takes it */
    uint64_t generation;
    int64_t *ends; /* NULL: the log end could not be read */
    size_t n;
} answer_msg_t;

struct st_xl_catchup_t {
    h2o_loop_t *loop;
    xl_producer_t *prod;
    int timeout_ms;
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t on_answer;
    h2o_linklist_t waiters; /* xl_catchup_wait_t.link */
    int64_t *applied;       /* per partition, loop thread */
    size_t napplied;
    pthread_t thread;
    int thread_started;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    uint64_t asked, answered; /* question generations, under mutex */
    h2o_linklist_t unheard;   /* answer_msg_t.unheard: sent, not yet received; under mutex */
    int stop;
};

static void *thread_main(void *arg)
{
    xl_catchup_t *cu = arg;
    xl_thread_name("xl-catchup");
    pthread_mutex_lock(&cu->mutex);
    for (;;) {
        while (!cu->stop && cu->answered == cu->asked)
            pthread_cond_wait(&cu->cond, &cu->mutex);
        if (cu->stop)
            break;
        uint64_t gen = cu->asked;
        pthread_mutex_unlock(&cu->mutex);
        char err[256];
        answer_msg_t *m = calloc(1, sizeof(*m));
        if (m != NULL) {
            m->generation = gen;
            if (xl_producer_log_end(cu->prod, cu->timeout_ms, &m->ends, &m->n, err, sizeof(err)) != 0) {
                xl_log_warn("ingest", "cannot read the log end to check an unknown execution: %s", err);
                m->ends = NULL;
            }
            pthread_mutex_lock(&cu->mutex);
            h2o_linklist_insert(&cu->unheard, &m->unheard);
            pthread_mutex_unlock(&cu->mutex);
            h2o_multithread_send_message(&cu->on_answer, &m->msg);
        }
        pthread_mutex_lock(&cu->mutex);
        cu->answered = gen;
    }
    pthread_mutex_unlock(&cu->mutex);
    return NULL;
}

static int reached(const xl_catchup_t *cu, const xl_catchup_wait_t *w)
{
    for (size_t p = 0; p < w->nwant; ++p) {
        int64_t at = p < cu->napplied && cu->applied[p] > 0 ? cu->applied[p] : 0;
        if (at < w->want[p])
            return 0;
    }
    return 1;
}

static void finish(xl_catchup_wait_t *w, int failed)
{
    h2o_linklist_unlink(&w->link);
    free(w->want);
    w->want = NULL;
    w->failed = failed;
    w->cb(w);
}

/* Call back every answered waiter whose partitions are all applied far enough. */
static void check(xl_catchup_t *cu)
{
    h2o_linklist_t *l = cu->waiters.next;
    while (l != &cu->waiters) {
        xl_catchup_wait_t *w = H2O_STRUCT_FROM_MEMBER(xl_catchup_wait_t, link, l);
        l = l->next; /* w leaves the list */
        if (w->want != NULL && reached(cu, w))
            finish(w, 0);
    }
}

static void on_answer(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    xl_catchup_t *cu = H2O_STRUCT_FROM_MEMBER(xl_catchup_t, on_answer, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        answer_msg_t *m = H2O_STRUCT_FROM_MEMBER(answer_msg_t, msg.link, messages->next);
        h2o_linklist_unlink(&m->msg.link);
        pthread_mutex_lock(&cu->mutex);
        h2o_linklist_unlink(&m->unheard);
        pthread_mutex_unlock(&cu->mutex);
        h2o_linklist_t *l = cu->waiters.next;
        while (l != &cu->waiters) {
            xl_catchup_wait_t *w = H2O_STRUCT_FROM_MEMBER(xl_catchup_wait_t, link, l);
            l = l->next;
            if (w->want != NULL || w->generation > m->generation)
                continue; /* answered already, or asked after this question left */
            if (m->ends == NULL) {
                finish(w, 1);
                continue;
            }
            w->want = malloc(m->n * sizeof(*w->want));
            if (w->want == NULL) {
                finish(w, 1);
                continue;
            }
            memcpy(w->want, m->ends, m->n * sizeof(*w->want));
            w->nwant = m->n;
        }
        free(m->ends);
        free(m);
    }
    check(cu);
}

xl_catchup_t *xl_catchup_create(h2o_loop_t *loop, xl_producer_t *prod, int timeout_ms, char *err, size_t errlen)
{
    xl_catchup_t *cu = calloc(1, sizeof(*cu));
    if (cu == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    cu->loop = loop;
    cu->prod = prod;
    cu->timeout_ms = timeout_ms;
    h2o_linklist_init_anchor(&cu->waiters);
    h2o_linklist_init_anchor(&cu->unheard);
    pthread_mutex_init(&cu->mutex, NULL);
    pthread_cond_init(&cu->cond, NULL);
    cu->queue = h2o_multithread_create_queue(loop);
    h2o_multithread_register_receiver(cu->queue, &cu->on_answer, on_answer);
    if (pthread_create(&cu->thread, NULL, thread_main, cu) != 0) {
        snprintf(err, errlen, "cannot start the catch-up thread");
        xl_catchup_destroy(cu);
        return NULL;
    }
    cu->thread_started = 1;
    return cu;
}

void xl_catchup_destroy(xl_catchup_t *cu)
{
    if (cu == NULL)
        return;
    pthread_mutex_lock(&cu->mutex);
    cu->stop = 1;
    pthread_cond_signal(&cu->cond);
    pthread_mutex_unlock(&cu->mutex);
    if (cu->thread_started)
        pthread_join(cu->thread, NULL);
    /* answers not delivered yet are dropped with the waiters (taken out of the receiver's queue: the thread is
     * gone, so nothing else touches them) */
    while (!h2o_linklist_is_empty(&cu->unheard)) {
        answer_msg_t *m = H2O_STRUCT_FROM_MEMBER(answer_msg_t, unheard, cu->unheard.next);
        h2o_linklist_unlink(&m->unheard);
        if (h2o_linklist_is_linked(&m->msg.link))
            h2o_linklist_unlink(&m->msg.link);
        free(m->ends);
        free(m);
    }
    while (!h2o_linklist_is_empty(&cu->waiters)) {
        xl_catchup_wait_t *w = H2O_STRUCT_FROM_MEMBER(xl_catchup_wait_t, link, cu->waiters.next);
        xl_catchup_cancel(cu, w);
    }
    h2o_multithread_unregister_receiver(cu->queue, &cu->on_answer);
    h2o_multithread_destroy_queue(cu->queue);
    pthread_cond_destroy(&cu->cond);
    pthread_mutex_destroy(&cu->mutex);
    free(cu->applied);
    free(cu);
}

void xl_catchup_wait(xl_catchup_t *cu, xl_catchup_wait_t *w)
{
    pthread_mutex_lock(&cu->mutex);
    /* a question already on its way may predate this write's reason to ask: ask anew */
    w->generation = ++cu->asked;
    pthread_cond_signal(&cu->cond);
    pthread_mutex_unlock(&cu->mutex);
    w->want = NULL;
    w->nwant = 0;
    w->failed = 0;
    h2o_linklist_insert(&cu->waiters, &w->link);
}

void xl_catchup_cancel(xl_catchup_t *cu, xl_catchup_wait_t *w)
{
    if (!h2o_linklist_is_linked(&w->link))
        return;
    h2o_linklist_unlink(&w->link);
    free(w->want);
    w->want = NULL;
}

void xl_catchup_applied(xl_catchup_t *cu, int32_t partition, int64_t next_offset)
{
    if (partition < 0)
        return;
    if ((size_t)partition >= cu->napplied) {
        size_t n = (size_t)partition + 1;
        int64_t *a = realloc(cu->applied, n * sizeof(*a));
        if (a == NULL)
            return; /* a later report retries */
        for (size_t i = cu->napplied; i < n; ++i)
            a[i] = 0;
        cu->applied = a;
        cu->napplied = n;
    }
    if (next_offset > cu->applied[partition])
        cu->applied[partition] = next_offset;
    check(cu);
}
