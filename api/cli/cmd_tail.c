/*
 * tail: an execution's latest events, and with -f every new one as it is
 * projected. One execution is followed with the events long poll
 * (after_seq + wait); a flow, or everything, with Server-Sent Events from
 * /v1/stream. Either way it resumes where it stopped after a disconnect or
 * a restart of execlogd (after_seq, Last-Event-ID; before the stream's first
 * event, the feed position its opening comment gives), waiting 0.25 s, then
 * twice as long each time, up to 10 s, between attempts. It gives up only
 * when the first request fails, or on an answer that retrying cannot
 * change (404, 401/403, 400).
 *
 * Events go to stdout one per line (NDJSON with --output json), flushed
 * as they come; everything else goes to stderr.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/cli/api.h"
#include "api/cli/commands.h"
#include "api/cli/output.h"

#define BACKOFF_FIRST_MS 250
#define BACKOFF_MAX_MS 10000
#define POLL_WAIT_S 30
#define XL_STR1(x) #x
#define XL_STR(x) XL_STR1(x)
#define STREAM_IDLE_MS 45000 /* three of execlogd's default keepalives without a byte: reconnect */
#define PAGE_MAX 1000

static const xl_cli_column_t tail_columns[] = {
    {"TIME", "time", XL_CLI_FMT_TIME, 24},     {"AUDIT_ID", "audit_id", XL_CLI_FMT_VALUE, 16},
    {"SEQ", "seq", XL_CLI_FMT_VALUE, 5},        {"TYPE", "type", XL_CLI_FMT_VALUE, 16},
    {"STATUS", "status", XL_CLI_FMT_VALUE, 10}, {"FLOW", "flow_id", XL_CLI_FMT_VALUE, 16},
    {"MESSAGE", "message", XL_CLI_FMT_VALUE, 0},
};

typedef struct st_tail_t {
    xl_cli_t *cli;
    long long max_events; /* 0: no bound */
    long long printed;
    int header_done;
    int stopped; /* max_events reached, or stdout closed */
    /* SSE */
    char *line;
    size_t line_len, line_cap;
    char *data;
    size_t data_len, data_cap;
    char last_id[64];   /* the last event id received (resume from there) */
    char pending_id[64];
    char event[32];
    int got_bytes;
    int lost; /* the connection was lost: say so when it resumes */
} tail_t;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int backoff_next(int ms)
{
    return ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : ms * 2;
}

/* print one event; returns nonzero when tail should stop */
static int emit_event(tail_t *t, json_t *ev)
{
    if (t->cli->output == XL_CLI_OUTPUT_JSON) {
        json_dumpf(ev, stdout, JSON_COMPACT);
        fputc('\n', stdout);
    } else {
        xl_cli_output_row(tail_columns, sizeof(tail_columns) / sizeof(tail_columns[0]), ev,
                          !t->header_done && t->cli->stdout_tty);
        t->header_done = 1;
    }
    t->printed++;
    if (xl_cli_command_flush() != 0 || (t->max_events && t->printed >= t->max_events))
        t->stopped = 1;
    return t->stopped;
}

/* --- one execution: the events long poll ---------------------------------------------------------------------- */

