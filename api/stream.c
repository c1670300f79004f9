/*
 * Long polls and Server-Sent Events (see stream.h).
 *
 * Waking: the hub keeps its own position in the feed. On every progress
 * report it reads the feed entries past it, and wakes the long polls whose
 * execution got an event (each re-reads its page, and answers if it is no
 * longer empty). Every SSE stream keeps its own feed position and reads on
 * from it whenever it is woken and not busy sending; a slow client thus only
 * falls behind in the (durable) feed, never in memory.
 *
 * Memory: a poll and a stream live in their request's pool, held with
 * xl_http_hold (ingest/http.h) like every request whose answer comes later; what
 * they hold outside it (buffers, list links, timers) is released by
 * release(), which the hold's gone (the client went away), its dispose and
 * the final answer all call.
 */
#include "api/stream.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/http.h"
#include "api/query.h"
#include "api/render.h"

#define PAGE_DEFAULT 100
#define PAGE_MAX 1000
#define WAIT_MAX_S 60
#define SSE_TIMEOUT_MAX_S 3600      /* with the waits, at most 60 + 59 timeout lists */
#define SSE_FILL_EVENTS 256         /* events read from the feed per fill */
#define SSE_FILL_BYTES (256 * 1024) /* ...or this many bytes buffered */
#define MAX_TIMEOUTS 128

typedef struct st_timeout_slot_t {
    uint64_t ms;
    h2o_timeout_t timeout;
} timeout_slot_t;

/* What the streams read from: the server's, borrowed. */
typedef struct st_source_t {
    xl_store_t *store;
    xl_codec_t *codec;
    h2o_loop_t *loop;
} source_t;

struct st_xl_stream_t {
    source_t src;
    h2o_linklist_t polls;   /* poll_t.link */
    h2o_linklist_t streams; /* sse_t.link */
    uint64_t feed_at;       /* the hub's position in the feed */
    h2o_timeout_t keepalive;
    timeout_slot_t *timeouts[MAX_TIMEOUTS]; /* one h2o timeout per duration in use */
    size_t ntimeouts;
    int shutting_down;
    xl_stream_stats_t *stats; /* kept here for /metrics; shared by the loops: atomic */
};

/* A timeout list for waits of ms (h2o 2.2 timeouts have one duration each). */
static h2o_timeout_t *timeout_for(xl_stream_t *hub, uint64_t ms)
{
    for (size_t i = 0; i < hub->ntimeouts; ++i)
        if (hub->timeouts[i]->ms == ms)
            return &hub->timeouts[i]->timeout;
    if (hub->ntimeouts == MAX_TIMEOUTS)
        return NULL;
    timeout_slot_t *slot = calloc(1, sizeof(*slot));
    if (slot == NULL)
        return NULL;
    slot->ms = ms;
    h2o_timeout_init(hub->src.loop, &slot->timeout, ms);
    hub->timeouts[hub->ntimeouts++] = slot;
    return &slot->timeout;
}

/* ---- event pages ----------------------------------------------------------------------- */

typedef struct st_page_t {
    const source_t *src;
    json_t *items;
    size_t limit;
    int reverse;
    uint32_t stop_at; /* reverse: stop at seq <= stop_at */
    uint32_t last;    /* last seq listed */
    int more;
    int failed;
    char err[256];
} page_t;

static int on_page_event(void *ctx, uint32_t seq, const xl_pos_t *pos, const void *frame, size_t len)
{
    page_t *pg = ctx;
    xl_event_t ev;
    if (pg->reverse && seq <= pg->stop_at)
        return 1;
    if (json_array_size(pg->items) == pg->limit) {
        pg->more = 1;
        return 1;
    }
    if (xl_event_decode(pg->src->codec, frame, len, &ev, pg->err, sizeof(pg->err)) != 0) {
        pg->failed = 1;
        return 1;
    }
    json_array_append_new(pg->items, xl_render_event(&ev, seq, pos));
    xl_event_dispose(&ev);
    pg->last = seq;
    return 0;
}

