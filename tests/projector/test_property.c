/*
 * Property test of the derived projections, without Kafka: a random stream
 * (fixed seed) of many executions across tenants and flows, with retry
 * lineages (parent_audit_id, root_audit_id), call trees
 * (parent_execution_id), tasks, illegal transitions, re-deliveries, events
 * without an idempotency key, rejected events and poison frames, folded
 * through xl_fold in batches of random sizes into a fresh RocksDB store.
 *
 * Then everything is recomputed by brute force from the archive alone:
 * every archived frame is decoded and replayed, which must give each
 * execution's stored state byte for byte (and the counts the generator
 * expects); from those states every index is recomputed and compared with
 * every index scan (both directions, and paged with cursors), and every flow
 * summary with the aggregates (counts, latest, percentiles from the raw
 * durations). Last, another interleaving of the same log, and a rebuild from
 * the archive, must give the same digest.
 *
 * Set XL_PROPERTY_SEED to try another stream.
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "projector/apply.h"
#include "projector/fold.h"
#include "projector/rebuild.h"
#include "projector/store.h"
#include "tests/projector/fixtures.h"
#include "tests/test.h"

#define NLINEAGES 900
#define NTENANTS 3 /* the last one is "no tenant" */
#define NFLOWS 7
#define NMSGS 150
#define NPART 4
#define NTASKS 4
#define MAX_STEPS 22
#define IDENTITY "prop-log"

static const char *const tenants[NTENANTS] = {"acme", "beta", NULL};
static const char *const flows[NFLOWS] = {"nightly", "hourly", "etl", "etl-2", "e", "report", "x\xc3\xa9"};

/* ---- random ---- */

static uint64_t rng = 0x2545f4914f6cdd1dULL;

static uint64_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717ULL;
}

static int64_t below(int64_t n)
{
    return (int64_t)(rnd() % (uint64_t)n);
}

static int chance(int pct)
{
    return below(100) < pct;
}

/* ---- the generated stream ---- */

typedef struct st_spec_t {
    int64_t audit, parent, root, parent_exec;
    int32_t retries;
    int tenant, flow, msg; /* msg -1: none */
    int64_t created;
    int32_t partition;
    size_t expect_archived; /* events the archive must hold */
} spec_t;

typedef struct st_frame_t {
    xl_buf_t bytes;
    int32_t partition;
    int64_t offset;
    int exec; /* index in specs, -1: not of a known execution */
} frame_t;

typedef struct st_world_t {
    spec_t *specs;
    size_t nspecs;
    frame_t *log; /* in log order */
    size_t nlog, caplog;
    /* per execution: its frames in order, before interleaving */
    xl_buf_t **pending;
    size_t *npending, *cappending;
    xl_codec_t *codec;
} world_t;

static void push_frame(world_t *w, int exec, const xl_buf_t *frame)
{
    if (w->npending[exec] == w->cappending[exec]) {
        w->cappending[exec] = w->cappending[exec] ? w->cappending[exec] * 2 : 16;
        w->pending[exec] = realloc(w->pending[exec], w->cappending[exec] * sizeof(xl_buf_t));
    }
    xl_buf_t *b = &w->pending[exec][w->npending[exec]++];
    xl_buf_init(b);
    xl_buf_append(b, frame->base, frame->len);
}

static void push_log(world_t *w, const xl_buf_t *frame, int32_t partition, int exec)
{
    if (w->nlog == w->caplog) {
        w->caplog = w->caplog ? w->caplog * 2 : 4096;
        w->log = realloc(w->log, w->caplog * sizeof(*w->log));
    }
    frame_t *f = &w->log[w->nlog++];
    xl_buf_init(&f->bytes);
    xl_buf_append(&f->bytes, frame->base, frame->len);
    f->partition = partition;
    f->exec = exec;
}

static int encode(world_t *w, const xl_event_t *ev, xl_buf_t *out)
{
    xl_buf_reset(out);
    return fx_encode(w->codec, ev, out);
}

static xl_event_t base_event(const spec_t *s, int type, const char *event_id, int64_t t)
{
    xl_event_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = type;
    ev.status = XL_STATUS_NONE;
    ev.audit_id = s->audit;
    ev.parent_audit_id = s->parent;
    ev.root_audit_id = s->root;
    ev.parent_execution_id = s->parent_exec;
    ev.retries = s->retries;
    ev.flow_id = str_of(flows[s->flow]);
    ev.tenant_id = str_of(tenants[s->tenant]);
    ev.event_id = str_of(event_id);
    ev.time_ms = t;
    ev.ingest_time_ms = t + 3;
    return ev;
}