static int follow_execution(tail_t *t, long long id, long long after, int follow)
{
    int backoff = BACKOFF_FIRST_MS, connected = 0, lost = 0;
    long long start = after;
    xl_cli_progress_t bar;

    xl_cli_output_progress_init(&bar, t->cli, "catching up");
    while (!t->stopped) {
        /* following: held until an event comes (or the wait ends with an empty page) */
        char *path = xl_cli_api_strf("/v1/executions/%lld/events?after_seq=%lld&limit=%d%s", id, after, PAGE_MAX,
                                     follow ? "&wait=" XL_STR(POLL_WAIT_S) : "");
        xl_cli_request_t req = {.method = "GET", .path = path, .timeout_ms = (POLL_WAIT_S + 15) * 1000};
        xl_cli_response_t res;
        xl_cli_http_request(t->cli->http, &req, &res);
        json_t *page = res.status == 200 && res.complete ? json_loadb(res.body, res.len, 0, NULL) : NULL;
        if (page == NULL) {
            int code = res.status == 200 ? XL_CLI_EXIT_UNAVAILABLE : xl_cli_api_exit_code(res.status);
            if (!connected || code == XL_CLI_EXIT_NOT_FOUND || code == XL_CLI_EXIT_AUTH ||
                code == XL_CLI_EXIT_REJECTED) {
                xl_cli_output_progress_dispose(&bar);
                if (res.status == 200)
                    xl_cli_api_error("%s: not the API's answer: %s", path, res.err[0] ? res.err : "not JSON");
                else
                    code = xl_cli_api_report(t->cli, path, &res, NULL);
                free(res.body);
                free(path);
                return code;
            }
            if (!lost)
                xl_cli_api_error("lost %s (%s); retrying", xl_cli_http_url(t->cli->http),
                                 res.status ? "an error answer" : res.err);
            lost = 1;
            free(res.body);
            free(path);
            sleep_ms(backoff);
            backoff = backoff_next(backoff);
            continue;
        }
        free(res.body);
        free(path);
        if (lost)
            xl_cli_api_error("resumed after seq %lld", after);
        connected = 1;
        lost = 0;
        backoff = BACKOFF_FIRST_MS;
        size_t i;
        json_t *ev;
        json_array_foreach(json_object_get(page, "items"), i, ev)
        {
            json_int_t seq = json_integer_value(json_object_get(ev, "seq"));
            if (seq > after)
                after = seq;
            if (emit_event(t, ev))
                break;
        }
        json_t *next = json_object_get(page, "next_after_seq");
        if (json_is_integer(next) && json_integer_value(next) > after)
            after = json_integer_value(next);
        long long last = json_integer_value(json_object_get(page, "last_seq"));
        int more = json_is_true(json_object_get(page, "has_more"));
        json_decref(page);
        if (more && last > start)
            xl_cli_output_progress_update(&bar, (uint64_t)(after - start), (uint64_t)(last - start));
        else
            xl_cli_output_progress_dispose(&bar);
        if (!follow && !more)
            break;
    }
    xl_cli_output_progress_dispose(&bar);
    return XL_CLI_EXIT_OK;
}

/* --- a flow, or every execution: Server-Sent Events ----------------------------------------------------------- */