typedef struct st_page_args_t {
    int64_t audit_id;
    uint32_t after, before; /* before 0: from the last */
    size_t limit;
    int reverse;
} page_args_t;

/* The page as JSON (new reference), or NULL with err filled; *empty says whether it has no item. */
static json_t *read_page(const source_t *src, const page_args_t *a, uint32_t last_seq, int *empty, char *err, size_t errlen)
{
    page_t pg = {.src = src, .items = json_array(), .limit = a->limit, .reverse = a->reverse, .stop_at = a->after};
    int ret = 0;
    if (!a->reverse)
        ret = a->after == UINT32_MAX
                  ? 0
                  : xl_store_scan_events(src->store, a->audit_id, a->after + 1, 0, on_page_event, &pg);
    else if (a->before != 1) /* before_seq=1: nothing comes before it */
        ret = xl_store_scan_events(src->store, a->audit_id, a->before ? a->before - 1 : 0, 1, on_page_event, &pg);
    if (ret < 0 || pg.failed) {
        snprintf(err, errlen, "%s", pg.failed ? pg.err : "cannot read the event archive");
        json_decref(pg.items);
        return NULL;
    }
    *empty = json_array_size(pg.items) == 0;
    json_t *o = json_object();
    json_object_set_new(o, "audit_id", json_integer(a->audit_id));
    json_object_set_new(o, "items", pg.items);
    json_object_set_new(o, "last_seq", json_integer(last_seq));
    json_object_set_new(o, "has_more", json_boolean(pg.more));
    if (!a->reverse)
        json_object_set_new(o, "next_after_seq", json_integer(*empty ? a->after : pg.last));
    else
        json_object_set_new(o, "next_before_seq", pg.more ? json_integer(pg.last) : json_null());
    return o;
}

/* ---- long polls ------------------------------------------------------------------------- */

typedef struct st_poll_t {
    xl_http_hold_t hold; /* first: the poll lives in the request's pool; hold.req NULL once answered or gone */
    xl_stream_t *hub;
    page_args_t args;
    h2o_linklist_t link;
    h2o_timeout_entry_t timeout;
} poll_t;

static void poll_release(poll_t *p)
{
    if (h2o_linklist_is_linked(&p->link)) {
        h2o_linklist_unlink(&p->link);
        __atomic_sub_fetch(&p->hub->stats->polls, 1, __ATOMIC_RELAXED);
    }
    if (h2o_timeout_is_linked(&p->timeout))
        h2o_timeout_unlink(&p->timeout);
}

static void poll_gone(xl_http_hold_t *hold)
{
    poll_release(H2O_STRUCT_FROM_MEMBER(poll_t, hold, hold));
}

static const xl_http_hold_callbacks_t poll_hold = {.gone = poll_gone, .dispose = poll_gone, .waits = 1};

/*
 * Answer the poll if it has events (or must answer anyway: timeout,
 * shutdown). @return 1 answered, 0 still waiting.
 */
static int poll_try(poll_t *p, int force)
{
    const source_t *src = &p->hub->src;
    xl_state_t st;
    char err[256];
    uint32_t last_seq = 0;
    int empty = 1;
    json_t *body = NULL;
    if (xl_store_get_state(src->store, src->codec, p->args.audit_id, &st, err, sizeof(err)) == 0) {
        last_seq = st.last_seq;
        xl_state_dispose(&st);
        if (last_seq > p->args.after || force)
            body = read_page(src, &p->args, last_seq, &empty, err, sizeof(err));
    }
    if (!force && (body == NULL || empty)) {
        json_decref(body);
        return 0;
    }
    if (body == NULL) /* the headers (200) may already be out: the error goes in the body */
        body =
            json_pack("{s:I, s:[], s:I, s:b, s:I, s:s}", "audit_id", (json_int_t)p->args.audit_id, "items", "last_seq",
                      (json_int_t)last_seq, "has_more", 0, "next_after_seq", (json_int_t)p->args.after, "error", err);
    poll_release(p);
    h2o_req_t *req = xl_http_hold_release(&p->hold);
    size_t len = json_dumpb(body, NULL, 0, JSON_COMPACT);
    h2o_iovec_t buf = h2o_iovec_init(h2o_mem_alloc_pool(&req->pool, len + 1), len);
    json_dumpb(body, buf.base, len, JSON_COMPACT);
    json_decref(body);
    h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
    return 1;
}