/* The events of one execution, re-deliveries included, in their order. */
static int gen_execution(world_t *w, int idx)
{
    spec_t *s = &w->specs[idx];
    char id[48], msgid[32], task[8], mname[8], text[32];
    xl_buf_t frame, prev[MAX_STEPS + 1];
    size_t nprev = 0;
    int64_t t = s->created;
    /* live activity mostly; terminal events about one step in twelve, so that lives last a while */
    static const int types[] = {
        XL_EVENT_STARTED,       XL_EVENT_STARTED,       XL_EVENT_PROGRESS,      XL_EVENT_PROGRESS,
        XL_EVENT_PAUSED,        XL_EVENT_RESUMED,       XL_EVENT_WARNING,       XL_EVENT_TASK_STARTED,
        XL_EVENT_TASK_STARTED,  XL_EVENT_TASK_STARTED,  XL_EVENT_TASK_PROGRESS, XL_EVENT_TASK_PROGRESS,
        XL_EVENT_TASK_FINISHED, XL_EVENT_TASK_FINISHED, XL_EVENT_TASK_FAILED,   XL_EVENT_METRICS,
        XL_EVENT_METRICS,       XL_EVENT_LOG,           XL_EVENT_LOG,           XL_EVENT_PROGRESS,
        XL_EVENT_TASK_STARTED,  XL_EVENT_TASK_FINISHED, XL_EVENT_STARTED,       XL_EVENT_CANCEL_REQUESTED,
        XL_EVENT_SUCCEEDED,     XL_EVENT_SUCCEEDED,     XL_EVENT_FAILED,        XL_EVENT_CANCELLED,
        XL_EVENT_PROGRESS,      XL_EVENT_TASK_PROGRESS, XL_EVENT_METRICS,       XL_EVENT_TASK_STARTED,
        XL_EVENT_LOG,           XL_EVENT_TASK_FINISHED, XL_EVENT_PROGRESS,      XL_EVENT_STARTED,
        XL_EVENT_TASK_FAILED,   XL_EVENT_WARNING,       XL_EVENT_LOG,           XL_EVENT_TASK_PROGRESS,
        XL_EVENT_CREATED, /* a second create of the same execution: rejected, not archived */
    };

    xl_buf_init(&frame);
    snprintf(msgid, sizeof(msgid), "msg-%d", s->msg);
    snprintf(id, sizeof(id), "c-%" PRId64, s->audit);
    xl_event_t ev = base_event(s, XL_EVENT_CREATED, id, t);
    ev.message_id = s->msg >= 0 ? str_of(msgid) : (xl_str_t){NULL, 0};
    ev.trigger_type = str_of(s->parent ? "retry" : "schedule");
    if (encode(w, &ev, &frame) != 0)
        return -1;
    push_frame(w, idx, &frame);
    s->expect_archived = 1;
    xl_buf_init(&prev[nprev]);
    xl_buf_append(&prev[nprev++], frame.base, frame.len);

    int steps = (int)below(MAX_STEPS);
    for (int k = 0; k < steps; ++k) {
        int type = types[below(sizeof(types) / sizeof(types[0]))];
        /* durations with a heavy tail: most steps are short, a few take hours */
        t += chance(5) ? below(20000000) : below(3000);
        snprintf(id, sizeof(id), "e-%" PRId64 "-%d", s->audit, k);
        ev = base_event(s, type, chance(4) ? "" : id, t);
        snprintf(task, sizeof(task), "t%d", (int)below(NTASKS));
        snprintf(mname, sizeof(mname), "m%d", (int)below(3));
        snprintf(text, sizeof(text), "step %d", k);
        xl_metric_t metric = {str_of(mname), below(1000) - 10};
        xl_str_t warning = str_of("careful");
        if (type >= XL_EVENT_TASK_STARTED && type <= XL_EVENT_TASK_FAILED && !chance(5))
            ev.task = str_of(task);
        if (chance(40))
            ev.message = str_of(text);
        if (type == XL_EVENT_METRICS || chance(10)) {
            ev.metrics = &metric;
            ev.nmetrics = 1;
        }
        if (type == XL_EVENT_SUCCEEDED && chance(20)) {
            ev.warnings = &warning;
            ev.nwarnings = 1;
        }
        if (type == XL_EVENT_FAILED || type == XL_EVENT_TASK_FAILED)
            ev.error = (xl_error_t){1, str_of("E"), str_of("boom"), {NULL, 0}};
        if (type == XL_EVENT_CREATED)
            ev.event_id = str_of(id); /* another key: a conflicting create, rejected */
        if (encode(w, &ev, &frame) != 0)
            return -1;
        push_frame(w, idx, &frame);
        if (type != XL_EVENT_CREATED)
            s->expect_archived += 1;
        if (type != XL_EVENT_CREATED && ev.event_id.len != 0 && nprev <= MAX_STEPS) {
            xl_buf_init(&prev[nprev]);
            xl_buf_append(&prev[nprev++], frame.base, frame.len);
        }
        /* a re-delivery of an earlier event (same event_id): never archived twice */
        if (chance(8)) {
            xl_buf_t *again = &prev[below((int64_t)nprev)];
            push_frame(w, idx, again);
        }
    }
    for (size_t i = 0; i != nprev; ++i)
        xl_buf_dispose(&prev[i]);
    xl_buf_dispose(&frame);
    return 0;
}