static int append(char **buf, size_t *len, size_t *cap, const char *bytes, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap * 2 : 1024;
        while (c < *len + n + 1)
            c *= 2;
        char *p = realloc(*buf, c);
        if (p == NULL)
            return -1;
        *buf = p;
        *cap = c;
    }
    memcpy(*buf + *len, bytes, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

/* a blank line: dispatch the event gathered so far */
static int sse_dispatch(tail_t *t)
{
    int stop = 0;
    if (t->data_len > 0) {
        if (strcmp(t->event, "error") == 0) {
            json_t *j = json_loadb(t->data, t->data_len, 0, NULL);
            xl_cli_api_error("the stream reported an error: %s",
                             json_string_value(json_object_get(j, "detail")) ?: t->data);
            json_decref(j);
        } else {
            json_t *ev = json_loadb(t->data, t->data_len, 0, NULL);
            if (ev != NULL)
                stop = emit_event(t, ev);
            json_decref(ev);
        }
    }
    if (t->pending_id[0] != '\0')
        memcpy(t->last_id, t->pending_id, sizeof(t->last_id));
    t->pending_id[0] = '\0';
    t->event[0] = '\0';
    t->data_len = 0;
    return stop;
}

static int sse_line(tail_t *t, char *line, size_t len)
{
    if (len == 0)
        return sse_dispatch(t);
    if (line[0] == ':') { /* a comment: keepalive, or where the stream starts (execlogd says so) */
        unsigned long long from;
        char text[96];
        snprintf(text, sizeof(text), "%.*s", (int)(len < 95 ? len : 95), line);
        if (sscanf(text, ": execlog events after feed_seq %llu", &from) == 1)
            snprintf(t->last_id, sizeof(t->last_id), "%llu", from); /* a reconnect before any event loses none */
        return 0;
    }
    char *colon = memchr(line, ':', len);
    size_t nlen = colon ? (size_t)(colon - line) : len;
    const char *value = colon ? colon + 1 : line + len;
    if (colon && *value == ' ')
        value++;
    size_t vlen = (size_t)(line + len - value);
    if (nlen == 4 && memcmp(line, "data", 4) == 0) {
        if (t->data_len > 0 && append(&t->data, &t->data_len, &t->data_cap, "\n", 1) != 0)
            return 1;
        if (append(&t->data, &t->data_len, &t->data_cap, value, vlen) != 0)
            return 1;
    } else if (nlen == 2 && memcmp(line, "id", 2) == 0) {
        snprintf(t->pending_id, sizeof(t->pending_id), "%.*s", (int)vlen, value);
    } else if (nlen == 5 && memcmp(line, "event", 5) == 0) {
        snprintf(t->event, sizeof(t->event), "%.*s", (int)vlen, value);
    }
    return 0;
}

static int sse_sink(void *ctx, const char *bytes, size_t len)
{
    tail_t *t = ctx;
    t->got_bytes = 1;
    if (t->lost) { /* a 2xx answer again */
        xl_cli_api_error("resumed%s%s", t->last_id[0] ? " after event " : "", t->last_id);
        t->lost = 0;
    }
    for (size_t i = 0; i < len; i++) {
        if (bytes[i] != '\n') {
            if (append(&t->line, &t->line_len, &t->line_cap, bytes + i, 1) != 0)
                return 1;
            continue;
        }
        size_t n = t->line_len;
        if (n > 0 && t->line[n - 1] == '\r')
            n--;
        int stop = sse_line(t, t->line ? t->line : "", n);
        t->line_len = 0;
        if (stop)
            return 1;
    }
    return 0;
}

static int follow_stream(tail_t *t, const char *filters)
{
    int backoff = BACKOFF_FIRST_MS, connected = 0;

    while (!t->stopped) {
        char headers[128] = "Accept: text/event-stream\r\n";
        if (t->last_id[0] != '\0')
            snprintf(headers, sizeof(headers), "Accept: text/event-stream\r\nLast-Event-ID: %s\r\n", t->last_id);
        xl_cli_request_t req = {.method = "GET", .path = filters, .headers = headers, .timeout_ms = STREAM_IDLE_MS,
                                .sink = sse_sink, .sink_ctx = t};
        xl_cli_response_t res;
        t->line_len = 0;
        t->data_len = 0;
        t->pending_id[0] = '\0';
        t->got_bytes = 0;
        xl_cli_http_request(t->cli->http, &req, &res);
        if (res.status == 200) {
            connected = 1;
            backoff = BACKOFF_FIRST_MS;
        } else {
            int code = xl_cli_api_exit_code(res.status);
            if (!connected || code == XL_CLI_EXIT_NOT_FOUND || code == XL_CLI_EXIT_AUTH ||
                code == XL_CLI_EXIT_REJECTED) {
                code = xl_cli_api_report(t->cli, filters, &res, NULL);
                free(res.body);
                return code;
            }
        }
        free(res.body);
        if (t->stopped)
            break;
        if (res.status != 200 || !t->got_bytes) {
            if (!t->lost)
                xl_cli_api_error("lost %s (%s); retrying", xl_cli_http_url(t->cli->http),
                                 res.status ? "an error answer" : res.err);
            t->lost = 1;
            sleep_ms(backoff);
            backoff = backoff_next(backoff);
        } else {
            /* the stream ended (a restart, a timeout of its own): reconnect soon, then back off */
            if (!t->lost)
                xl_cli_api_error("the stream ended (%s); reconnecting", res.err[0] ? res.err : "closed by the server");
            t->lost = 1;
            sleep_ms(BACKOFF_FIRST_MS);
        }
    }
    return XL_CLI_EXIT_OK;
}

/* --- the command ---------------------------------------------------------------------------------------------- */

static const struct option tail_options[] = {
    {"follow", no_argument, NULL, 'f'},          {"flow", required_argument, NULL, 'F'},
    {"type", required_argument, NULL, 'T'},      {"lines", required_argument, NULL, 'n'},
    {"after-seq", required_argument, NULL, 'a'}, {"last-event-id", required_argument, NULL, 'L'},
    {"max-events", required_argument, NULL, 'm'}, {NULL, 0, NULL, 0},
};

static int cmd_tail(xl_cli_t *cli, int argc, char **argv)
{
    tail_t t = {.cli = cli};
    const char *flow = NULL, *type = NULL, *last_event_id = NULL;
    long long lines = 10, after = -1;
    int follow = 0, c, rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "fn:", tail_options, NULL)) != -1) {
        switch (c) {
        case 'f':
            follow = 1;
            break;
        case 'F':
            flow = optarg;
            break;
        case 'T':
            type = optarg;
            break;
        case 'L':
            last_event_id = optarg;
            break;
        case 'n':
            if (xl_cli_command_parse_count("tail", "lines", optarg, PAGE_MAX, &lines) != 0)
                return XL_CLI_EXIT_USAGE;
            break;
        case 'a':
            if (xl_cli_command_parse_count("tail", "after-seq", optarg, 1LL << 53, &after) != 0)
                return XL_CLI_EXIT_USAGE;
            break;
        case 'm':
            if (xl_cli_command_parse_count("tail", "max-events", optarg, 1LL << 53, &t.max_events) != 0)
                return XL_CLI_EXIT_USAGE;
            break;
        default:
            return xl_cli_command_usage("tail", "unknown option");
        }
    }
    if (argc - optind > 1 || (argc - optind == 1 && (flow != NULL || type != NULL || last_event_id != NULL)))
        return xl_cli_command_usage("tail", "give an audit ID, or --flow/--type (or neither, with -f: every execution)");

    if (argc - optind == 1) {
        long long id = xl_cli_command_parse_id("tail", argv[optind]);
        if (id == 0)
            return XL_CLI_EXIT_USAGE;
        if (after < 0) { /* the last `lines` events: find the newest seq */
            json_t *page = NULL;
            char *path = xl_cli_api_strf("/v1/executions/%lld/events?reverse=true&limit=1", id);
            rc = xl_cli_api_call(cli, "GET", path, NULL, &page, NULL, NULL);
            free(path);
            if (rc != XL_CLI_EXIT_OK)
                return rc;
            long long last = json_integer_value(json_object_get(page, "last_seq"));
            json_decref(page);
            after = last > lines ? last - lines : 0;
        }
        return follow_execution(&t, id, after, follow);
    }
    if (!follow)
        return xl_cli_command_usage("tail", "without an audit ID, tail follows the stream: add -f");
    if (after >= 0)
        return xl_cli_command_usage("tail", "--after-seq is for one execution; a stream resumes with --last-event-id");
    char *path = xl_cli_api_strf("/v1/stream");
    xl_cli_api_query_add(&path, "flow_id", flow);
    xl_cli_api_query_add(&path, "type", type);
    xl_cli_api_query_add(&path, "tenant_id", cli->tenant);
    if (last_event_id != NULL)
        snprintf(t.last_id, sizeof(t.last_id), "%s", last_event_id);
    rc = follow_stream(&t, path);
    free(path);
    free(t.line);
    free(t.data);
    return rc;
}

const xl_cli_command_t xl_cli_command_tail = {
    "tail", cmd_tail, "an execution's latest events; with -f, follow new ones (a flow's, everyone's)",
    "usage: execlog tail [-f] <audit-id> [-n N | --after-seq N]\n"
    "       execlog tail -f [--flow F] [--type T] [--last-event-id ID]\n"
    "options: --max-events N (stop after N events)\n"
    "\n"
    "With an audit ID: the execution's last N events (-n, default 10; or every event after --after-seq);\n"
    "with -f, then every new one as it is projected (the events long poll). A progress bar shows the\n"
    "catching up on a terminal when there are many.\n"
    "Without one, -f follows the Server-Sent Events of /v1/stream: every execution's new events, or a\n"
    "flow's (--flow), of some event types (--type, comma-separated); --last-event-id replays what came\n"
    "after that event first.\n"
    "\n"
    "After a disconnect or a restart of execlogd, tail -f resumes where it stopped (after_seq,\n"
    "Last-Event-ID), retrying with a growing pause (0.25 s up to 10 s); it gives up when the first\n"
    "request fails, or on 404, 401/403 and other 4xx answers.\n"
    "One event per line: NDJSON with --output json (the API's event, with feed_seq on the stream).\n",
};