static void on_poll_timeout(h2o_timeout_entry_t *entry)
{
    poll_t *p = H2O_STRUCT_FROM_MEMBER(poll_t, timeout, entry);
    if (p->hold.req != NULL)
        poll_try(p, 1);
}

void xl_stream_events(xl_stream_t *hub, h2o_req_t *req, const xl_principal_t *who, int64_t audit_id)
{
    const source_t *src = &hub->src;
    int64_t after, before, limit, wait;
    int reverse;
    xl_state_t st;
    char err[256];
    h2o_iovec_t v;

    if (xl_query_int_paramOrReply(req, "after_seq", 0, UINT32_MAX, 0, &after) != 0 ||
        xl_query_int_paramOrReply(req, "before_seq", 1, UINT32_MAX, 0, &before) != 0 ||
        xl_query_int_paramOrReply(req, "limit", 1, PAGE_MAX, PAGE_DEFAULT, &limit) != 0 ||
        xl_query_int_paramOrReply(req, "wait", 0, WAIT_MAX_S, 0, &wait) != 0 ||
        xl_query_bool_paramOrReply(req, "reverse", &reverse) != 0)
        return;
    if (!reverse && xl_http_query_param(req, "before_seq", &v)) {
        xl_http_send_problem(req, 400, "invalid-parameter", "Invalid query parameter", NULL,
                             "before_seq pages backwards: it needs reverse=true");
        return;
    }
    if (reverse && wait > 0) {
        xl_http_send_problem(req, 400, "invalid-parameter", "Invalid query parameter", NULL,
                             "wait follows new events: it cannot be combined with reverse=true");
        return;
    }
    if (xl_query_stateOrReply(src->store, src->codec, req, who, audit_id, &st) != 0)
        return;
    uint32_t last_seq = st.last_seq;
    xl_state_dispose(&st);

    page_args_t args = {.audit_id = audit_id,
                        .after = (uint32_t)after,
                        .before = (uint32_t)before,
                        .limit = (size_t)limit,
                        .reverse = reverse};
    h2o_timeout_t *tq = NULL;
    if (wait > 0 && !hub->shutting_down && last_seq <= args.after)
        tq = timeout_for(hub, (uint64_t)wait * 1000);
    if (tq == NULL) { /* answer now */
        int empty;
        json_t *body = read_page(src, &args, last_seq, &empty, err, sizeof(err));
        if (body == NULL)
            xl_http_send_problem(req, 500, "internal", "Cannot read the events", NULL, "%s", err);
        else
            xl_http_send_json_obj(req, 200, body);
        return;
    }
    /* nothing after after_seq yet: hold the answer until an event comes or the wait ends */
    poll_t *p = (poll_t *)xl_http_hold(req, sizeof(*p), &poll_hold);
    p->hub = hub;
    p->args = args;
    p->timeout.cb = on_poll_timeout;
    h2o_linklist_insert(&hub->polls, &p->link);
    __atomic_add_fetch(&hub->stats->polls, 1, __ATOMIC_RELAXED);
    h2o_timeout_link(src->loop, tq, &p->timeout);
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    xl_http_hold_start(&p->hold);
}

/* ---- SSE ----------------------------------------------------------------------------------- */

