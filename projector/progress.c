/*
 * Projector progress (see progress.h). The publisher keeps the latest
 * position of each partition, and each subscriber a table of what it has not
 * heard yet, all under the publisher's one mutex. A subscriber has a single
 * h2o_multithread_message_t, embedded: it is queued when the first unheard
 * position arrives and comes back to the loop, which takes every unheard
 * position in one go. So a slow loop costs no memory and a report is never
 * lost to a failed allocation.
 */
#include "projector/progress.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Positions by partition: next[p] (-1: none yet), and which ones changed. */
typedef struct st_table_t {
    int64_t *next;
    unsigned char *dirty;
    size_t n;
} table_t;

struct st_xl_progress_sub_t {
    h2o_multithread_receiver_t receiver;
    h2o_multithread_message_t msg; /* linked to the receiver while queued */
    h2o_multithread_queue_t *queue;
    xl_progress_t *pub;
    xl_progress_cb cb;
    void *ctx;
    h2o_linklist_t link; /* in pub->subs */
    table_t unheard;     /* under pub->mutex */
    int queued;          /* under pub->mutex: msg is on its way to the loop */
    xl_pos_t *out;       /* loop thread only: what the callback is handed */
    size_t outcap;
};

struct st_xl_progress_t {
    pthread_mutex_t mutex;
    h2o_linklist_t subs; /* xl_progress_sub_t.link */
    table_t latest;
};

/* Make room for partition p. @return 0 or -1 (out of memory). */
static int table_reserve(table_t *t, int32_t p)
{
    if ((size_t)p < t->n)
        return 0;
    size_t n = (size_t)p + 1;
    int64_t *next = realloc(t->next, n * sizeof(*next));
    if (next == NULL)
        return -1;
    t->next = next;
    unsigned char *dirty = realloc(t->dirty, n);
    if (dirty == NULL)
        return -1;
    t->dirty = dirty;
    for (size_t i = t->n; i != n; ++i) {
        t->next[i] = -1;
        t->dirty[i] = 0;
    }
    t->n = n;
    return 0;
}

static void table_dispose(table_t *t)
{
    free(t->next);
    free(t->dirty);
}

/* Note a position the subscriber has not heard; queue its message unless it already is. Under pub->mutex. */
static void sub_note(xl_progress_sub_t *sub, int32_t p, int64_t next)
{
    if (table_reserve(&sub->unheard, p) != 0 || next <= sub->unheard.next[p])
        return; /* out of memory: a later report of the partition carries a higher position */
    sub->unheard.next[p] = next;
    sub->unheard.dirty[p] = 1;
    if (!sub->queued) {
        sub->queued = 1;
        h2o_multithread_send_message(&sub->receiver, &sub->msg);
    }
}

/* Move what the subscriber has not heard into sub->out. Under pub->mutex. @return how many. */
static size_t sub_take(xl_progress_sub_t *sub)
{
    size_t n = 0;
    for (size_t p = 0; p != sub->unheard.n; ++p) {
        if (!sub->unheard.dirty[p])
            continue;
        if (n == sub->outcap) {
            size_t cap = sub->outcap == 0 ? 16 : 2 * sub->outcap;
            xl_pos_t *out = realloc(sub->out, cap * sizeof(*out));
            if (out == NULL)
                break; /* the rest stays dirty and comes with the next message */
            sub->out = out;
            sub->outcap = cap;
        }
        sub->unheard.dirty[p] = 0;
        sub->out[n++] = (xl_pos_t){(int32_t)p, sub->unheard.next[p]};
    }
    return n;
}

static void on_message(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    xl_progress_sub_t *sub = H2O_STRUCT_FROM_MEMBER(xl_progress_sub_t, receiver, receiver);
    /* the only message of this receiver is sub->msg; unlinked before queued drops,
     * so that a publisher never sends it while it is still linked */
    while (!h2o_linklist_is_empty(messages))
        h2o_linklist_unlink(messages->next);
    pthread_mutex_lock(&sub->pub->mutex);
    sub->queued = 0;
    size_t n = sub_take(sub);
    pthread_mutex_unlock(&sub->pub->mutex);
    if (n != 0)
        sub->cb(sub->ctx, sub->out, n);
}

xl_progress_t *xl_progress_create(void)
{
    xl_progress_t *pub = calloc(1, sizeof(*pub));
    if (pub == NULL)
        return NULL;
    pthread_mutex_init(&pub->mutex, NULL);
    h2o_linklist_init_anchor(&pub->subs);
    return pub;
}

void xl_progress_destroy(xl_progress_t *pub)
{
    if (pub == NULL)
        return;
    table_dispose(&pub->latest);
    pthread_mutex_destroy(&pub->mutex);
    free(pub);
}

void xl_progress_publish(xl_progress_t *pub, int32_t partition, int64_t next_offset)
{
    if (partition < 0)
        return;
    pthread_mutex_lock(&pub->mutex);
    if (table_reserve(&pub->latest, partition) == 0 && next_offset > pub->latest.next[partition]) {
        pub->latest.next[partition] = next_offset;
        for (h2o_linklist_t *l = pub->subs.next; l != &pub->subs; l = l->next)
            sub_note(H2O_STRUCT_FROM_MEMBER(xl_progress_sub_t, link, l), partition, next_offset);
    }
    pthread_mutex_unlock(&pub->mutex);
}

int64_t xl_progress_published(xl_progress_t *pub, int32_t partition)
{
    pthread_mutex_lock(&pub->mutex);
    int64_t next = partition >= 0 && (size_t)partition < pub->latest.n ? pub->latest.next[partition] : -1;
    pthread_mutex_unlock(&pub->mutex);
    return next;
}

xl_progress_sub_t *xl_progress_subscribe(xl_progress_t *pub, h2o_multithread_queue_t *queue, xl_progress_cb cb,
                                         void *ctx)
{
    xl_progress_sub_t *sub = calloc(1, sizeof(*sub));
    if (sub == NULL)
        return NULL;
    sub->queue = queue;
    sub->pub = pub;
    sub->cb = cb;
    sub->ctx = ctx;
    h2o_multithread_register_receiver(queue, &sub->receiver, on_message);
    pthread_mutex_lock(&pub->mutex);
    h2o_linklist_insert(&pub->subs, &sub->link);
    for (size_t p = 0; p != pub->latest.n; ++p)
        if (pub->latest.next[p] >= 0)
            sub_note(sub, (int32_t)p, pub->latest.next[p]);
    pthread_mutex_unlock(&pub->mutex);
    return sub;
}

void xl_progress_unsubscribe(xl_progress_sub_t *sub)
{
    if (sub == NULL)
        return;
    pthread_mutex_lock(&sub->pub->mutex);
    h2o_linklist_unlink(&sub->link); /* no publisher reaches it from here on */
    if (sub->queued) {
        /* on its way to this loop, which is busy here: take it back, so that
         * the receiver has nothing queued when it is unregistered */
        h2o_linklist_unlink(&sub->msg.link);
        sub->queued = 0;
    }
    size_t n = sub_take(sub);
    pthread_mutex_unlock(&sub->pub->mutex);
    if (n != 0)
        sub->cb(sub->ctx, sub->out, n);
    h2o_multithread_unregister_receiver(sub->queue, &sub->receiver);
    table_dispose(&sub->unheard);
    free(sub->out);
    free(sub);
}
