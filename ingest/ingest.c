/*
 * The write API (see ingest.h).
 *
 * A request becomes a `pending_t` with one result slot per write (one for the
 * single-event routes, one per line for the NDJSON batch). Each write that
 * passed validation becomes a `write_t` handed to librdkafka; its delivery
 * report comes back on the producer thread and is passed to the event loop
 * through a multithread queue. With ack=projected the write then waits, per
 * partition in offset order, until the projector reports that partition's
 * durable position beyond it. The answer is sent once every slot is filled,
 * or with 503 when the timeout fires first.
 *
 * Lifetimes: a write lives until it is resolved AND its delivery report has
 * arrived (librdkafka holds it as the message opaque until then). A pending
 * lives until it answered AND every write it started is gone. The request
 * may vanish at any time (client gone): its hold (xl_http_hold, ingest/http.h)
 * then detaches it, and nothing here touches the request again.
 *
 * Loops: one xl_ingest_t per HTTP loop (a lane). A request, its writes, its
 * timeout and the partitions' waiting lists belong to the lane of the loop
 * that took it; a write's delivery report goes to its own lane's queue. The
 * primary lane owns what they share: the producer, the audit IDs and the
 * table of creates in flight (under its lock) and the counters (atomic).
 */
#include "ingest/ingest.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include <openssl/rand.h>

#include "ingest/http.h" /* the HTTP shell of the write path: problem+json answers */
#include "ingest/auditid.h"
#include "ingest/catchup.h"
#include "ingest/control.h"
#include "ingest/producer.h"
#include "ingest/validate.h"
#include "projector/apply.h"
#include "schemas/base/clock.h"
#include "schemas/base/log.h"

#define BATCH_MAX_LINES 10000
/* a state whose computed size is this close to XL_STATE_MAX_BYTES is encoded to check it (belt and braces) */
#define STATE_SIZE_MARGIN (64 * 1024)

typedef struct st_pending_t pending_t;

typedef struct st_write_t {
    h2o_multithread_message_t msg; /* delivery report -> event loop */
    xl_ingest_t *ing;
    pending_t *pending; /* NULL once the pending no longer waits for it */
    size_t slot;
    int kind; /* XL_WRITE_CREATE ... */
    int64_t audit_id;
    int64_t root_audit_id;
    int64_t parent_audit_id;
    int32_t retries;
    char *tenant_id; /* "" for none */
    char *event_id;
    int client_event_id; /* the client chose event_id: repeated creates are coalesced */
    int reported;        /* the delivery report arrived */
    int err;
    char errstr[128];
    int32_t partition;
    int64_t offset;
    h2o_linklist_t waiting;  /* ing->partitions[p].waiting, by offset */
    h2o_linklist_t inflight; /* ing->inflight_creates */
    h2o_linklist_t unreported; /* its lane's unreported list from produce to its delivery report (loop thread) */
    char strs[]; /* tenant_id and event_id point here (one allocation with the write) */
} write_t;

/* A batch line acknowledged by its delivery report: its answer, kept as values and rendered straight
 * into the response bytes (send_answer) instead of a JSON object per line. */
typedef struct st_delivered_t {
    char *event_id; /* short_id, or malloc'ed for a longer one (freed with the slot) */
    char short_id[40];
    int64_t audit_id, root_audit_id, parent_audit_id;
    int32_t retries, partition;
    int64_t offset;
    int create;
} delivered_t;

typedef struct st_slot_t {
    int status; /* 0 while open */
    json_t *body; /* NULL with status set: the answer is in delivered */
    write_t *write;
    delivered_t delivered;
} slot_t;

/* A write that named an execution this node did not know yet: processed again once caught up. */
typedef struct st_deferred_t {
    size_t slot;
    int kind;
    int control; /* XL_WRITE_CANCEL: the control request's event type */
    int64_t target;
    h2o_iovec_t src; /* its JSON, in the request's body */
} deferred_t;

struct st_pending_t {
    xl_ingest_t *ing;
    h2o_req_t *req;     /* NULL once answered or gone */
    xl_str_t scope;     /* the caller's tenant, copied into req->pool; base NULL: every tenant */
    deferred_t cur;     /* the write being processed (its JSON, to parse again after a catch-up) */
    deferred_t *deferred;
    size_t ndeferred;
    int caught_up; /* the projection reached the log end: unknown now means not found */
    xl_catchup_wait_t catchup;
    xl_http_hold_t *hold; /* holds req (ingest/http.h); NULL once answered or gone */
    int batch;
    int launched; /* every slot has a write or a result; answering may begin */
    int answered;
    size_t nslots, nopen, nwrites;
    slot_t *slots;
    size_t *lines; /* batch: the physical line number of each slot */
    h2o_timeout_entry_t timeout;
    h2o_linklist_t unanswered; /* in its lane's list while not answered (what a lane's disposal answers 503) */
    xl_ingest_reshape_cb reshape; /* optional: a single write's success answer, reshaped */
    void *reshape_ctx;
};

typedef struct st_partition_t {
    int64_t applied; /* next offset the projector has not made durable */
    h2o_linklist_t waiting;
} partition_t;

struct st_xl_ingest_t {
    xl_ingest_conf_t conf;
    h2o_loop_t *loop;
    xl_store_t *store;
    xl_codec_t *codec;
    /* shared by every lane, owned by the primary (xl_ingest_create): the producer, the audit
     * IDs and the creates in flight (those two under lock) and the counters (atomic) */
    xl_ingest_t *primary;   /* itself on the primary */
    xl_ingest_t *next_lane; /* primary: the lanes of the other loops (xl_ingest_add_lane) */
    pthread_mutex_t lock;
    xl_producer_t *producer;
    xl_auditid_t *ids;
    uint64_t nwaiting; /* writes in partitions' waiting lists, every lane */
    int stopped;       /* primary: the catch-ups and the producer are gone (xl_ingest_stop) */
    int disposed;      /* the lane's loop part is released (xl_ingest_dispose_lane) */
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t on_report;
    xl_progress_sub_t *progress; /* the projector's progress, heard on the loop */
    h2o_timeout_t timeout;
    partition_t *partitions;
    size_t npartitions;
    h2o_linklist_t inflight_creates;
    xl_catchup_t *catchup; /* NULL: this node sees every write (the embedded broker) */
    xl_buf_t frame;
    xl_buf_t answer; /* a batch's answer, rendered (send_answer) */
    unsigned char random[16 * 256]; /* random bytes for event IDs, used from the end */
    size_t nrandom;
    char schema_hex[17]; /* the event schema's fingerprint, for the execlog-schema header */
    size_t npending; /* requests not answered yet */
    h2o_linklist_t unanswered; /* those requests (pending_t.unanswered) */
    h2o_linklist_t unreported; /* writes produced whose delivery report the loop has not taken (write_t.unreported) */
    xl_ingest_stats_t stats;
};

/* counters are the primary's, bumped from every lane's loop */
#define STAT_ADD(ing, field) __atomic_add_fetch(&(ing)->primary->stats.field, 1, __ATOMIC_RELAXED)

/* ---- answers ---------------------------------------------------------- */

static json_t *problem(pending_t *p, int status, const char *slug, const char *title, const char *detail)
{
    return p != NULL && p->req != NULL ? xl_http_problem_new(p->req, status, slug, title, detail)
                          : json_pack("{s:i, s:s}", "status", status, "detail", detail);
}

static void pending_free_if_done(pending_t *p)
{
    if (!p->answered || p->nwrites != 0)
        return;
    if (p->ing->catchup != NULL)
        xl_catchup_cancel(p->ing->catchup, &p->catchup);
    free(p->deferred);
    for (size_t i = 0; i < p->nslots; ++i) {
        json_decref(p->slots[i].body);
        if (p->slots[i].delivered.event_id != p->slots[i].delivered.short_id)
            free(p->slots[i].delivered.event_id);
    }
    free(p->slots);
    free(p->lines);
    free(p);
}