typedef struct st_sse_t {
    xl_http_hold_t hold; /* first: the stream lives in the request's pool; hold.req NULL once it ended or the client
                            went away */
    xl_stream_t *hub;
    xl_principal_t who;
    xl_str_t flow, tenant; /* filters (pool); base NULL: any */
    unsigned types;        /* bit per event type; 0: any */
    uint64_t cursor;       /* feed_seq read up to */
    uint64_t max_events, sent;
    xl_buf_t pending, inflight; /* inflight: handed to h2o_send until proceed */
    int sending, in_send, final_wanted;
    h2o_linklist_t link;
    h2o_timeout_entry_t keepalive, deadline;
} sse_t;

static void sse_release(sse_t *s)
{
    if (h2o_linklist_is_linked(&s->link)) {
        h2o_linklist_unlink(&s->link);
        __atomic_sub_fetch(&s->hub->stats->streams, 1, __ATOMIC_RELAXED);
    }
    if (h2o_timeout_is_linked(&s->keepalive))
        h2o_timeout_unlink(&s->keepalive);
    if (h2o_timeout_is_linked(&s->deadline))
        h2o_timeout_unlink(&s->deadline);
}

static void sse_dispose(xl_http_hold_t *hold)
{
    sse_t *s = H2O_STRUCT_FROM_MEMBER(sse_t, hold, hold);
    sse_release(s);
    xl_buf_dispose(&s->pending);
    xl_buf_dispose(&s->inflight);
}

static void sse_gone(xl_http_hold_t *hold)
{
    sse_release(H2O_STRUCT_FROM_MEMBER(sse_t, hold, hold));
}

typedef struct st_fill_t {
    sse_t *s;
    size_t nread;
    int failed;
} fill_t;

typedef struct st_one_event_t {
    const source_t *src;
    xl_event_t ev;
    xl_pos_t pos;
    int found;
} one_event_t;

static int on_one_event(void *ctx, uint32_t seq, const xl_pos_t *pos, const void *frame, size_t len)
{
    one_event_t *o = ctx;
    char err[256];
    if (xl_event_decode(o->src->codec, frame, len, &o->ev, err, sizeof(err)) == 0) {
        o->found = 1;
        o->pos = *pos;
    }
    return 1;
}

static int sse_wants(const sse_t *s, const xl_event_t *ev)
{
    if (!xl_principal_sees(&s->who, &ev->tenant_id))
        return 0;
    if (s->tenant.base != NULL && !(ev->tenant_id.base != NULL && ev->tenant_id.len == s->tenant.len &&
                                    memcmp(ev->tenant_id.base, s->tenant.base, s->tenant.len) == 0))
        return 0;
    if (s->flow.base != NULL && !(ev->flow_id.base != NULL && ev->flow_id.len == s->flow.len &&
                                  memcmp(ev->flow_id.base, s->flow.base, s->flow.len) == 0))
        return 0;
    return s->types == 0 || (ev->type >= 0 && ev->type < XL_EVENT__COUNT && (s->types >> ev->type & 1));
}

static int on_feed_entry(void *ctx, uint64_t feed_seq, int64_t audit_id, uint32_t seq)
{
    fill_t *f = ctx;
    sse_t *s = f->s;
    if (f->nread == SSE_FILL_EVENTS || s->pending.len >= SSE_FILL_BYTES || s->final_wanted)
        return 1;
    ++f->nread;
    one_event_t one = {.src = &s->hub->src};
    if (xl_store_scan_events(s->hub->src.store, audit_id, seq, 0, on_one_event, &one) < 0) {
        f->failed = 1;
        return 1;
    }
    s->cursor = feed_seq;
    if (!one.found) /* not decodable: the projector could not have archived it; skip */
        return 0;
    if (sse_wants(s, &one.ev)) {
        json_t *data = xl_render_event(&one.ev, seq, &one.pos);
        json_object_set_new(data, "feed_seq", json_integer((json_int_t)feed_seq));
        char *text = json_dumps(data, JSON_COMPACT);
        json_decref(data);
        if (text != NULL) {
            xl_buf_appendf(&s->pending, "id: %" PRIu64 "\ndata: %s\n\n", feed_seq, text);
            free(text);
            ++s->sent;
            __atomic_add_fetch(&s->hub->stats->events_sent, 1, __ATOMIC_RELAXED);
            if (s->max_events != 0 && s->sent >= s->max_events)
                s->final_wanted = 1;
        }
    }
    xl_event_dispose(&one.ev);
    return 0;
}