static int generate(world_t *w)
{
    size_t cap = NLINEAGES * 4;
    int64_t next_audit = 5000;
    w->specs = calloc(cap, sizeof(*w->specs));
    for (int l = 0; l != NLINEAGES; ++l) {
        int64_t created = 1700000000000LL + (chance(15) ? below(20) * 1000 : below(100000000)); /* ties happen */
        int tenant = (int)below(NTENANTS), flow = (int)below(NFLOWS), msg = chance(50) ? (int)below(NMSGS) : -1;
        int attempts = chance(30) ? 1 + (int)below(3) : 0;
        int64_t root = 0, parent = 0;
        for (int a = 0; a <= attempts; ++a) {
            spec_t *s = &w->specs[w->nspecs];
            s->audit = next_audit;
            next_audit += 1 + below(3);
            s->root = root != 0 ? root : s->audit;
            s->parent = parent;
            s->retries = a;
            s->tenant = tenant;
            s->flow = flow;
            s->msg = msg;
            s->created = created + a * (1 + below(50000));
            /* a child of an execution generated before */
            if (w->nspecs != 0 && chance(20))
                s->parent_exec = w->specs[below((int64_t)w->nspecs)].audit;
            s->partition = (int32_t)(s->root % NPART);
            root = s->root;
            parent = s->audit;
            ++w->nspecs;
        }
    }
    w->pending = calloc(w->nspecs, sizeof(*w->pending));
    w->npending = calloc(w->nspecs, sizeof(size_t));
    w->cappending = calloc(w->nspecs, sizeof(size_t));
    for (size_t i = 0; i != w->nspecs; ++i)
        if (gen_execution(w, (int)i) != 0)
            return -1;

    /* interleave: any execution's next event, each execution's events in order */
    size_t *cursor = calloc(w->nspecs, sizeof(size_t)), *live = malloc(w->nspecs * sizeof(size_t)), nlive = 0;
    for (size_t i = 0; i != w->nspecs; ++i)
        live[nlive++] = i;
    xl_buf_t junk;
    xl_buf_init(&junk);
    while (nlive != 0) {
        size_t k = (size_t)below((int64_t)nlive), e = live[k];
        push_log(w, &w->pending[e][cursor[e]], w->specs[e].partition, (int)e);
        if (++cursor[e] == w->npending[e])
            live[k] = live[--nlive];
        if (chance(1)) { /* poison, or an event of nobody */
            xl_buf_reset(&junk);
            if (chance(50)) {
                xl_buf_append(&junk, "\xc3\x01not avro", 10);
            } else {
                spec_t nobody = {.audit = 999999999, .root = 999999999, .tenant = 0, .flow = 0};
                xl_event_t ev = base_event(&nobody, XL_EVENT_PROGRESS, "x", 1);
                encode(w, &ev, &junk);
            }
            push_log(w, &junk, (int32_t)below(NPART), -1);
        }
    }
    xl_buf_dispose(&junk);
    free(cursor);
    free(live);

    int64_t next[NPART] = {0};
    for (size_t i = 0; i != w->nlog; ++i)
        w->log[i].offset = next[w->log[i].partition]++;
    return 0;
}

/* ---- folding ---- */