/* s as a JSON string (the escapes jansson writes; other UTF-8 bytes as they are). */
static int append_json_str(xl_buf_t *out, const char *s, size_t len)
{
    if (xl_buf_reserve(out, len * 6 + 2) != 0)
        return -ENOMEM;
    char *o = out->base + out->len;
    *o++ = '"';
    for (size_t i = 0; i < len; ++i) {
        unsigned char c = (unsigned char)s[i];
        static const char short_esc[32] = {['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't'};
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c < 0x20 && short_esc[c] != 0) {
            *o++ = '\\';
            *o++ = short_esc[c];
        } else if (c < 0x20) {
            o += sprintf(o, "\\u%04X", c);
        } else {
            *o++ = (char)c;
        }
    }
    *o++ = '"';
    out->len = (size_t)(o - out->base);
    return 0;
}

/* {"line":..,"code":.., then the fields of the slot's answer}: what a JSON object per line gave, as bytes. */
/* Literal text, then an integer: the pieces of a rendered answer (no printf per line). */
static int append_int(xl_buf_t *out, const char *lit, int64_t v)
{
    size_t n = strlen(lit);
    if (xl_buf_reserve(out, n + 21) != 0)
        return -ENOMEM;
    memcpy(out->base + out->len, lit, n);
    char tmp[21], *t = tmp + sizeof(tmp);
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do
        *--t = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        *--t = '-';
    memcpy(out->base + out->len + n, t, (size_t)(tmp + sizeof(tmp) - t));
    out->len += n + (size_t)(tmp + sizeof(tmp) - t);
    return 0;
}

#define APPEND_LIT(out, lit) xl_buf_append((out), (lit), sizeof(lit) - 1)

static int render_slot(xl_buf_t *out, size_t line, const slot_t *s)
{
    int ret;
    if ((ret = append_int(out, "{\"line\":", (int64_t)line)) != 0 ||
        (ret = append_int(out, ",\"code\":", s->status)) != 0)
        return ret;
    if (s->body == NULL && s->delivered.event_id == NULL) /* the answer could not be built (out of memory) */
        return APPEND_LIT(out, "}");
    if (s->body == NULL) { /* a batch line acknowledged by its delivery report */
        const delivered_t *d = &s->delivered;
        if ((ret = append_int(out, ",\"audit_id\":", d->audit_id)) != 0 ||
            (ret = APPEND_LIT(out, ",\"event_id\":")) != 0 ||
            (ret = append_json_str(out, d->event_id, strlen(d->event_id))) != 0 ||
            (ret = append_int(out, ",\"seq\":null,\"position\":{\"partition\":", d->partition)) != 0 ||
            (ret = append_int(out, ",\"offset\":", d->offset)) != 0 || (ret = APPEND_LIT(out, "}")) != 0)
            return ret;
        if (d->create) {
            if ((ret = append_int(out, ",\"status\":\"queued\",\"root_audit_id\":", d->root_audit_id)) != 0)
                return ret;
            ret = d->parent_audit_id ? append_int(out, ",\"parent_audit_id\":", d->parent_audit_id)
                                     : APPEND_LIT(out, ",\"parent_audit_id\":null");
            if (ret != 0 || (ret = append_int(out, ",\"retries\":", d->retries)) != 0)
                return ret;
        }
        return APPEND_LIT(out, "}");
    }
    size_t len = json_dumpb(s->body, NULL, 0, JSON_COMPACT);
    if (len < 2 || xl_buf_reserve(out, len + 16) != 0)
        return -ENOMEM;
    if (s->status >= 400) { /* ,"problem":{...}} */
        if ((ret = xl_buf_append(out, ",\"problem\":", 11)) != 0)
            return ret;
        out->len += json_dumpb(s->body, out->base + out->len, len, JSON_COMPACT);
        return xl_buf_append(out, "}", 1);
    }
    /* the answer's own members follow line and code (none of them is named line or code) */
    size_t at = out->len;
    out->len += json_dumpb(s->body, out->base + out->len, len, JSON_COMPACT);
    if (len == 2) { /* {} */
        out->len = at;
        return xl_buf_append(out, "}", 1);
    }
    out->base[at] = ','; /* its '{' becomes the separator, its '}' closes the line */
    return 0;
}

/* The answer to a batch into out (reset first): counts, then one result per line. */
static int render_batch(xl_buf_t *out, const pending_t *p, size_t accepted, size_t rejected)
{
    xl_buf_reset(out);
    int ret = xl_buf_appendf(out, "{\"accepted\":%zu,\"rejected\":%zu,\"results\":[", accepted, rejected);
    for (size_t i = 0; i < p->nslots && ret == 0; ++i) {
        if (i != 0)
            ret = xl_buf_append(out, ",", 1);
        if (ret == 0)
            ret = render_slot(out, p->lines[i], &p->slots[i]);
    }
    return ret != 0 ? ret : xl_buf_append(out, "]}", 2);
}

static void send_answer(pending_t *p)
{
    h2o_req_t *req = p->req;
    xl_ingest_t *ing = p->ing;
    if (!p->batch) {
        slot_t *s = &p->slots[0];
        if (s->status >= 400) {
            if (s->status == 503)
                xl_http_add_header(req, H2O_TOKEN_RETRY_AFTER, "1");
            xl_http_send_problem_obj(req, s->body);
        } else {
            int status = s->status;
            json_t *body = p->reshape != NULL ? p->reshape(p->reshape_ctx, req, &status, s->body) : s->body;
            xl_http_send_json_obj(req, status, body);
        }
        s->body = NULL;
        if (s->status < 400)
            STAT_ADD(ing, requests_ok);
        else if (s->status == 503)
            STAT_ADD(ing, requests_unavailable);
        else
            STAT_ADD(ing, requests_rejected);
        return;
    }
    size_t accepted = 0, rejected = 0;
    for (size_t i = 0; i < p->nslots; ++i)
        p->slots[i].status >= 400 ? ++rejected : ++accepted;
    STAT_ADD(ing, requests_ok);
    if (render_batch(&ing->answer, p, accepted, rejected) != 0) {
        xl_http_send_problem(req, 500, "internal", "Out of memory", NULL, "the answer could not be built");
        return;
    }
    xl_http_send_json(req, 200, ing->answer.base, ing->answer.len);
}

static void pending_answer(pending_t *p)
{
    if (p->answered)
        return;
    p->answered = 1;
    --p->ing->npending;
    h2o_linklist_unlink(&p->unanswered);
    if (h2o_timeout_is_linked(&p->timeout))
        h2o_timeout_unlink(&p->timeout);
    if (p->req != NULL) {
        xl_http_hold_release(p->hold);
        send_answer(p);
        p->req = NULL;
    }
    p->hold = NULL;
    pending_free_if_done(p);
}

/* Fill a slot; body reference stolen. Answers when it was the last open one. */
static void slot_fill(pending_t *p, size_t i, int status, json_t *body)
{
    slot_t *s = &p->slots[i];
    if (s->status != 0) { /* already filled by the timeout */
        json_decref(body);
        return;
    }
    s->status = status;
    s->body = body;
    if (--p->nopen == 0 && p->launched)
        pending_answer(p);
}

/* Leave the partition's waiting list and the creates in flight (shared by the lanes). */
static void write_unlink(write_t *w)
{
    xl_ingest_t *prim = w->ing->primary;
    if (h2o_linklist_is_linked(&w->waiting)) {
        h2o_linklist_unlink(&w->waiting);
        __atomic_sub_fetch(&prim->nwaiting, 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_lock(&prim->lock);
    if (h2o_linklist_is_linked(&w->inflight))
        h2o_linklist_unlink(&w->inflight);
    pthread_mutex_unlock(&prim->lock);
}

static void write_free(write_t *w)
{
    write_unlink(w);
    free(w);
}

/* The write is settled: fill its slot (if still wanted), then let it go once librdkafka has too. */
static void write_settle(write_t *w, int status, json_t *body)
{
    pending_t *p = w->pending;
    if (p != NULL && body != NULL) {
        w->pending = NULL;
        p->slots[w->slot].write = NULL;
        --p->nwrites;
        slot_fill(p, w->slot, status, body);
    } else {
        json_decref(body);
    }
    write_unlink(w);
    if (w->reported)
        write_free(w);
}

static json_t *position_json(int32_t partition, int64_t offset)
{
    return json_pack("{s:i, s:I}", "partition", (int)partition, "offset", (json_int_t)offset);
}

static json_t *position(const write_t *w) { return position_json(w->partition, w->offset); }

/* The answer to a create; a repeated create gets the same answer, so the status is the one it created. */
static json_t *state_answer(xl_state_t *st, const char *event_id, json_t *pos)
{
    json_t *o = json_pack("{s:I, s:s, s:I, s:i, s:s, s:I, s:o}", "audit_id", (json_int_t)st->audit_id, "status",
                          xl_status_name(XL_STATUS_QUEUED), "root_audit_id", (json_int_t)st->root_audit_id, "retries",
                          (int)st->retries, "event_id", event_id, "seq", (json_int_t)1, "position",
                          pos != NULL ? pos : json_null());
    json_object_set_new(o, "parent_audit_id",
                        st->parent_audit_id ? json_integer(st->parent_audit_id) : json_null());
    return o;
}

/* Answer a write the projector has applied, from what it wrote. */
static void write_settle_projected(write_t *w)
{
    xl_ingest_t *ing = w->ing;
    char err[256];
    if (w->pending == NULL) { /* answered already (timeout): it only guarded its event_id until now */
        write_settle(w, 0, NULL);
        return;
    }
    if (w->kind & (XL_WRITE_CREATE | XL_WRITE_RETRY)) {
        int64_t winner = 0;
        xl_pos_t pos;
        xl_state_t st;
        /* the first create with this event_id wins, on every node and replica alike */
        if (xl_store_find_create(ing->store, w->tenant_id, strlen(w->tenant_id), w->event_id, strlen(w->event_id), -1,
                                 &winner, &pos) == 0 &&
            xl_store_get_state(ing->store, ing->codec, winner, &st, err, sizeof(err)) == 0) {
            write_settle(w, 201, state_answer(&st, w->event_id, position_json(pos.partition, pos.offset)));
            xl_state_dispose(&st);
            return;
        }
    } else {
        uint32_t seq;
        xl_pos_t pos;
        if (xl_store_get_event_seq(ing->store, w->audit_id, w->event_id, strlen(w->event_id), &seq, &pos) == 0) {
            write_settle(w, 202,
                         json_pack("{s:I, s:s, s:I, s:o}", "audit_id", (json_int_t)w->audit_id, "event_id",
                                   w->event_id, "seq", (json_int_t)seq, "position",
                                   position_json(pos.partition, pos.offset)));
            return;
        }
    }
    xl_log_error("ingest", "event %s of %" PRId64 " at %d/%" PRId64 " was consumed but not projected", w->event_id,
                 w->audit_id, (int)w->partition, w->offset);
    write_settle(w, 500,
                 problem(w->pending, 500, "not-projected", "Event not projected",
                         "the event reached the log but the projector did not apply it; see the dead-letter topic"));
}

static void write_settle_delivered(write_t *w)
{
    pending_t *p = w->pending;
    int create = (w->kind & (XL_WRITE_CREATE | XL_WRITE_RETRY)) != 0;
    if (p != NULL && p->batch) { /* kept as values, rendered with the batch's answer */
        slot_t *s = &p->slots[w->slot];
        w->pending = NULL;
        s->write = NULL;
        --p->nwrites;
        if (s->status == 0) {
            delivered_t *d = &s->delivered;
            size_t len = strlen(w->event_id);
            *d = (delivered_t){.audit_id = w->audit_id, .root_audit_id = w->root_audit_id,
                               .parent_audit_id = w->parent_audit_id, .retries = w->retries,
                               .partition = w->partition, .offset = w->offset, .create = create};
            d->event_id = len < sizeof(d->short_id) ? d->short_id : malloc(len + 1);
            if (d->event_id != NULL) /* else rendered without its values (out of memory) */
                memcpy(d->event_id, w->event_id, len + 1);
            slot_fill(p, w->slot, create ? 201 : 202, NULL);
        }
        write_settle(w, 0, NULL);
        return;
    }
    json_t *body = json_pack("{s:I, s:s, s:n, s:o}", "audit_id", (json_int_t)w->audit_id, "event_id", w->event_id,
                             "seq", "position", position(w));
    if (w->kind & (XL_WRITE_CREATE | XL_WRITE_RETRY)) {
        json_object_set_new(body, "status", json_string("queued"));
        json_object_set_new(body, "root_audit_id", json_integer(w->root_audit_id));
        json_object_set_new(body, "parent_audit_id",
                            w->parent_audit_id ? json_integer(w->parent_audit_id) : json_null());
        json_object_set_new(body, "retries", json_integer(w->retries));
    }
    write_settle(w, w->kind & (XL_WRITE_CREATE | XL_WRITE_RETRY) ? 201 : 202, body);
}

/* ---- partitions and the projector's progress ---------------------------- */

static partition_t *get_partition(xl_ingest_t *ing, int32_t partition)
{
    if (partition < 0)
        return NULL;
    if ((size_t)partition >= ing->npartitions) {
        size_t n = (size_t)partition + 1;
        partition_t *parts = realloc(ing->partitions, n * sizeof(*parts));
        if (parts == NULL)
            return NULL;
        /* realloc moved the list heads: re-anchor their neighbours */
        for (size_t i = 0; i < ing->npartitions; ++i) {
            if (parts[i].waiting.next == &ing->partitions[i].waiting) {
                h2o_linklist_init_anchor(&parts[i].waiting);
            } else {
                parts[i].waiting.next->prev = &parts[i].waiting;
                parts[i].waiting.prev->next = &parts[i].waiting;
            }
        }
        for (size_t i = ing->npartitions; i < n; ++i) {
            parts[i].applied = -1;
            h2o_linklist_init_anchor(&parts[i].waiting);
        }
        ing->partitions = parts;
        ing->npartitions = n;
    }
    return &ing->partitions[partition];
}

static void on_progress(void *ctx, const xl_pos_t *pos, size_t n)
{
    xl_ingest_t *ing = ctx;
    for (size_t i = 0; i != n; ++i) {
        const xl_pos_t *m = &pos[i];
        partition_t *part = get_partition(ing, m->partition);
        if (ing->catchup != NULL)
            xl_catchup_applied(ing->catchup, m->partition, m->offset);
        if (part != NULL && m->offset > part->applied) {
            part->applied = m->offset;
            while (!h2o_linklist_is_empty(&part->waiting)) {
                write_t *w = H2O_STRUCT_FROM_MEMBER(write_t, waiting, part->waiting.next);
                if (w->offset >= part->applied)
                    break;
                h2o_linklist_unlink(&w->waiting);
                __atomic_sub_fetch(&ing->primary->nwaiting, 1, __ATOMIC_RELAXED);
                write_settle_projected(w);
            }
        }
    }
}

/* ---- delivery reports ----------------------------------------------------- */

static void on_report(void *ctx, void *opaque, int err, const char *errstr, int32_t partition, int64_t offset)
{
    write_t *w = opaque;
    xl_ingest_t *ing = w->ing; /* the lane of the loop that owns the request */
    w->err = err;
    if (errstr != NULL)
        snprintf(w->errstr, sizeof(w->errstr), "%s", errstr);
    w->partition = partition;
    w->offset = offset;
    h2o_multithread_send_message(&ing->on_report, &w->msg);
}

static void on_report_messages(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    xl_ingest_t *ing = H2O_STRUCT_FROM_MEMBER(xl_ingest_t, on_report, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        write_t *w = H2O_STRUCT_FROM_MEMBER(write_t, msg.link, messages->next);
        h2o_linklist_unlink(&w->msg.link);
        h2o_linklist_unlink(&w->unreported);
        w->reported = 1;
        if (w->err != 0) {
            STAT_ADD(ing, delivery_failed);
            char detail[256];
            snprintf(detail, sizeof(detail), "Kafka did not acknowledge the event: %s; retrying with the same "
                     "event_id is safe", w->errstr);
            write_settle(w, 503, problem(w->pending, 503, "unavailable", "Event log unavailable", detail));
            continue;
        }
        STAT_ADD(ing, delivered);
        /* a create with the client's event_id is answered with the execution the
         * projection chose (the first copy in the log): never a losing copy's ID */
        int settle_on_projection = w->client_event_id && (w->kind & (XL_WRITE_CREATE | XL_WRITE_RETRY));
        if (!ing->conf.ack_projected && !settle_on_projection) {
            write_settle_delivered(w);
            continue;
        }
        partition_t *part = get_partition(ing, w->partition);
        if (part == NULL) {
            write_settle(w, 500, problem(w->pending, 500, "internal", "Out of memory", "cannot track the write"));
            continue;
        }
        if (w->offset < part->applied) {
            write_settle_projected(w);
            continue;
        }
        /* wait in offset order; reports of one partition mostly come in order */
        h2o_linklist_t *at = &part->waiting;
        while (at->prev != &part->waiting &&
               H2O_STRUCT_FROM_MEMBER(write_t, waiting, at->prev)->offset > w->offset)
            at = at->prev;
        h2o_linklist_insert(at, &w->waiting);
        __atomic_add_fetch(&ing->primary->nwaiting, 1, __ATOMIC_RELAXED);
    }
}

/* ---- pending requests ------------------------------------------------------ */

/* The client went away before the answer: the writes go on without it. */
static void on_req_gone(xl_http_hold_t *hold)
{
    pending_t *p = hold->owner;
    p->req = NULL;
    p->hold = NULL;
}

static const xl_http_hold_callbacks_t pending_hold = {.gone = on_req_gone};

static void on_timeout(h2o_timeout_entry_t *entry)
{
    pending_t *p = H2O_STRUCT_FROM_MEMBER(pending_t, timeout, entry);
    char detail[160];
    snprintf(detail, sizeof(detail),
             "the event was not acknowledged within %d ms; retrying with the same event_id is safe",
             p->ing->conf.timeout_ms);
    /* fill every open slot first, so that the answer goes out exactly once */
    p->answered = 1;
    --p->ing->npending;
    h2o_linklist_unlink(&p->unanswered);
    for (size_t i = 0; i < p->nslots; ++i) {
        slot_t *s = &p->slots[i];
        if (s->status != 0)
            continue;
        s->status = 503;
        s->body = problem(p, 503, "unavailable", "Event log unavailable", detail);
        /* the write goes on without its request: it still guards its event_id
         * against a second create until Kafka or the projector settles it */
        write_t *w = s->write;
        if (w != NULL) {
            s->write = NULL;
            w->pending = NULL;
            --p->nwrites;
        }
    }
    p->nopen = 0;
    if (p->req != NULL) {
        xl_http_hold_release(p->hold);
        send_answer(p);
        p->req = NULL;
    }
    p->hold = NULL;
    pending_free_if_done(p);
}

static pending_t *pending_new(xl_ingest_t *ing, h2o_req_t *req, size_t nslots, int batch)
{
    pending_t *p = calloc(1, sizeof(*p));
    p->slots = calloc(nslots ? nslots : 1, sizeof(*p->slots));
    p->ing = ing;
    p->req = req;
    p->batch = batch;
    p->nslots = nslots;
    p->nopen = nslots;
    p->timeout.cb = on_timeout;
    ++ing->npending;
    h2o_linklist_insert(&ing->unanswered, &p->unanswered);
    p->hold = xl_http_hold(req, sizeof(*p->hold), &pending_hold);
    p->hold->owner = p;
    return p;
}

/* After every slot has a write or a result: answer now, or wait for them. */
static void pending_launch(pending_t *p)
{
    p->launched = 1;
    if (p->nopen == 0) {
        pending_answer(p);
        return;
    }
    h2o_timeout_link(p->ing->loop, &p->ing->timeout, &p->timeout);
}

/* ---- producing -------------------------------------------------------------- */

static char *dup_str(const xl_str_t *s)
{
    char *p = malloc(s->len + 1);
    if (s->len)
        memcpy(p, s->base, s->len);
    p[s->len] = '\0';
    return p;
}

/* A random (version 4) UUID; the random bytes are drawn a few hundred IDs at a time, per lane. */
static void new_event_id(xl_ingest_t *ing, char out[37])
{
    static const char hex[] = "0123456789abcdef";
    if (ing->nrandom < 16) {
        RAND_bytes(ing->random, sizeof(ing->random));
        ing->nrandom = sizeof(ing->random);
    }
    unsigned char *r = ing->random + (ing->nrandom -= 16);
    r[6] = (r[6] & 0x0f) | 0x40; /* UUID version 4 */
    r[8] = (r[8] & 0x3f) | 0x80;
    char *o = out;
    for (int i = 0; i < 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[r[i] >> 4];
        *o++ = hex[r[i] & 15];
    }
    *o = '\0';
    memset(r, 0, 16); /* used once */
}

static int str_eq(const xl_str_t *a, const char *b);

/* The decimal text of an audit ID (positive), NUL-terminated, into key[24] (the Kafka key). @return its length. */
static int format_id(char key[24], int64_t id)
{
    char tmp[24];
    int n = 0, len = 0;
    uint64_t v = id > 0 ? (uint64_t)id : 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (n > 0)
        key[len++] = tmp[--n];
    key[len] = '\0';
    return len;
}

/* Enter w (a create with the client's event_id) in the primary's table of creates in flight, unless one
 * with its tenant and event_id is there already (from any loop). @return 1 entered, 0 already there. */
static int claim_in_flight(write_t *w)
{
    xl_ingest_t *prim = w->ing->primary;
    xl_str_t tenant = {w->tenant_id, strlen(w->tenant_id)}, event_id = {w->event_id, strlen(w->event_id)};
    int found = 0;
    pthread_mutex_lock(&prim->lock);
    for (h2o_linklist_t *l = prim->inflight_creates.next; l != &prim->inflight_creates && !found; l = l->next) {
        write_t *o = H2O_STRUCT_FROM_MEMBER(write_t, inflight, l);
        found = str_eq(&event_id, o->event_id) && str_eq(&tenant, o->tenant_id);
    }
    if (!found)
        h2o_linklist_insert(&prim->inflight_creates, &w->inflight);
    pthread_mutex_unlock(&prim->lock);
    return !found;
}

/* Produce ev for slot i of p; the slot is filled now on failure, later otherwise. */
static void submit(pending_t *p, size_t i, int kind, xl_event_t *ev, int client_event_id)
{
    xl_ingest_t *ing = p->ing;
    char err[256], key[24];
    h2o_iovec_t trace;
    int have_trace = p->req != NULL && xl_http_traceparent(p->req, &trace);
    if (have_trace) /* kept in the event too, so the history shows which request wrote it */
        ev->traceparent = (xl_str_t){trace.base, trace.len};
    xl_buf_reset(&ing->frame);
    if (xl_event_encode(ing->codec, ev, &ing->frame, err, sizeof(err)) != 0) {
        slot_fill(p, i, 500, problem(p, 500, "internal", "Cannot encode the event", err));
        return;
    }
    size_t tlen = ev->tenant_id.base != NULL ? ev->tenant_id.len : 0, elen = ev->event_id.len;
    write_t *w = calloc(1, sizeof(*w) + tlen + 1 + elen + 1);
    w->ing = ing;
    w->pending = p;
    w->slot = i;
    w->kind = kind;
    w->audit_id = ev->audit_id;
    w->root_audit_id = ev->root_audit_id;
    w->parent_audit_id = ev->parent_audit_id;
    w->retries = ev->retries;
    w->tenant_id = w->strs;
    if (tlen != 0)
        memcpy(w->tenant_id, ev->tenant_id.base, tlen);
    w->event_id = w->strs + tlen + 1;
    memcpy(w->event_id, ev->event_id.base, elen); /* calloc'ed: both end with a NUL */
    w->client_event_id = client_event_id;
    int keylen = format_id(key, ev->root_audit_id);
    xl_producer_headers_t headers = {.type = xl_event_type_name(ev->type),
                                     .tenant = ev->tenant_id.base,
                                     .tenant_len = ev->tenant_id.len,
                                     .schema = ing->schema_hex};
    if (have_trace) {
        headers.traceparent = trace.base;
        headers.traceparent_len = trace.len;
    }
    /* a create with the client's event_id takes its place in the shared table first: the check and the
     * claim are one step, so two loops never both produce the same event_id */
    if ((kind & (XL_WRITE_CREATE | XL_WRITE_RETRY)) && client_event_id && !claim_in_flight(w)) {
        write_free(w);
        slot_fill(p, i, 409,
                  problem(p, 409, "in-progress", "A write with this event_id is in progress",
                          "another request with the same event_id is not acknowledged yet; retry shortly"));
        return;
    }
    h2o_linklist_insert(&ing->unreported, &w->unreported);
    int ret = xl_producer_send(ing->primary->producer, key, (size_t)keylen, ing->frame.base, ing->frame.len, &headers, w, err,
                               sizeof(err));
    if (ret != 0) {
        h2o_linklist_unlink(&w->unreported);
        write_free(w);
        char detail[320];
        snprintf(detail, sizeof(detail), "cannot queue the event for Kafka: %s", err);
        slot_fill(p, i, 503, problem(p, 503, "unavailable", "Event log unavailable", detail));
        return;
    }
    STAT_ADD(ing, produced);
    p->slots[i].write = w;
    ++p->nwrites;
}

static int str_eq(const xl_str_t *a, const char *b)
{
    size_t blen = strlen(b);
    return (a->base == NULL ? 0 : a->len) == blen && (blen == 0 || memcmp(a->base, b, blen) == 0);
}

/* A create with this event_id is in flight on any loop (the table is the primary's, shared). */
static int create_in_flight(xl_ingest_t *ing, const xl_str_t *tenant, const xl_str_t *event_id)
{
    xl_ingest_t *prim = ing->primary;
    int found = 0;
    pthread_mutex_lock(&prim->lock);
    for (h2o_linklist_t *l = prim->inflight_creates.next; l != &prim->inflight_creates && !found; l = l->next) {
        write_t *w = H2O_STRUCT_FROM_MEMBER(write_t, inflight, l);
        found = str_eq(event_id, w->event_id) && str_eq(tenant, w->tenant_id);
    }
    pthread_mutex_unlock(&prim->lock);
    return found;
}

static void copy_lineage(xl_event_t *ev, const xl_state_t *st)
{
    ev->root_audit_id = st->root_audit_id;
    ev->parent_audit_id = st->parent_audit_id;
    ev->parent_execution_id = st->parent_execution_id;
    ev->retries = st->retries;
    ev->flow_id = st->flow_id;
    ev->flow_name = st->flow_name;
    ev->tenant_id = st->tenant_id;
    ev->message_id = st->message_id;
}

/* 1 if an execution of tenant may be written by a caller confined to scope (NULL: every tenant). */
static int in_scope(const xl_str_t *scope, const xl_str_t *tenant)
{
    if (scope == NULL)
        return 1;
    return tenant->base != NULL && tenant->len == scope->len && memcmp(tenant->base, scope->base, scope->len) == 0;
}

static void on_caught_up(xl_catchup_wait_t *w);

/*
 * Slot i (p->cur, being processed) names an execution this node does not
 * know. On a cluster it may be in the log through another node: the write is
 * put aside until the projection has reached the log end, then processed
 * again. @return 1 when put aside (slot i stays open), 0 when unknown means
 * not found (caught up already, or a single node).
 */
static int defer_unknown(pending_t *p, size_t i)
{
    if (p->ing->catchup == NULL || p->caught_up || p->req == NULL)
        return 0;
    deferred_t *d = realloc(p->deferred, (p->ndeferred + 1) * sizeof(*d));
    if (d == NULL)
        return 0;
    p->deferred = d;
    d[p->ndeferred] = p->cur;
    d[p->ndeferred++].slot = i;
    if (p->ndeferred == 1) {
        p->catchup.cb = on_caught_up;
        xl_catchup_wait(p->ing->catchup, &p->catchup);
    }
    return 1;
}

/*
 * Look up the execution a write names. Fills slot i with 404 (or 500) and
 * returns -1 when it cannot be written to (or was put aside, defer_unknown).
 */
static int load_target(pending_t *p, size_t i, int64_t audit_id, const xl_str_t *scope, xl_state_t *st)
{
    char err[256], detail[320];
    int ret = xl_store_get_state(p->ing->store, p->ing->codec, audit_id, st, err, sizeof(err));
    if (ret == 0 && !in_scope(scope, &st->tenant_id)) { /* another tenant's: as if it did not exist */
        xl_state_dispose(st);
        ret = -ENOENT;
    }
    if (ret == 0)
        return 0;
    if (ret == -ENOENT && defer_unknown(p, i)) {
        return -1;
    } else if (ret == -ENOENT) {
        snprintf(detail, sizeof(detail), "no execution with audit ID %" PRId64, audit_id);
        slot_fill(p, i, 404, problem(p, 404, "not-found", "Execution not found", detail));
    } else {
        slot_fill(p, i, 500, problem(p, 500, "internal", "Cannot read the execution", err));
    }
    return -1;
}

static void fill_invalid(pending_t *p, size_t i, json_t *errors)
{
    json_t *pr = problem(p, 422, "invalid-write", "The write breaks the API contract",
                         "see errors for each offending field");
    json_object_set_new(pr, "errors", errors);
    slot_fill(p, i, 422, pr);
}

/* Names of (names, n) that the sorted (have, nhave) lacks; stride and offset say where each name lives. */
static size_t count_new_names(const void *names, size_t n, size_t nstride, const void *have, size_t nhave,
                              size_t hstride)
{
    size_t fresh = 0;
    for (size_t i = 0; i < n; ++i) {
        const xl_str_t *name = (const xl_str_t *)((const char *)names + i * nstride);
        int found = 0;
        for (size_t j = 0; j < nhave && !found; ++j) {
            const xl_str_t *h = (const xl_str_t *)((const char *)have + j * hstride);
            found = h->len == name->len && (name->len == 0 || memcmp(h->base, name->base, name->len) == 0);
        }
        fresh += !found;
    }
    return fresh;
}

/*
 * The bounds of one execution's state (schemas/event.h): distinct metric
 * names, attribute keys, and the encoded size the state would have once ev is
 * applied. A write past one is refused whole (422) before anything is
 * produced. st is the stored state; it is folded forward here (the caller
 * disposes it). @return 0, or -1 with slot i filled.
 */
static int check_state_boundsOrFill(pending_t *p, size_t i, xl_state_t *st, const xl_event_t *ev)
{
    char detail[256], err[256];
    size_t metrics = st->nmetrics, attrs = st->nattributes;
    if (ev->nmetrics != 0)
        metrics += count_new_names(&ev->metrics[0].name, ev->nmetrics, sizeof(*ev->metrics),
                                   st->nmetrics ? &st->metrics[0].name : NULL, st->nmetrics, sizeof(*st->metrics));
    if (ev->nattributes != 0)
        attrs += count_new_names(&ev->attributes[0].key, ev->nattributes, sizeof(*ev->attributes),
                                 st->nattributes ? &st->attributes[0].key : NULL, st->nattributes,
                                 sizeof(*st->attributes));
    if (metrics > XL_STATE_MAX_METRICS)
        snprintf(detail, sizeof(detail), "the execution would have %zu distinct metric names; at most %d are kept",
                 metrics, XL_STATE_MAX_METRICS);
    else if (attrs > XL_STATE_MAX_ATTRIBUTES)
        snprintf(detail, sizeof(detail), "the execution would have %zu distinct attribute keys; at most %d are kept",
                 attrs, XL_STATE_MAX_ATTRIBUTES);
    else
        detail[0] = '\0';
    if (detail[0] == '\0') {
        xl_apply_result_t res;
        xl_apply_origin_t origin = {st->log_partition, st->log_offset};
        xl_buf_t buf;
        xl_buf_init(&buf);
        int ret = xl_apply_event(st, 1, ev, 0, &origin, &res);
        /* the size from the field table decides far from the bound; near it, the encoded bytes do */
        if (ret == 0 && xl_state_encoded_size(st) <= XL_STATE_MAX_BYTES - STATE_SIZE_MARGIN) {
            xl_buf_dispose(&buf);
            return 0;
        }
        if (ret == 0)
            ret = xl_state_encode(p->ing->codec, st, &buf, err, sizeof(err));
        if (ret != 0) {
            xl_buf_dispose(&buf);
            slot_fill(p, i, 500,
                      problem(p, 500, "internal", "Cannot check the execution's size",
                              ret == -ENOMEM ? "out of memory" : err));
            return -1;
        }
        if (buf.len > XL_STATE_MAX_BYTES)
            snprintf(detail, sizeof(detail), "the execution's state would be %zu bytes; at most %d are kept",
                     buf.len, XL_STATE_MAX_BYTES);
        xl_buf_dispose(&buf);
    }
    if (detail[0] == '\0')
        return 0;
    slot_fill(p, i, 422, problem(p, 422, "limit-exceeded", "Execution state limit exceeded", detail));
    return -1;
}

/*
 * The audit ID of a new execution. A new lineage's events are keyed by its
 * audit ID; when the create carries the client's event_id (routed), the ID
 * is drawn until its key lands on the partition of (tenant, event_id), so
 * that every copy of the same create, through whichever node, is ordered on
 * one partition and the first one wins on every replica. That costs about
 * one ID per partition; IDs are plentiful (ingest/auditid.h).
 * @return 0, or negative with err.
 */
static int new_audit_id(xl_ingest_t *ing, xl_event_t *ev, int routed, const xl_str_t *tenant, char *err,
                        size_t errlen)
{
    int32_t nparts = ing->conf.partitions, want = 0;
    if (routed && nparts > 1) {
        xl_buf_t k;
        xl_buf_init(&k);
        if (xl_buf_append(&k, tenant->base, tenant->len) != 0 || xl_buf_append(&k, "", 1) != 0 ||
            xl_buf_append(&k, ev->event_id.base, ev->event_id.len) != 0) {
            xl_buf_dispose(&k);
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
        want = xl_producer_partition_of(k.base, k.len, nparts);
        xl_buf_dispose(&k);
    }
    for (int tries = 0; tries < 64 * (nparts > 1 ? nparts : 1); ++tries) {
        char key[24];
        pthread_mutex_lock(&ing->primary->lock);
        int ret = xl_auditid_next(ing->primary->ids, &ev->audit_id, err, errlen);
        pthread_mutex_unlock(&ing->primary->lock);
        if (ret != 0 || !routed || nparts <= 1)
            return ret;
        int keylen = snprintf(key, sizeof(key), "%" PRId64, ev->audit_id);
        if (xl_producer_partition_of(key, (size_t)keylen, nparts) == want)
            return 0;
    }
    snprintf(err, errlen, "no audit ID for partition %d in %d draws", (int)want, 64 * nparts);
    return -EAGAIN;
}

/*
 * One write of any kind, after validation: everything but the Kafka
 * acknowledgement is settled here. ev's strings borrow from the request.
 * target is the execution named in the URL (0 for a create).
 */
static void process_write(pending_t *p, size_t i, int kind, xl_event_t *ev, int64_t target, const xl_str_t *scope)
{
    xl_ingest_t *ing = p->ing;
    char err[256], detail[320], event_id[37];
    xl_state_t st, parent;
    int have_st = 0, have_parent = 0;
    memset(&st, 0, sizeof(st));
    memset(&parent, 0, sizeof(parent));
    p->cur.kind = kind;
    p->cur.target = target;
    int client_event_id = ev->event_id.base != NULL;
    if (!client_event_id) {
        new_event_id(ing, event_id);
        ev->event_id.base = event_id;
        ev->event_id.len = 36;
    }
    int64_t now = xl_now_ms();
    ev->ingest_time_ms = now;
    if (ev->time_ms == 0)
        ev->time_ms = now;

    if (kind & (XL_WRITE_APPEND | XL_WRITE_CANCEL)) {
        if (load_target(p, i, target, scope, &st) != 0)
            goto done;
        have_st = 1;
        uint32_t seq;
        xl_pos_t pos;
        if (client_event_id &&
            xl_store_get_event_seq(ing->store, target, ev->event_id.base, ev->event_id.len, &seq, &pos) == 0) {
            slot_fill(p, i, 202,
                      json_pack("{s:I, s:s%, s:I, s:o}", "audit_id", (json_int_t)target, "event_id", ev->event_id.base,
                                ev->event_id.len, "seq", (json_int_t)seq, "position",
                                position_json(pos.partition, pos.offset)));
            goto done;
        }
        if (kind & XL_WRITE_CANCEL) {
            xl_control_decision_t d;
            xl_control_decide(&st, p->cur.control, &ev->task, &d);
            if (d.verdict == XL_CONTROL_REFUSE) {
                slot_fill(p, i, d.status, problem(p, d.status, d.slug, "Control request refused", d.detail));
                goto done;
            }
            if (d.verdict == XL_CONTROL_REPEAT &&
                xl_store_get_event_seq(ing->store, target, st.control_event_id.base, st.control_event_id.len, &seq,
                                       &pos) == 0) {
                slot_fill(p, i, 202,
                          json_pack("{s:I, s:s%, s:I, s:o}", "audit_id", (json_int_t)target, "event_id",
                                    st.control_event_id.base, st.control_event_id.len, "seq", (json_int_t)seq,
                                    "position", position_json(pos.partition, pos.offset)));
                goto done;
            }
            ev->type = p->cur.control;
        } else if (!xl_control_time_ok(&st, ev)) {
            json_t *errors = json_array();
            xl_validate_error(errors, "time", "ends the execution before it started");
            fill_invalid(p, i, errors);
            goto done;
        }
        ev->audit_id = target;
        copy_lineage(ev, &st);
        ev->status = xl_apply_requested_status(ev->type);
        if (check_state_boundsOrFill(p, i, &st, ev) != 0)
            goto done;
        submit(p, i, kind, ev, client_event_id);
        goto done;
    }

    /* a new execution: a create, a create naming the attempt it retries, or a retry */
    if (scope != NULL && !(kind & XL_WRITE_RETRY)) {
        if (ev->tenant_id.base == NULL) {
            ev->tenant_id = *scope; /* a confined caller's executions are its tenant's */
        } else if (!in_scope(scope, &ev->tenant_id)) {
            snprintf(detail, sizeof(detail), "this token may create executions of tenant %.*s only",
                     (int)scope->len, scope->base);
            slot_fill(p, i, 403, problem(p, 403, "forbidden-tenant", "Another tenant", detail));
            goto done;
        }
    }
    int64_t parent_id = (kind & XL_WRITE_RETRY) ? target : ev->parent_audit_id;
    if (parent_id != 0) {
        int ret = xl_store_get_state(ing->store, ing->codec, parent_id, &parent, err, sizeof(err));
        if (ret == 0 && !in_scope(scope, &parent.tenant_id)) {
            xl_state_dispose(&parent);
            ret = -ENOENT;
        }
        if (ret == -ENOENT && (kind & XL_WRITE_RETRY)) {
            load_target(p, i, target, scope, &parent); /* fills 404, or puts the write aside */
            goto done;
        } else if (ret == -ENOENT && defer_unknown(p, i)) {
            goto done;
        } else if (ret == -ENOENT) {
            json_t *errors = json_array();
            xl_validate_error(errors, "parent_audit_id", "no such execution");
            fill_invalid(p, i, errors);
            goto done;
        } else if (ret != 0) {
            slot_fill(p, i, 500, problem(p, 500, "internal", "Cannot read the execution", err));
            goto done;
        }
        have_parent = 1;
        if ((kind & XL_WRITE_CREATE) && ev->tenant_id.base != NULL &&
            (parent.tenant_id.len != ev->tenant_id.len ||
             memcmp(parent.tenant_id.base, ev->tenant_id.base, ev->tenant_id.len) != 0)) {
            json_t *errors = json_array();
            xl_validate_error(errors, "tenant_id", "differs from the tenant of parent_audit_id");
            fill_invalid(p, i, errors);
            goto done;
        }
        if (kind & XL_WRITE_RETRY) {
            ev->flow_id = parent.flow_id;
            ev->flow_name = parent.flow_name;
            ev->message_id = parent.message_id;
            ev->parent_execution_id = parent.parent_execution_id;
            ev->top_execution_id = parent.parent_execution_id != 0 ? parent.top_execution_id : 0;
            if (ev->input.base == NULL) /* a new attempt of the same work takes the same input */
                ev->input = parent.input;
        }
        if (ev->tenant_id.base == NULL)
            ev->tenant_id = parent.tenant_id;
        ev->parent_audit_id = parent_id;
        ev->retries = parent.retries + 1;
    }
    if (ev->parent_execution_id != 0 && !(kind & XL_WRITE_RETRY)) {
        xl_state_t caller;
        int ret = xl_store_get_state(ing->store, ing->codec, ev->parent_execution_id, &caller, err, sizeof(err));
        int seen = ret == 0 && in_scope(scope, &caller.tenant_id);
        if (ret == 0) {
            /* a child joins its caller's tree (a caller of schema version 1 may not know its top) */
            ev->top_execution_id = caller.top_execution_id != 0 ? caller.top_execution_id : caller.audit_id;
            xl_state_dispose(&caller);
        }
        if (ret == -ENOENT && defer_unknown(p, i))
            goto done;
        if (!seen) {
            json_t *errors = json_array();
            xl_validate_error(errors, "parent_execution_id", "no such execution");
            fill_invalid(p, i, errors);
            goto done;
        }
    }
    static const xl_str_t no_tenant = {(char *)"", 0};
    const xl_str_t *tenant = ev->tenant_id.base != NULL ? &ev->tenant_id : &no_tenant;
    if (client_event_id) {
        int64_t existing;
        xl_pos_t pos;
        xl_state_t prev;
        if (xl_store_find_create(ing->store, tenant->base, tenant->len, ev->event_id.base, ev->event_id.len, -1,
                                 &existing, &pos) == 0 &&
            xl_store_get_state(ing->store, ing->codec, existing, &prev, err, sizeof(err)) == 0) {
            char *eid = dup_str(&ev->event_id);
            slot_fill(p, i, 201, state_answer(&prev, eid, position_json(pos.partition, pos.offset)));
            free(eid);
            xl_state_dispose(&prev);
            goto done;
        }
        if (create_in_flight(ing, tenant, &ev->event_id)) {
            slot_fill(p, i, 409,
                      problem(p, 409, "in-progress", "A write with this event_id is in progress",
                              "another request with the same event_id is not acknowledged yet; retry shortly"));
            goto done;
        }
    }
    if (new_audit_id(ing, ev, !have_parent && client_event_id, tenant, err, sizeof(err)) != 0) {
        xl_log_error("ingest", "%s", err);
        slot_fill(p, i, 503, problem(p, 503, "unavailable", "Cannot allocate an audit ID", err));
        goto done;
    }
    if (!have_parent)
        ev->root_audit_id = ev->audit_id;
    else
        ev->root_audit_id = parent.root_audit_id;
    if (ev->top_execution_id == 0)
        ev->top_execution_id = ev->audit_id; /* the root of its own call tree */
    ev->type = XL_EVENT_CREATED;
    ev->status = XL_STATUS_QUEUED;
    submit(p, i, kind, ev, client_event_id);
done:
    if (have_st)
        xl_state_dispose(&st);
    if (have_parent)
        xl_state_dispose(&parent);
}

/* ---- handlers ------------------------------------------------------------- */

/* A body over http.max_body: answered 413 here. @return 1 if so. */
static int too_largeOrReply(xl_ingest_t *ing, h2o_req_t *req)
{
    if (req->entity.len <= ing->conf.max_body)
        return 0;
    xl_http_send_problem(req, 413, "too-large", "Body too large", NULL,
                         "the body has %zu bytes; the limit is %zu (http.max_body)", req->entity.len,
                         ing->conf.max_body);
    STAT_ADD(ing, requests_rejected);
    return 1;
}

/* Keep the caller's tenant with the request, for writes processed after a catch-up. */
static void pending_set_scope(pending_t *p, const xl_str_t *scope)
{
    if (scope != NULL) {
        h2o_iovec_t copy = h2o_strdup(&p->req->pool, scope->base, scope->len);
        p->scope = (xl_str_t){copy.base, copy.len};
    }
}

static const xl_str_t *pending_scope(const pending_t *p)
{
    return p->scope.base != NULL ? &p->scope : NULL;
}

/*
 * Validate the JSON of one write (a request body, or a batch line: kind
 * XL_WRITE_BATCH, whose audit_id becomes *target) into ev. The common flat
 * shape is scanned straight into ev (xl_validate_scan: *obj NULL, ev's
 * strings borrow from src); anything else is parsed with jansson and checked
 * by xl_validate_write (ev's strings borrow from *obj: json_decref it once ev
 * is processed). @return 0, or -1 with slot i filled.
 */
static int read_writeOrFill(pending_t *p, size_t i, h2o_iovec_t src, int kind, xl_event_t *ev, int64_t *target,
                            json_t **obj)
{
    json_error_t jerr;
    *obj = NULL;
    if (xl_validate_scan(src.base, src.len, kind, ev, &p->req->pool))
        goto done;
    if (src.len == 0 && (kind & (XL_WRITE_RETRY | XL_WRITE_CANCEL)))
        *obj = json_object(); /* their body is optional */
    else
        *obj = json_loadb(src.base, src.len, JSON_REJECT_DUPLICATES, &jerr);
    if (*obj == NULL) {
        char detail[256];
        if (kind == XL_WRITE_BATCH)
            snprintf(detail, sizeof(detail), "column %d: %s", jerr.column, jerr.text);
        else
            snprintf(detail, sizeof(detail), "line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
        slot_fill(p, i, 400, problem(p, 400, "malformed-json", "Malformed JSON", detail));
        return -1;
    }
    json_t *errors = json_array();
    if (xl_validate_write(*obj, kind, ev, errors, &p->req->pool) != 0) {
        fill_invalid(p, i, errors);
        json_decref(*obj);
        *obj = NULL;
        return -1;
    }
    json_decref(errors);
done:
    if (kind == XL_WRITE_BATCH) {
        *target = ev->audit_id;
        ev->audit_id = 0;
    }
    return 0;
}

/* The projection reached the log end: process again the writes that named an unknown execution. */
static void on_caught_up(xl_catchup_wait_t *w)
{
    pending_t *p = H2O_STRUCT_FROM_MEMBER(pending_t, catchup, w);
    deferred_t *todo = p->deferred;
    size_t n = p->ndeferred;
    p->deferred = NULL;
    p->ndeferred = 0;
    p->caught_up = 1;
    for (size_t k = 0; k < n; ++k) {
        deferred_t *d = &todo[k];
        xl_event_t ev;
        int64_t target = d->target;
        if (p->slots[d->slot].status != 0) /* answered by the timeout */
            continue;
        if (p->req == NULL || w->failed) {
            slot_fill(p, d->slot, 503,
                      problem(p, 503, "unavailable", "Event log unavailable",
                              "the execution is not known here and the log end could not be read to be sure; retry"));
            continue;
        }
        p->cur = *d;
        json_t *obj;
        if (read_writeOrFill(p, d->slot, d->src, p->batch ? XL_WRITE_BATCH : d->kind, &ev, &target, &obj) == 0)
            process_write(p, d->slot, d->kind, &ev, d->target, pending_scope(p));
        json_decref(obj);
    }
    free(todo);
}

static void handle_single(xl_ingest_t *ing, h2o_req_t *req, int kind, int64_t target, const xl_str_t *scope,
                          int control, h2o_iovec_t src, xl_ingest_reshape_cb reshape, void *ctx)
{
    if (too_largeOrReply(ing, req))
        return;
    pending_t *p = pending_new(ing, req, 1, 0);
    pending_set_scope(p, scope);
    p->reshape = reshape;
    p->reshape_ctx = ctx;
    p->cur.src = src;
    p->cur.control = control;
    xl_event_t ev;
    json_t *obj;
    if (read_writeOrFill(p, 0, src, kind, &ev, &target, &obj) == 0)
        process_write(p, 0, kind, &ev, target, scope);
    json_decref(obj);
    pending_launch(p);
}

void xl_ingest_handle_create(xl_ingest_t *ing, h2o_req_t *req, const xl_str_t *scope)
{
    handle_single(ing, req, XL_WRITE_CREATE, 0, scope, 0, req->entity, NULL, NULL);
}

void xl_ingest_handle_append(xl_ingest_t *ing, h2o_req_t *req, int64_t audit_id, const xl_str_t *scope)
{
    handle_single(ing, req, XL_WRITE_APPEND, audit_id, scope, 0, req->entity, NULL, NULL);
}

void xl_ingest_handle_retry(xl_ingest_t *ing, h2o_req_t *req, int64_t audit_id, const xl_str_t *scope)
{
    handle_single(ing, req, XL_WRITE_RETRY, audit_id, scope, 0, req->entity, NULL, NULL);
}

void xl_ingest_handle_cancel(xl_ingest_t *ing, h2o_req_t *req, int64_t audit_id, const xl_str_t *scope)
{
    handle_single(ing, req, XL_WRITE_CANCEL, audit_id, scope, XL_EVENT_CANCEL_REQUESTED, req->entity, NULL, NULL);
}

void xl_ingest_handle_control(xl_ingest_t *ing, h2o_req_t *req, int64_t audit_id, int type, const xl_str_t *scope)
{
    handle_single(ing, req, XL_WRITE_CANCEL, audit_id, scope, type, req->entity, NULL, NULL);
}

void xl_ingest_handle_as(xl_ingest_t *ing, h2o_req_t *req, int kind, int control, int64_t audit_id,
                        const xl_str_t *scope, h2o_iovec_t body, xl_ingest_reshape_cb reshape, void *ctx)
{
    handle_single(ing, req, kind, audit_id, scope, control, body, reshape, ctx);
}

int xl_ingest_next_line(const char *body, size_t len, size_t *pos, size_t *lineno, h2o_iovec_t *line)
{
    while (*pos < len) { /* so body is not NULL below */
        const char *s = body + *pos, *end = body + len;
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *e = nl ? nl : end, *c = s;
        while (c < e && (*c == ' ' || *c == '\t' || *c == '\r'))
            ++c;
        *pos = (size_t)(e - body) + 1;
        ++*lineno;
        if (c < e) {
            *line = h2o_iovec_init(c, (size_t)(e - c));
            return 1;
        }
    }
    return 0;
}

void xl_ingest_handle_batch(xl_ingest_t *ing, h2o_req_t *req, const xl_str_t *scope)
{
    if (too_largeOrReply(ing, req))
        return;
    size_t nlines = 0, pos = 0, lineno = 0;
    h2o_iovec_t line;
    while (xl_ingest_next_line(req->entity.base, req->entity.len, &pos, &lineno, &line))
        ++nlines;
    if (nlines == 0 || nlines > BATCH_MAX_LINES) {
        xl_http_send_problem(req, nlines ? 413 : 400, nlines ? "too-large" : "empty-batch",
                             nlines ? "Batch too large" : "Empty batch", NULL,
                             "a batch holds 1 to %d NDJSON lines; this one has %zu", BATCH_MAX_LINES, nlines);
        STAT_ADD(ing, requests_rejected);
        return;
    }
    pending_t *p = pending_new(ing, req, nlines, 1);
    pending_set_scope(p, scope);
    p->lines = calloc(nlines, sizeof(*p->lines));
    size_t i = 0;
    pos = lineno = 0;
    while (i < nlines && xl_ingest_next_line(req->entity.base, req->entity.len, &pos, &lineno, &line)) {
        p->lines[i] = lineno;
        p->cur.src = line;
        xl_event_t ev;
        int64_t target = 0;
        json_t *obj;
        if (read_writeOrFill(p, i, line, XL_WRITE_BATCH, &ev, &target, &obj) == 0)
            process_write(p, i, target != 0 ? XL_WRITE_APPEND : XL_WRITE_CREATE, &ev, target, scope);
        ++i;
        json_decref(obj);
    }
    pending_launch(p);
}

/* ---- lifecycle ------------------------------------------------------------- */

/* The per-loop part of a lane: its queue, timeout, catch-up and progress subscription. */
static int lane_init(xl_ingest_t *ing, h2o_loop_t *loop, int kafka_timeout, char *err, size_t errlen)
{
    const xl_ingest_conf_t *conf = &ing->conf;
    ing->loop = loop;
    h2o_linklist_init_anchor(&ing->unanswered);
    h2o_linklist_init_anchor(&ing->unreported);
    xl_buf_init(&ing->frame);
    xl_buf_init(&ing->answer);
    snprintf(ing->schema_hex, sizeof(ing->schema_hex), "%016" PRIx64, xl_event_schema_fingerprint());
    if ((ing->codec = xl_codec_create(err, errlen)) == NULL)
        return -1;
    ing->queue = h2o_multithread_create_queue(loop);
    h2o_multithread_register_receiver(ing->queue, &ing->on_report, on_report_messages);
    h2o_timeout_init(loop, &ing->timeout, (uint64_t)conf->timeout_ms);
    if (conf->catch_up &&
        (ing->catchup = xl_catchup_create(loop, ing->primary->producer, kafka_timeout, err, errlen)) == NULL)
        return -1;
    if (conf->progress != NULL &&
        (ing->progress = xl_progress_subscribe(conf->progress, ing->queue, on_progress, ing)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* Kafka gives up a little before we do, so its error wins over a bare timeout */
static int kafka_timeout_of(const xl_ingest_conf_t *conf)
{
    return conf->timeout_ms > 1000 ? conf->timeout_ms - 500 : conf->timeout_ms;
}

xl_ingest_t *xl_ingest_create(const xl_ingest_conf_t *conf, h2o_loop_t *loop, xl_store_t *store, char *err,
                              size_t errlen)
{
    xl_ingest_t *ing = calloc(1, sizeof(*ing));
    ing->conf = *conf;
    ing->store = store;
    ing->primary = ing;
    pthread_mutex_init(&ing->lock, NULL);
    h2o_linklist_init_anchor(&ing->inflight_creates);
    int kafka_timeout = kafka_timeout_of(conf);
    if ((ing->ids = xl_auditid_create(conf->data_dir, conf->node_id, err, errlen)) == NULL)
        goto fail;
    if ((ing->producer = xl_producer_create(conf->topic, conf->kafka_props, conf->nkafka_props, kafka_timeout, on_report,
                                            ing, err, errlen)) == NULL)
        goto fail;
    if (lane_init(ing, loop, kafka_timeout, err, errlen) != 0)
        goto fail;
    return ing;
fail:
    xl_ingest_destroy(ing);
    return NULL;
}

xl_ingest_t *xl_ingest_add_lane(xl_ingest_t *primary, h2o_loop_t *loop, char *err, size_t errlen)
{
    xl_ingest_t *ing = calloc(1, sizeof(*ing));
    ing->conf = primary->conf;
    ing->store = primary->store;
    ing->primary = primary;
    h2o_linklist_init_anchor(&ing->inflight_creates); /* unused: the primary's is the table */
    pthread_mutex_lock(&primary->lock); /* the loops' threads add their lanes at once */
    ing->next_lane = primary->next_lane;
    primary->next_lane = ing; /* freed with the primary, even half made */
    pthread_mutex_unlock(&primary->lock);
    if (lane_init(ing, loop, kafka_timeout_of(&primary->conf), err, errlen) != 0) {
        xl_ingest_dispose_lane(ing); /* here, on its loop's thread */
        return NULL;
    }
    return ing;
}

/*
 * The delivery reports the producer queued for this lane and the loop has not
 * taken: handled now, once the producer is gone (each write's report message
 * is taken back from the receiver's queue through the write's own link, so the
 * receiver is empty when it is unregistered).
 */
static void take_reports(xl_ingest_t *ing)
{
    h2o_linklist_t messages;
    h2o_linklist_init_anchor(&messages);
    for (h2o_linklist_t *l = ing->unreported.next; l != &ing->unreported; l = l->next) {
        write_t *w = H2O_STRUCT_FROM_MEMBER(write_t, unreported, l);
        if (h2o_linklist_is_linked(&w->msg.link)) {
            h2o_linklist_unlink(&w->msg.link);
            h2o_linklist_insert(&messages, &w->msg.link);
        }
    }
    if (!h2o_linklist_is_empty(&messages))
        on_report_messages(&ing->on_report, &messages);
}

void xl_ingest_stop(xl_ingest_t *ing)
{
    if (ing == NULL || ing->stopped)
        return;
    ing->stopped = 1;
    /* the catch-ups read through the producer */
    for (xl_ingest_t *l = ing; l != NULL; l = l->next_lane) {
        xl_catchup_destroy(l->catchup);
        l->catchup = NULL;
    }
    /* every message gets its delivery report (flushed, or purged with an error), queued on its lane */
    if (ing->producer != NULL)
        xl_producer_destroy(ing->producer, ing->conf.timeout_ms);
    ing->producer = NULL;
}

void xl_ingest_dispose_lane(xl_ingest_t *ing)
{
    if (ing == NULL || ing->disposed)
        return;
    ing->disposed = 1;
    if (ing->queue != NULL) {
        take_reports(ing);
        xl_progress_unsubscribe(ing->progress); /* hands over what is not heard yet */
        ing->progress = NULL;
        /* what still waits is not acknowledged: 503 for whoever is still there (as its timeout would) */
        while (!h2o_linklist_is_empty(&ing->unanswered)) {
            pending_t *p = H2O_STRUCT_FROM_MEMBER(pending_t, unanswered, ing->unanswered.next);
            if (h2o_timeout_is_linked(&p->timeout))
                h2o_timeout_unlink(&p->timeout);
            on_timeout(&p->timeout);
        }
        for (size_t i = 0; i < ing->npartitions; ++i)
            while (!h2o_linklist_is_empty(&ing->partitions[i].waiting))
                write_settle(H2O_STRUCT_FROM_MEMBER(write_t, waiting, ing->partitions[i].waiting.next), 0, NULL);
        h2o_multithread_unregister_receiver(ing->queue, &ing->on_report);
        h2o_multithread_destroy_queue(ing->queue);
        h2o_timeout_dispose(ing->loop, &ing->timeout);
        ing->queue = NULL;
    }
    if (ing->codec != NULL)
        xl_codec_destroy(ing->codec);
    ing->codec = NULL;
    free(ing->partitions);
    ing->partitions = NULL;
    ing->npartitions = 0;
    xl_buf_dispose(&ing->frame);
    xl_buf_dispose(&ing->answer);
}

void xl_ingest_destroy(xl_ingest_t *ing)
{
    if (ing == NULL)
        return;
    xl_ingest_stop(ing);
    while (ing->next_lane != NULL) {
        xl_ingest_t *l = ing->next_lane;
        ing->next_lane = l->next_lane;
        xl_ingest_dispose_lane(l);
        free(l);
    }
    xl_ingest_dispose_lane(ing);
    xl_auditid_destroy(ing->ids);
    pthread_mutex_destroy(&ing->lock);
    free(ing);
}

size_t xl_ingest_pending(xl_ingest_t *ing) { return ing->npending; }

void xl_ingest_get_stats(xl_ingest_t *ing, xl_ingest_stats_t *stats)
{
    const xl_ingest_stats_t *st = &ing->primary->stats;
    memset(stats, 0, sizeof(*stats));
    stats->requests_ok = __atomic_load_n(&st->requests_ok, __ATOMIC_RELAXED);
    stats->requests_rejected = __atomic_load_n(&st->requests_rejected, __ATOMIC_RELAXED);
    stats->requests_unavailable = __atomic_load_n(&st->requests_unavailable, __ATOMIC_RELAXED);
    stats->produced = __atomic_load_n(&st->produced, __ATOMIC_RELAXED);
    stats->delivered = __atomic_load_n(&st->delivered, __ATOMIC_RELAXED);
    stats->delivery_failed = __atomic_load_n(&st->delivery_failed, __ATOMIC_RELAXED);
    stats->waiting = __atomic_load_n(&ing->primary->nwaiting, __ATOMIC_RELAXED);
}