static void sse_fill(sse_t *s)
{
    fill_t f = {.s = s};
    if (xl_store_feed_scan(s->hub->src.store, s->cursor, on_feed_entry, &f) < 0 || f.failed) {
        xl_buf_appendf(&s->pending, "event: error\ndata: {\"detail\":\"cannot read the feed\"}\n\n");
        s->final_wanted = 1;
    }
}

/* Send what is buffered (reading more from the feed first) unless a send is in flight. */
static void sse_pump(sse_t *s)
{
    while (s->hold.req != NULL && !s->sending && !s->in_send) {
        if (s->pending.len == 0 && !s->final_wanted)
            sse_fill(s);
        if (s->pending.len == 0 && !s->final_wanted)
            return;
        xl_buf_t t = s->inflight;
        s->inflight = s->pending;
        s->pending = t;
        xl_buf_reset(&s->pending);
        h2o_iovec_t buf = h2o_iovec_init(s->inflight.base, s->inflight.len);
        h2o_req_t *req = s->hold.req;
        if (s->final_wanted) {
            /* the last send: nothing of s may be touched after it (the request may be disposed) */
            sse_release(s);
            xl_http_hold_release(&s->hold);
            h2o_send(req, &buf, buf.len ? 1 : 0, H2O_SEND_STATE_FINAL);
            return;
        }
        s->sending = 1;
        s->in_send = 1;
        if (h2o_timeout_is_linked(&s->keepalive))
            h2o_timeout_unlink(&s->keepalive);
        h2o_timeout_link(s->hub->src.loop, &s->hub->keepalive, &s->keepalive);
        h2o_send(req, &buf, 1, H2O_SEND_STATE_IN_PROGRESS);
        s->in_send = 0; /* a proceed during h2o_send only cleared `sending`: loop on */
    }
}

static void sse_proceed(xl_http_hold_t *hold)
{
    sse_t *s = H2O_STRUCT_FROM_MEMBER(sse_t, hold, hold);
    s->sending = 0;
    xl_buf_reset(&s->inflight);
    if (!s->in_send)
        sse_pump(s);
}

static void on_sse_keepalive(h2o_timeout_entry_t *entry)
{
    sse_t *s = H2O_STRUCT_FROM_MEMBER(sse_t, keepalive, entry);
    if (s->hold.req == NULL)
        return;
    if (!s->sending && s->pending.len == 0)
        xl_buf_appendf(&s->pending, ": keepalive\n\n");
    h2o_timeout_link(s->hub->src.loop, &s->hub->keepalive, &s->keepalive);
    sse_pump(s);
}

static void on_sse_deadline(h2o_timeout_entry_t *entry)
{
    sse_t *s = H2O_STRUCT_FROM_MEMBER(sse_t, deadline, entry);
    s->final_wanted = 1;
    sse_pump(s);
}

/* Parse a feed sequence number. @return 0 or -1 */
static int parse_u64(h2o_iovec_t v, uint64_t *out)
{
    uint64_t x = 0;
    if (v.len == 0 || v.len > 19)
        return -1;
    for (size_t i = 0; i < v.len; ++i) {
        if (v.base[i] < '0' || v.base[i] > '9')
            return -1;
        x = x * 10 + (uint64_t)(v.base[i] - '0');
    }
    *out = x;
    return 0;
}