/* Fold the log in the given order (indexes into w->log) in batches of random sizes. */
static int fold_into(const char *dir, const world_t *w, const size_t *order, int max_batch,
                     char hex[XL_STORE_DIGEST_HEX_LEN + 1])
{
    char err[256];
    xl_fold_result_t res;
    int ret = -1;
    xl_store_t *store;
    xl_fold_t *fold = fx_fold_open(dir, &store, err, sizeof(err));
    if (fold == NULL)
        goto fail;
    size_t batch = 1 + (size_t)below(max_batch);
    for (size_t k = 0; k != w->nlog; ++k) {
        const frame_t *f = &w->log[order[k]];
        xl_fold_msg_t msg = {f->partition, f->offset, f->bytes.base, f->bytes.len};
        if (xl_fold_add(fold, &msg, &res, err, sizeof(err)) != 0)
            goto fail;
        if (xl_fold_count(fold) >= batch || k + 1 == w->nlog) {
            if (xl_fold_commit(fold, IDENTITY, err, sizeof(err)) != 0)
                goto fail;
            xl_fold_reset(fold);
            batch = 1 + (size_t)below(max_batch);
        }
    }
    ret = xl_store_digest(store, hex, err, sizeof(err));

fail:
    if (ret != 0)
        fprintf(stderr, "fold_into %s: %s\n", dir, err);
    xl_fold_destroy(fold);
    xl_store_close(store);
    return ret;
}

/* ---- brute force from the archive ---- */

typedef struct st_replay_t {
    xl_codec_t *codec;
    xl_state_t st;
    int exists;
    size_t n;
    uint32_t anomalies;
    int bad;
    char why[400];
} replay_t;

static int replay_one(void *ctx, uint32_t seq, const xl_pos_t *pos, const void *frame, size_t len)
{
    char err[200];
    replay_t *r = ctx;
    xl_event_t ev;
    xl_apply_result_t res;

    if (xl_event_decode(r->codec, frame, len, &ev, err, sizeof(err)) != 0) {
        snprintf(r->why, sizeof(r->why), "seq %u does not decode: %s", seq, err);
        return r->bad = 1;
    }
    xl_apply_origin_t origin = {pos->partition, pos->offset};
    int ret = xl_apply_event(&r->st, r->exists, &ev, 0, &origin, &res);
    xl_event_dispose(&ev);
    if (ret != 0)
        return ret;
    if ((res.outcome != XL_APPLY_NEW && res.outcome != XL_APPLY_ANOMALY) || res.seq != seq) {
        snprintf(r->why, sizeof(r->why), "seq %u replays as %s, seq %u", seq, xl_apply_outcome_name(res.outcome),
                 res.seq);
        return r->bad = 1;
    }
    r->exists = 1;
    r->anomalies += res.outcome == XL_APPLY_ANOMALY;
    ++r->n;
    return 0;
}

/* One expected index entry: which index and key, then (created, audit). */
typedef struct st_entry_t {
    int ix, tenant; /* tenant: scope index, NTENANTS = across tenants */
    int str;        /* flow or message index */
    int status;
    int64_t id;
    int64_t created, audit;
} entry_t;

static int entry_key_cmp(const entry_t *a, const entry_t *b)
{
    if (a->ix != b->ix)
        return a->ix - b->ix;
    if (a->tenant != b->tenant)
        return a->tenant - b->tenant;
    if (a->str != b->str)
        return a->str - b->str;
    if (a->status != b->status)
        return a->status - b->status;
    return (a->id > b->id) - (a->id < b->id);
}

static int entry_cmp(const void *pa, const void *pb)
{
    const entry_t *a = pa, *b = pb;
    int c = entry_key_cmp(a, b);
    if (c != 0)
        return c;
    if (a->created != b->created)
        return a->created < b->created ? -1 : 1;
    return (a->audit > b->audit) - (a->audit < b->audit);
}

typedef struct st_collect_t {
    int64_t (*got)[2];
    size_t n, cap;
    size_t page; /* stop after this many in one scan, 0: never */
    size_t in_page;
} collect_t;

static int collect_cb(void *ctx, int64_t created_ms, int64_t audit_id)
{
    collect_t *c = ctx;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->got = realloc(c->got, c->cap * sizeof(*c->got));
    }
    c->got[c->n][0] = created_ms;
    c->got[c->n][1] = audit_id;
    ++c->n;
    return c->page != 0 && ++c->in_page == c->page;
}

