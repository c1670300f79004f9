/*
 * The digest endpoint (see digest.h). A job lives from the request to its
 * answer: the thread fills it and sends it back as a message; the loop
 * answers the held request (if the client is still there) and frees it.
 */
#include "api/digest.h"

#include <pthread.h>
#include <stdlib.h>

#include "ingest/http.h"
#include "schemas/base/thread.h"

typedef struct st_job_t {
    h2o_multithread_message_t msg;
    xl_digest_t *dg;
    xl_http_hold_t *hold; /* the request; NULL once the client went away */
    int ret;
    char hex[XL_STORE_DIGEST_HEX_LEN + 1];
    char err[256];
} job_t;

struct st_xl_digest_t {
    xl_store_t *store;
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t receiver;
    pthread_t thread;
    int thread_running; /* started, not joined */
    job_t *job;         /* running, or its answer not sent yet */
};

static void *digest_main(void *arg)
{
    job_t *job = arg;
    xl_thread_name("xl-digest");
    job->ret = xl_store_digest(job->dg->store, job->hex, job->err, sizeof(job->err));
    h2o_multithread_send_message(&job->dg->receiver, &job->msg);
    return NULL;
}

static void on_gone(xl_http_hold_t *hold)
{
    job_t *job = hold->owner;
    job->hold = NULL;
}

static const xl_http_hold_callbacks_t job_hold = {.gone = on_gone};

static void thread_join(xl_digest_t *dg)
{
    if (dg->thread_running) {
        pthread_join(dg->thread, NULL);
        dg->thread_running = 0;
    }
}

/* The thread is done and its message is off the receiver: answer, free. */
static void job_finish(job_t *job)
{
    xl_digest_t *dg = job->dg;
    thread_join(dg);
    dg->job = NULL;
    h2o_req_t *req = job->hold != NULL ? xl_http_hold_release(job->hold) : NULL;
    if (req != NULL) {
        if (job->ret != 0)
            xl_http_send_problem(req, 500, "internal", "Cannot compute the digest", NULL, "%s", job->err);
        else
            xl_http_send_json_obj(req, 200,
                                  json_pack("{s:s, s:s, s:s}", "digest", job->hex, "algorithm", "sha-256",
                                            "covers", "state, events, idem, index, agg"));
    }
    free(job);
}

static void on_answer(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    while (!h2o_linklist_is_empty(messages)) {
        job_t *job = H2O_STRUCT_FROM_MEMBER(job_t, msg.link, messages->next);
        h2o_linklist_unlink(&job->msg.link);
        job_finish(job);
    }
}

xl_digest_t *xl_digest_create(h2o_multithread_queue_t *queue, xl_store_t *store)
{
    xl_digest_t *dg = calloc(1, sizeof(*dg));
    if (dg == NULL)
        return NULL;
    dg->store = store;
    dg->queue = queue;
    h2o_multithread_register_receiver(queue, &dg->receiver, on_answer);
    return dg;
}

void xl_digest_handle(xl_digest_t *dg, h2o_req_t *req)
{
    if (dg->job != NULL) {
        xl_http_add_header(req, H2O_TOKEN_RETRY_AFTER, "5");
        xl_http_send_problem(req, 503, "busy", "A digest is being computed", NULL,
                             "one digest runs at a time; retry when it is done");
        return;
    }
    job_t *job = calloc(1, sizeof(*job));
    if (job == NULL) {
        xl_http_send_problem(req, 500, "internal", "Out of memory", NULL, "cannot start the digest");
        return;
    }
    job->dg = dg;
    job->hold = xl_http_hold(req, sizeof(*job->hold), &job_hold);
    job->hold->owner = job;
    if (pthread_create(&dg->thread, NULL, digest_main, job) != 0) {
        xl_http_hold_release(job->hold);
        free(job);
        xl_http_send_problem(req, 500, "internal", "Cannot start the digest", NULL, "pthread_create failed");
        return;
    }
    dg->thread_running = 1;
    dg->job = job;
}

int xl_digest_running(const xl_digest_t *dg)
{
    return dg != NULL && dg->job != NULL;
}

void xl_digest_destroy(xl_digest_t *dg)
{
    if (dg == NULL)
        return;
    thread_join(dg);
    job_t *job = dg->job;
    if (job != NULL) {
        /* the thread queued its message before it ended, and the loop has not taken it yet: take our own
         * message back, so that the receiver is empty */
        if (h2o_linklist_is_linked(&job->msg.link))
            h2o_linklist_unlink(&job->msg.link);
        job_finish(job);
    }
    h2o_multithread_unregister_receiver(dg->queue, &dg->receiver);
    free(dg);
}