void xl_stream_sse(xl_stream_t *hub, h2o_req_t *req, const xl_principal_t *who)
{
    const source_t *src = &hub->src;
    h2o_iovec_t v;
    size_t pos = 0;
    unsigned types = 0;
    int64_t max_events, timeout_s;
    uint64_t last = xl_store_feed_last(src->store), from = last;

    if (xl_query_int_paramOrReply(req, "max_events", 0, INT64_MAX / 2, 0, &max_events) != 0 ||
        xl_query_int_paramOrReply(req, "timeout", 0, SSE_TIMEOUT_MAX_S, 0, &timeout_s) != 0)
        return;
    while (xl_http_query_next(req, "type", &pos, &v)) {
        for (const char *s = v.base, *end = v.base + v.len; s <= end;) {
            const char *comma = memchr(s, ',', (size_t)(end - s));
            const char *e = comma ? comma : end;
            int t = xl_event_type_parse(s, (size_t)(e - s));
            if (t < 0) {
                xl_http_send_problem(req, 400, "invalid-parameter", "Invalid query parameter", NULL,
                                     "type '%.*s' is not an event type", (int)(e - s), s);
                return;
            }
            types |= 1u << t;
            s = e + 1;
        }
    }
    int resume = xl_http_header(req, "last-event-id", &v) || xl_http_query_param(req, "last_event_id", &v);
    if (resume && (parse_u64(v, &from) != 0 || from > last)) {
        xl_http_send_problem(req, 400, "invalid-last-event-id", "Unknown event ID", NULL,
                             "Last-Event-ID %.*s is not an event of this replica (its feed ends at %" PRIu64
                             "); event IDs are valid on the replica that issued them",
                             (int)v.len, v.base, last);
        return;
    }
    h2o_timeout_t *deadline = NULL;
    if (timeout_s > 0) {
        /* h2o keeps one list per duration: beyond a minute, whole minutes (rounded up) */
        uint64_t ms = timeout_s <= 60 ? (uint64_t)timeout_s * 1000 : (uint64_t)((timeout_s + 59) / 60) * 60000;
        if ((deadline = timeout_for(hub, ms)) == NULL) {
            xl_http_send_problem(req, 503, "busy", "Too many distinct timeouts", NULL, "retry with another timeout");
            return;
        }
    }

    static const xl_http_hold_callbacks_t sse_hold = {.gone = sse_gone, .proceed = sse_proceed, .dispose = sse_dispose,
                                                         .waits = 1};
    sse_t *s = (sse_t *)xl_http_hold(req, sizeof(*s), &sse_hold);
    s->hub = hub;
    s->who = *who;
    s->types = types;
    s->cursor = from;
    s->max_events = (uint64_t)max_events;
    xl_buf_init(&s->pending);
    xl_buf_init(&s->inflight);
    s->keepalive.cb = on_sse_keepalive;
    s->deadline.cb = on_sse_deadline;
    if (xl_http_query_param(req, "flow_id", &v))
        s->flow = (xl_str_t){v.base, v.len};
    if (xl_http_query_param(req, "tenant_id", &v))
        s->tenant = (xl_str_t){v.base, v.len};
    h2o_linklist_insert(&hub->streams, &s->link);
    __atomic_add_fetch(&hub->stats->streams, 1, __ATOMIC_RELAXED);
    if (deadline != NULL)
        h2o_timeout_link(src->loop, deadline, &s->deadline);

    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("text/event-stream"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-accel-buffering"), 0, NULL, H2O_STRLIT("no"));
    xl_http_hold_start(&s->hold);
    /* the first bytes go out now, so that the client sees the headers at once */
    xl_buf_appendf(&s->pending, "retry: 1000\n: execlog events after feed_seq %" PRIu64 "\n\n", from);
    if (hub->shutting_down)
        s->final_wanted = 1;
    sse_pump(s);
}

/* ---- waking --------------------------------------------------------------------------------- */

typedef struct st_touched_t {
    int64_t *ids;
    size_t n, cap;
    uint64_t last;
    int failed;
} touched_t;

static int on_touched(void *ctx, uint64_t feed_seq, int64_t audit_id, uint32_t seq)
{
    touched_t *t = ctx;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        int64_t *ids = realloc(t->ids, cap * sizeof(*ids));
        if (ids == NULL) {
            t->failed = 1;
            return 1;
        }
        t->ids = ids;
        t->cap = cap;
    }
    t->ids[t->n++] = audit_id;
    t->last = feed_seq;
    return 0;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

void xl_stream_notify(xl_stream_t *hub)
{
    const source_t *src = &hub->src;
    if (h2o_linklist_is_empty(&hub->polls)) {
        hub->feed_at = xl_store_feed_last(src->store);
    } else {
        touched_t t = {.last = hub->feed_at};
        xl_store_feed_scan(src->store, hub->feed_at, on_touched, &t);
        hub->feed_at = t.last;
        if (t.failed) /* cannot tell which: let every poll look */
            t.n = 0;
        if (t.n > 1) /* t.ids is NULL while nothing was touched */
            qsort(t.ids, t.n, sizeof(*t.ids), cmp_id);
        h2o_linklist_t *l = hub->polls.next;
        while (l != &hub->polls) {
            poll_t *p = H2O_STRUCT_FROM_MEMBER(poll_t, link, l);
            l = l->next; /* p may leave the list */
            if (t.failed || (t.n > 0 && bsearch(&p->args.audit_id, t.ids, t.n, sizeof(*t.ids), cmp_id) != NULL))
                poll_try(p, 0);
        }
        free(t.ids);
    }
    for (h2o_linklist_t *l = hub->streams.next; l != &hub->streams;) {
        sse_t *s = H2O_STRUCT_FROM_MEMBER(sse_t, link, l);
        l = l->next;
        sse_pump(s);
    }
}

void xl_stream_shutdown(xl_stream_t *hub)
{
    hub->shutting_down = 1;
    while (!h2o_linklist_is_empty(&hub->polls))
        poll_try(H2O_STRUCT_FROM_MEMBER(poll_t, link, hub->polls.next), 1);
    while (!h2o_linklist_is_empty(&hub->streams)) {
        sse_t *s = H2O_STRUCT_FROM_MEMBER(sse_t, link, hub->streams.next);
        s->final_wanted = 1;
        if (s->sending) { /* proceed sends the end; leave the list now so that this loop ends */
            sse_release(s);
            continue;
        }
        sse_pump(s);
    }
}

xl_stream_t *xl_stream_create(xl_store_t *store, xl_codec_t *codec, h2o_loop_t *loop, xl_stream_stats_t *stats,
                              int keepalive_ms)
{
    xl_stream_t *hub = calloc(1, sizeof(*hub));
    if (hub == NULL)
        return NULL;
    hub->src = (source_t){store, codec, loop};
    hub->stats = stats;
    h2o_linklist_init_anchor(&hub->polls);
    h2o_linklist_init_anchor(&hub->streams);
    hub->feed_at = xl_store_feed_last(store);
    h2o_timeout_init(loop, &hub->keepalive, (uint64_t)keepalive_ms);
    return hub;
}

void xl_stream_destroy(xl_stream_t *hub)
{
    if (hub == NULL)
        return;
    while (!h2o_linklist_is_empty(&hub->polls)) {
        poll_t *p = H2O_STRUCT_FROM_MEMBER(poll_t, link, hub->polls.next);
        poll_release(p);
        xl_http_hold_release(&p->hold); /* the connection is dropped with the context */
    }
    while (!h2o_linklist_is_empty(&hub->streams))
        sse_release(H2O_STRUCT_FROM_MEMBER(sse_t, link, hub->streams.next));
    /* every timer belongs to a poll or a stream, and release() unlinked it */
    h2o_timeout_dispose(hub->src.loop, &hub->keepalive);
    for (size_t i = 0; i < hub->ntimeouts; ++i) {
        h2o_timeout_dispose(hub->src.loop, &hub->timeouts[i]->timeout);
        free(hub->timeouts[i]);
    }
    free(hub);
}
