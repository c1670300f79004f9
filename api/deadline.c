/*
 * Slow-client deadlines (see deadline.h). A conn_t lives while its socket is
 * open or a request of it is: whichever ends last frees it, so neither the
 * socket's close nor a late request dispose can touch freed memory.
 */
#include "api/deadline.h"

#include <stdlib.h>
#include <sys/socket.h>

#define SWEEP_MS 500

typedef struct st_conn_t {
    xl_deadline_t *dl; /* NULL once the watcher is gone */
    h2o_socket_t *sock; /* NULL once closed */
    uint64_t since;     /* accepted, or its last request ended (loop clock, ms) */
    unsigned open;      /* requests dispatched and not yet disposed */
    int cut;            /* shut down once already */
    h2o_linklist_t link; /* xl_deadline_t.conns while the socket is open */
} conn_t;

struct st_xl_deadline_t {
    h2o_loop_t *loop;
    uint64_t timeout_ms;
    h2o_linklist_t conns;
    size_t nconns; /* in conns */
    h2o_timeout_t sweep_timeout;
    h2o_timeout_entry_t sweep;
};

static void conn_release(conn_t *c)
{
    if (c->sock == NULL && c->open == 0)
        free(c);
}

static void on_sock_close(void *data)
{
    conn_t *c = data;
    if (h2o_linklist_is_linked(&c->link)) {
        h2o_linklist_unlink(&c->link);
        --c->dl->nconns;
    }
    c->sock = NULL;
    conn_release(c);
}

static void on_req_dispose(void *p)
{
    conn_t *c = *(conn_t **)p;
    --c->open;
    if (c->dl != NULL)
        c->since = h2o_now(c->dl->loop);
    conn_release(c);
}

static void on_sweep(h2o_timeout_entry_t *entry)
{
    xl_deadline_t *dl = H2O_STRUCT_FROM_MEMBER(xl_deadline_t, sweep, entry);
    uint64_t now = h2o_now(dl->loop);
    for (h2o_linklist_t *l = dl->conns.next; l != &dl->conns; l = l->next) {
        conn_t *c = H2O_STRUCT_FROM_MEMBER(conn_t, link, l);
        if (c->open == 0 && !c->cut && now - c->since >= dl->timeout_ms) {
            /* h2o sees the end of the stream on its next read and closes the connection itself */
            shutdown(h2o_socket_get_fd(c->sock), SHUT_RDWR);
            c->cut = 1;
        }
    }
    h2o_timeout_link(dl->loop, &dl->sweep_timeout, &dl->sweep);
}

xl_deadline_t *xl_deadline_create(h2o_loop_t *loop, int timeout_ms)
{
    xl_deadline_t *dl = calloc(1, sizeof(*dl));
    if (dl == NULL)
        return NULL;
    dl->loop = loop;
    dl->timeout_ms = (uint64_t)timeout_ms;
    h2o_linklist_init_anchor(&dl->conns);
    h2o_timeout_init(loop, &dl->sweep_timeout, SWEEP_MS);
    dl->sweep.cb = on_sweep;
    h2o_timeout_link(loop, &dl->sweep_timeout, &dl->sweep);
    return dl;
}

void xl_deadline_destroy(xl_deadline_t *dl)
{
    if (dl == NULL)
        return;
    while (!h2o_linklist_is_empty(&dl->conns)) {
        conn_t *c = H2O_STRUCT_FROM_MEMBER(conn_t, link, dl->conns.next);
        h2o_linklist_unlink(&c->link);
        --dl->nconns;
        c->dl = NULL; /* the socket's close still frees it */
    }
    if (h2o_timeout_is_linked(&dl->sweep))
        h2o_timeout_unlink(&dl->sweep);
    h2o_timeout_dispose(dl->loop, &dl->sweep_timeout);
    free(dl);
}

int xl_deadline_watch(xl_deadline_t *dl, h2o_socket_t *sock)
{
    conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -1;
    c->dl = dl;
    c->sock = sock;
    c->since = h2o_now(dl->loop);
    h2o_linklist_insert(&dl->conns, &c->link);
    ++dl->nconns;
    sock->on_close.cb = on_sock_close;
    sock->on_close.data = c;
    return 0;
}

size_t xl_deadline_open(const xl_deadline_t *dl)
{
    return dl != NULL ? dl->nconns : 0;
}

void xl_deadline_request(xl_deadline_t *dl, h2o_req_t *req)
{
    h2o_socket_t *sock = req->conn->callbacks->get_socket != NULL ? req->conn->callbacks->get_socket(req->conn) : NULL;
    if (sock == NULL || sock->on_close.cb != on_sock_close)
        return;
    conn_t *c = sock->on_close.data;
    conn_t **hold = h2o_mem_alloc_shared(&req->pool, sizeof(*hold), on_req_dispose);
    *hold = c;
    ++c->open;
}