static int make_prefix(xl_buf_t *prefix, const entry_t *e)
{
    char msg[32];
    xl_str_t tenant = str_of(e->tenant < NTENANTS ? tenants[e->tenant] : NULL), str = {NULL, 0};
    if (e->ix == XL_IX_FLOW)
        str = str_of(flows[e->str]);
    if (e->ix == XL_IX_MESSAGE) {
        snprintf(msg, sizeof(msg), "msg-%d", e->str);
        str = str_of(msg);
    }
    return xl_store_index_prefix(prefix, e->ix, e->tenant < NTENANTS ? &tenant : NULL, &str, e->status, e->id);
}

/* Compare one index key's scans (ascending, descending, paged) with the expected entries e[0..n). */
static void check_group(xl_store_t *store, const entry_t *e, size_t n)
{
    xl_buf_t prefix;
    collect_t c = {NULL, 0, 0, 0, 0};
    int mismatch = 0;

    xl_buf_init(&prefix);
    if (make_prefix(&prefix, e) != 0) {
        XL_CHECK(0, "prefix of index %d", e->ix);
        return;
    }
    for (int descending = 0; descending != 2; ++descending) {
        /* whole, then in pages of 1..7 with the cursor of the last entry */
        for (int paged = 0; paged != 2; ++paged) {
            c.n = 0;
            c.page = paged ? 1 + (size_t)below(7) : 0;
            const int64_t *after = NULL;
            int64_t cursor[2];
            for (;;) {
                size_t before = c.n;
                c.in_page = 0;
                if (xl_store_index_scan(store, prefix.base, prefix.len, descending, after, collect_cb, &c) < 0) {
                    mismatch = 1;
                    break;
                }
                if (!paged || c.n == before || c.n - before < c.page)
                    break;
                cursor[0] = c.got[c.n - 1][0];
                cursor[1] = c.got[c.n - 1][1];
                after = cursor;
            }
            if (c.n != n)
                mismatch = 1;
            for (size_t i = 0; i != n && !mismatch; ++i) {
                const entry_t *want = &e[descending ? n - 1 - i : i];
                if (c.got[i][0] != want->created || c.got[i][1] != want->audit)
                    mismatch = 1;
            }
            XL_CHECK(!mismatch,
                     "index %d tenant %d str %d status %d id %" PRId64 " (%s, %s): %zu entries, expected %zu", e->ix,
                     e->tenant, e->str, e->status, e->id, descending ? "descending" : "ascending",
                     paged ? "paged" : "whole", c.n, n);
            if (mismatch)
                goto done;
        }
    }
done:
    free(c.got);
    xl_buf_dispose(&prefix);
}

static int64_t duration_of(const xl_state_t *st)
{
    int64_t from = st->started_ms ? st->started_ms : st->created_ms;
    return st->ended_ms == 0 || from == 0 || st->ended_ms < from ? 0 : st->ended_ms - from;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The flow summary of the executions in states[] of (tenant scope, flow), computed by brute force. */
static void check_summary(xl_store_t *store, const world_t *w, replay_t *states, int tenant, int flow)
{
    xl_flow_summary_t want, got;
    int64_t *durations = malloc(w->nspecs * sizeof(int64_t));
    size_t nd = 0;

    memset(&want, 0, sizeof(want));
    for (size_t i = 0; i != w->nspecs; ++i) {
        const spec_t *s = &w->specs[i];
        const xl_state_t *st = &states[i].st;
        if (s->flow != flow || (tenant < NTENANTS && s->tenant != tenant))
            continue;
        ++want.total;
        ++want.by_status[st->status];
        if (xl_apply_is_terminal(st->status)) {
            ++want.ended;
            durations[nd++] = duration_of(st);
        }
        if (st->status == XL_STATUS_SUCCEEDED || st->status == XL_STATUS_WARNING)
            ++want.succeeded;
        if (want.latest_audit_id == 0 || st->created_ms > want.latest_created_ms ||
            (st->created_ms == want.latest_created_ms && st->audit_id > want.latest_audit_id)) {
            want.latest_created_ms = st->created_ms;
            want.latest_audit_id = st->audit_id;
        }
    }
    qsort(durations, nd, sizeof(*durations), cmp_i64);
    int64_t *pw[3] = {&want.p50_ms, &want.p95_ms, &want.p99_ms};
    static const int pct[3] = {50, 95, 99};
    int64_t truth[3] = {-1, -1, -1};
    for (int k = 0; k != 3; ++k) {
        *pw[k] = -1;
        if (nd == 0)
            continue;
        size_t rank = (nd * (size_t)pct[k] + 99) / 100;
        truth[k] = durations[rank - 1];
        *pw[k] = xl_store_hist_upper(xl_store_hist_bucket(truth[k]));
    }
    free(durations);

    xl_str_t t = str_of(tenant < NTENANTS ? tenants[tenant] : NULL);
    int ret = xl_store_get_flow_summary(store, tenant < NTENANTS ? &t : NULL, flows[flow], strlen(flows[flow]), &got);
    if (want.total == 0) {
        XL_CHECK_INT(ret, -ENOENT);
        return;
    }
    XL_CHECK(ret == 0, "summary of tenant %d flow %s: %d", tenant, flows[flow], ret);
    if (ret != 0)
        return;
    XL_CHECK(memcmp(want.by_status, got.by_status, sizeof(want.by_status)) == 0, "tenant %d flow %s: by status", tenant,
             flows[flow]);
    XL_CHECK(want.total == got.total && want.ended == got.ended && want.succeeded == got.succeeded,
             "tenant %d flow %s: total %" PRIu64 "/%" PRIu64 " ended %" PRIu64 "/%" PRIu64 " succeeded %" PRIu64
             "/%" PRIu64,
             tenant, flows[flow], got.total, want.total, got.ended, want.ended, got.succeeded, want.succeeded);
    XL_CHECK(want.latest_audit_id == got.latest_audit_id && want.latest_created_ms == got.latest_created_ms,
             "tenant %d flow %s: latest %" PRId64 " expected %" PRId64, tenant, flows[flow], got.latest_audit_id,
             want.latest_audit_id);
    XL_CHECK(want.p50_ms == got.p50_ms && want.p95_ms == got.p95_ms && want.p99_ms == got.p99_ms,
             "tenant %d flow %s: percentiles %" PRId64 " %" PRId64 " %" PRId64 ", expected %" PRId64 " %" PRId64
             " %" PRId64,
             tenant, flows[flow], got.p50_ms, got.p95_ms, got.p99_ms, want.p50_ms, want.p95_ms, want.p99_ms);
    for (int k = 0; k != 3; ++k)
        XL_CHECK(truth[k] <= *pw[k] && (truth[k] < 16 ? truth[k] == *pw[k] : *pw[k] <= truth[k] + truth[k] / 8),
                 "percentile %d: %" PRId64 " for a true %" PRId64, pct[k], *pw[k], truth[k]);
}

static void push_entry(entry_t **es, size_t *n, size_t *cap, entry_t e)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 4096;
        *es = realloc(*es, *cap * sizeof(**es));
    }
    (*es)[(*n)++] = e;
}

int main(void)
{
    char err[256], dir[] = "/tmp/xl-test-property-XXXXXX", path_a[600], path_b[600];
    char digest_a[XL_STORE_DIGEST_HEX_LEN + 1], digest_b[XL_STORE_DIGEST_HEX_LEN + 1],
        digest_r[XL_STORE_DIGEST_HEX_LEN + 1];
    world_t w;
    const char *seed = getenv("XL_PROPERTY_SEED");

    memset(&w, 0, sizeof(w));
    if (seed != NULL && *seed != '\0')
        rng = strtoull(seed, NULL, 0) | 1;
    fprintf(stderr, "seed 0x%016" PRIx64 "\n", rng);
    XL_PHASE("setup");
    XL_REQUIRE(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
    snprintf(path_a, sizeof(path_a), "%s/a", dir);
    snprintf(path_b, sizeof(path_b), "%s/b", dir);
    w.codec = xl_codec_create(err, sizeof(err));
    XL_REQUIRE(w.codec != NULL, "codec: %s", err);

    XL_PHASE("generate");
    XL_REQUIRE(generate(&w) == 0, "generate");
    fprintf(stderr, "%zu executions, %zu messages in the log\n", w.nspecs, w.nlog);
    XL_REQUIRE(w.nspecs > 1000 && w.nlog > 10000, "a stream too small to mean much");

    XL_PHASE("fold in log order, batches of 1..400");
    size_t *order = malloc(w.nlog * sizeof(size_t));
    for (size_t i = 0; i != w.nlog; ++i)
        order[i] = i;
    clock_t c0 = clock();
    XL_REQUIRE(fold_into(path_a, &w, order, 400, digest_a) == 0, "fold A");
    fprintf(stderr, "folded in %.2f s of CPU\n", (double)(clock() - c0) / CLOCKS_PER_SEC);

    xl_store_t *store = xl_store_open(path_a, 0, err, sizeof(err));
    XL_REQUIRE(store != NULL, "open A: %s", err);
    xl_codec_t *codec = w.codec;

    XL_PHASE("brute force: the archive replays into every stored state, byte for byte");
    replay_t *states = calloc(w.nspecs, sizeof(*states));
    xl_buf_t a, b;
    xl_buf_init(&a);
    xl_buf_init(&b);
    size_t bad_replay = 0, bad_bytes = 0, bad_count = 0;
    for (size_t i = 0; i != w.nspecs; ++i) {
        replay_t *r = &states[i];
        r->codec = codec;
        int ret = xl_store_scan_events(store, w.specs[i].audit, 1, 0, replay_one, r);
        if (ret != 0 || r->bad || !r->exists) {
            if (bad_replay++ < 5)
                XL_CHECK(0, "execution %" PRId64 ": replay %d: %s", w.specs[i].audit, ret, r->why);
            continue;
        }
        if (r->n != w.specs[i].expect_archived && bad_count++ < 5)
            XL_CHECK(0, "execution %" PRId64 ": %zu archived, the generator sent %zu distinct events", w.specs[i].audit,
                     r->n, w.specs[i].expect_archived);
        xl_state_t st;
        xl_buf_reset(&a);
        xl_buf_reset(&b);
        if (xl_store_get_state(store, codec, w.specs[i].audit, &st, err, sizeof(err)) != 0 ||
            xl_state_encode(codec, &st, &a, err, sizeof(err)) != 0 ||
            xl_state_encode(codec, &r->st, &b, err, sizeof(err)) != 0 || a.len != b.len ||
            memcmp(a.base, b.base, a.len) != 0 || st.anomalies != r->anomalies) {
            if (bad_bytes++ < 5)
                XL_CHECK(0, "execution %" PRId64 ": the stored state is not the archive's replay", w.specs[i].audit);
        }
        xl_state_dispose(&st);
    }
    XL_CHECK_INT(bad_replay, 0);
    XL_CHECK_INT(bad_bytes, 0);
    XL_CHECK_INT(bad_count, 0);
    {
        uint32_t total_anomalies = 0, total_tasks = 0, lineage_attempts = 0, children = 0, ended = 0;
        for (size_t i = 0; i != w.nspecs; ++i) {
            total_anomalies += states[i].anomalies;
            total_tasks += (uint32_t)states[i].st.ntasks;
            lineage_attempts += w.specs[i].parent != 0;
            children += w.specs[i].parent_exec != 0;
            ended += xl_apply_is_terminal(states[i].st.status);
        }
        fprintf(stderr, "%u anomalies, %u tasks, %u retries, %u children, %u ended\n", total_anomalies, total_tasks,
                lineage_attempts, children, ended);
        XL_CHECK(total_anomalies > 100 && total_tasks > 500 && lineage_attempts > 200 && children > 100 && ended > 300,
                 "the stream does not exercise what it should");
    }

    XL_PHASE("brute force: every index scan equals the recomputation");
    entry_t *es = NULL;
    size_t nes = 0, capes = 0;
    for (size_t i = 0; i != w.nspecs; ++i) {
        const spec_t *s = &w.specs[i];
        const xl_state_t *st = &states[i].st;
        if (!states[i].exists)
            continue;
        XL_CHECK(st->flow_id.len == strlen(flows[s->flow]) &&
                     memcmp(st->flow_id.base, flows[s->flow], st->flow_id.len) == 0,
                 "flow of %" PRId64, s->audit);
        int scopes[2] = {s->tenant, NTENANTS};
        for (int k = 0; k != 2; ++k) {
            push_entry(&es, &nes, &capes, (entry_t){XL_IX_ALL, scopes[k], 0, 0, 0, st->created_ms, st->audit_id});
            push_entry(&es, &nes, &capes,
                       (entry_t){XL_IX_FLOW, scopes[k], s->flow, 0, 0, st->created_ms, st->audit_id});
            push_entry(&es, &nes, &capes,
                       (entry_t){XL_IX_STATUS, scopes[k], 0, st->status, 0, st->created_ms, st->audit_id});
            if (s->msg >= 0)
                push_entry(&es, &nes, &capes,
                           (entry_t){XL_IX_MESSAGE, scopes[k], s->msg, 0, 0, st->created_ms, st->audit_id});
        }
        if (s->parent != 0)
            push_entry(&es, &nes, &capes, (entry_t){XL_IX_RETRIES, 0, 0, 0, s->parent, st->created_ms, st->audit_id});
        if (s->parent_exec != 0)
            push_entry(&es, &nes, &capes,
                       (entry_t){XL_IX_CHILDREN, 0, 0, 0, s->parent_exec, st->created_ms, st->audit_id});
        push_entry(&es, &nes, &capes, (entry_t){XL_IX_LINEAGE, 0, 0, 0, s->root, st->created_ms, st->audit_id});
    }
    qsort(es, nes, sizeof(*es), entry_cmp);
    size_t groups = 0;
    for (size_t i = 0; i != nes;) {
        size_t j = i + 1;
        while (j != nes && entry_key_cmp(&es[i], &es[j]) == 0)
            ++j;
        check_group(store, es + i, j - i);
        ++groups;
        i = j;
    }
    fprintf(stderr, "%zu index keys, %zu entries checked\n", groups, nes);
    {
        /* keys nobody has are empty */
        entry_t none[] = {
            {XL_IX_RETRIES, 0, 0, 0, 999999999, 0, 0},
            {XL_IX_CHILDREN, 0, 0, 0, 1, 0, 0},
            {XL_IX_LINEAGE, 0, 0, 0, 2, 0, 0},
            {XL_IX_MESSAGE, NTENANTS, NMSGS + 1, 0, 0, 0, 0},
        };
        for (size_t k = 0; k != sizeof(none) / sizeof(none[0]); ++k)
            check_group(store, &none[k], 0);
    }

    XL_PHASE("brute force: every flow summary equals the recomputation");
    for (int tenant = 0; tenant <= NTENANTS; ++tenant)
        for (int flow = 0; flow != NFLOWS; ++flow)
            check_summary(store, &w, states, tenant, flow);
    xl_flow_summary_t sum;
    XL_CHECK_INT(xl_store_get_flow_summary(store, NULL, "no-such-flow", 12, &sum), -ENOENT);

    XL_PHASE("brute force: the feed lists every archived event once");
    {
        size_t archived = 0;
        for (size_t i = 0; i != w.nspecs; ++i)
            archived += states[i].n;
        XL_CHECK_INT(xl_store_feed_last(store), archived);
    }
    xl_store_close(store);

    XL_PHASE("determinism: another interleaving (partition by partition, from the last) gives the same digest");
    size_t n = 0;
    for (int p = NPART - 1; p >= 0; --p)
        for (size_t i = 0; i != w.nlog; ++i)
            if (w.log[i].partition == p)
                order[n++] = i;
    XL_REQUIRE(fold_into(path_b, &w, order, 3000, digest_b) == 0, "fold B");
    XL_CHECK(strcmp(digest_a, digest_b) == 0, "interleavings differ: %s %s", digest_a, digest_b);

    XL_PHASE("rebuild from the archive keeps the digest");
    xl_rebuild_stats_t stats;
    xl_rebuild_conf_t rconf = {.store_dir = path_a, .progress = 0, .stats = &stats};
    XL_REQUIRE(xl_rebuild_run(&rconf, err, sizeof(err)) == 0, "rebuild: %s", err);
    XL_CHECK_INT(stats.executions, w.nspecs);
    XL_CHECK_INT(stats.order, 1);
    store = xl_store_open(path_a, 0, err, sizeof(err));
    XL_REQUIRE(store != NULL, "open A: %s", err);
    XL_CHECK_INT(xl_store_digest(store, digest_r, err, sizeof(err)), 0);
    XL_CHECK(strcmp(digest_a, digest_r) == 0, "rebuild changed the digest: %s -> %s", digest_a, digest_r);
    fprintf(stderr, "rebuild: %" PRIu64 " events in %.2f s (%.0f events/s)\n", stats.messages, stats.seconds,
            stats.seconds > 0 ? (double)stats.messages / stats.seconds : 0.0);
    xl_store_close(store);

    for (size_t i = 0; i != w.nspecs; ++i) {
        xl_state_dispose(&states[i].st);
        for (size_t k = 0; k != w.npending[i]; ++k)
            xl_buf_dispose(&w.pending[i][k]);
        free(w.pending[i]);
    }
    for (size_t i = 0; i != w.nlog; ++i)
        xl_buf_dispose(&w.log[i].bytes);
    free(w.log);
    free(w.pending);
    free(w.npending);
    free(w.cappending);
    free(w.specs);
    free(states);
    free(es);
    free(order);
    xl_buf_dispose(&a);
    xl_buf_dispose(&b);
    xl_codec_destroy(w.codec);
    rm_tree(dir);
    return xl_test_finish();
}
