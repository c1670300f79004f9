/*
 * The reading commands: get, ls, events, lineage and flows. Each builds its
 * path from its arguments, follows pages where the API pages (ls's
 * page_token, events' next_after_seq), and prints the answer as JSON (the
 * API's shape; pages walked are merged into one items array) or as a table.
 *
 * Filters are passed to the server as given: it validates them, and its
 * problem (exit code 4) is what the user sees.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/cli/api.h"
#include "api/cli/commands.h"
#include "api/cli/output.h"

#define PAGE_MAX 1000 /* the API's largest limit */

static const xl_cli_column_t execution_columns[] = {
    {"AUDIT_ID", "audit_id", XL_CLI_FMT_VALUE, 0},     {"FLOW", "flow_id", XL_CLI_FMT_VALUE, 0},
    {"STATUS", "status", XL_CLI_FMT_VALUE, 0},         {"TENANT", "tenant_id", XL_CLI_FMT_VALUE, 0},
    {"RETRIES", "retries", XL_CLI_FMT_VALUE, 0},       {"CREATED", "created", XL_CLI_FMT_TIME, 0},
    {"DURATION", "duration_ms", XL_CLI_FMT_DURATION, 0}, {"MESSAGE", "message", XL_CLI_FMT_VALUE, 0},
};

static const xl_cli_column_t state_fields[] = {
    {"audit_id", "audit_id", XL_CLI_FMT_VALUE, 0},
    {"flow", "flow_id", XL_CLI_FMT_VALUE, 0},
    {"flow_name", "flow_name", XL_CLI_FMT_VALUE, 0},
    {"tenant", "tenant_id", XL_CLI_FMT_VALUE, 0},
    {"message_id", "message_id", XL_CLI_FMT_VALUE, 0},
    {"status", "status", XL_CLI_FMT_VALUE, 0},
    {"root_audit_id", "root_audit_id", XL_CLI_FMT_VALUE, 0},
    {"parent_audit_id", "parent_audit_id", XL_CLI_FMT_VALUE, 0},
    {"parent_execution", "parent_execution_id", XL_CLI_FMT_VALUE, 0},
    {"retries", "retries", XL_CLI_FMT_VALUE, 0},
    {"trigger", "trigger_type", XL_CLI_FMT_VALUE, 0},
    {"started_by", "started_by", XL_CLI_FMT_VALUE, 0},
    {"created", "created", XL_CLI_FMT_TIME, 0},
    {"started", "started", XL_CLI_FMT_TIME, 0},
    {"ended", "ended", XL_CLI_FMT_TIME, 0},
    {"duration", "duration_ms", XL_CLI_FMT_DURATION, 0},
    {"updated", "updated", XL_CLI_FMT_TIME, 0},
    {"message", "message", XL_CLI_FMT_VALUE, 0},
    {"error", "error", XL_CLI_FMT_PAIRS, 0},
    {"warnings", "warnings_total", XL_CLI_FMT_VALUE, 0},
    {"metrics", "metrics", XL_CLI_FMT_PAIRS, 0},
    {"attributes", "attributes", XL_CLI_FMT_PAIRS, 0},
    {"events", "events", XL_CLI_FMT_VALUE, 0},
    {"anomalies", "anomalies", XL_CLI_FMT_VALUE, 0},
};

static const xl_cli_column_t task_columns[] = {
    {"TASK", "name", XL_CLI_FMT_VALUE, 0},         {"STATUS", "status", XL_CLI_FMT_VALUE, 0},
    {"ATTEMPTS", "attempts", XL_CLI_FMT_VALUE, 0}, {"STARTED", "started", XL_CLI_FMT_TIME, 0},
    {"DURATION", "duration_ms", XL_CLI_FMT_DURATION, 0}, {"MESSAGE", "message", XL_CLI_FMT_VALUE, 0},
};

static const xl_cli_column_t event_columns[] = {
    {"SEQ", "seq", XL_CLI_FMT_VALUE, 0},       {"TIME", "time", XL_CLI_FMT_TIME, 0},
    {"TYPE", "type", XL_CLI_FMT_VALUE, 0},     {"STATUS", "status", XL_CLI_FMT_VALUE, 0},
    {"TASK", "task", XL_CLI_FMT_VALUE, 0},     {"METRICS", "metrics", XL_CLI_FMT_PAIRS, 0},
    {"MESSAGE", "message", XL_CLI_FMT_VALUE, 0},
};

static const xl_cli_column_t flow_fields[] = {
    {"flow", "flow_id", XL_CLI_FMT_VALUE, 0},
    {"tenant", "tenant_id", XL_CLI_FMT_VALUE, 0},
    {"total", "total", XL_CLI_FMT_VALUE, 0},
    {"by_status", "by_status", XL_CLI_FMT_PAIRS, 0},
    {"ended", "ended", XL_CLI_FMT_VALUE, 0},
    {"succeeded", "succeeded", XL_CLI_FMT_VALUE, 0},
    {"success_rate", "success_rate", XL_CLI_FMT_RATE, 0},
    {"duration_p50", "duration_ms.p50", XL_CLI_FMT_DURATION, 0},
    {"duration_p95", "duration_ms.p95", XL_CLI_FMT_DURATION, 0},
    {"duration_p99", "duration_ms.p99", XL_CLI_FMT_DURATION, 0},
    {"latest", "latest_audit_id", XL_CLI_FMT_VALUE, 0},
    {"latest_status", "latest.status", XL_CLI_FMT_VALUE, 0},
};

static const xl_cli_column_t flow_columns[] = {
    {"FLOW", "flow_id", XL_CLI_FMT_VALUE, 0},          {"TENANT", "tenant_id", XL_CLI_FMT_VALUE, 0},
    {"TOTAL", "total", XL_CLI_FMT_VALUE, 0},           {"SUCCESS", "success_rate", XL_CLI_FMT_RATE, 0},
    {"P95", "duration_ms.p95", XL_CLI_FMT_DURATION, 0}, {"LATEST", "latest_audit_id", XL_CLI_FMT_VALUE, 0},
    {"LATEST_STATUS", "latest.status", XL_CLI_FMT_VALUE, 0},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* --- pages --------------------------------------------------------------------------------------------------- */

/*
 * Walk the keyset pages of path (which has its filters): at most max items (0: all), each request asking
 * for what is still wanted (the API lets limit change between pages); send_limit 0 leaves limit out when
 * max is 0 (a route whose parameters are not known here). *out gets {"items":[...],"next_page_token":...}.
 */
static int walk_pages(xl_cli_t *cli, const char *path, const char *first_token, long long max, int send_limit,
                      const char *label, json_t **out, char *problem_type)
{
    json_t *items = json_array(), *token = first_token ? json_string(first_token) : json_null();
    xl_cli_progress_t bar;
    int rc = XL_CLI_EXIT_OK, pages = 0;

    xl_cli_output_progress_init(&bar, cli, label);
    for (;;) {
        long long want = max ? max - (long long)json_array_size(items) : PAGE_MAX;
        json_t *page = NULL;
        char lim[32];
        if (want <= 0)
            break;
        char *p = xl_cli_api_strf("%s", path);
        snprintf(lim, sizeof(lim), "%lld", want > PAGE_MAX ? PAGE_MAX : want);
        if (send_limit || max != 0)
            xl_cli_api_query_add(&p, "limit", lim);
        xl_cli_api_query_add(&p, "page_token", json_string_value(token));
        rc = xl_cli_api_call(cli, "GET", p, NULL, &page, NULL, problem_type);
        free(p);
        if (rc != XL_CLI_EXIT_OK)
            break;
        pages++;
        json_array_extend(items, json_object_get(page, "items"));
        json_decref(token);
        token = json_incref(json_object_get(page, "next_page_token"));
        if (token == NULL)
            token = json_null();
        json_decref(page);
        if (pages > 1 || json_is_string(token))
            xl_cli_output_progress_update(&bar, json_array_size(items), 0);
        if (!json_is_string(token))
            break;
    }
    xl_cli_output_progress_dispose(&bar);
    if (rc == XL_CLI_EXIT_OK)
        *out = json_pack("{s:o,s:o}", "items", items, "next_page_token", token);
    else {
        json_decref(items);
        json_decref(token);
    }
    return rc;
}

/* A page of a list (its items as a table, and how to get more), or its JSON; frees the page. */
static int output_page(const xl_cli_t *cli, json_t *page, const xl_cli_column_t *cols, size_t ncols)
{
    if (cli->output == XL_CLI_OUTPUT_JSON) {
        xl_cli_output_json(cli, page);
    } else {
        xl_cli_output_table(cols, ncols, json_object_get(page, "items"));
        const char *next = json_string_value(json_object_get(page, "next_page_token"));
        if (next != NULL)
            fprintf(stderr, "(more: --page-token %s, or --all)\n", next);
    }
    json_decref(page);
    return XL_CLI_EXIT_OK;
}

/* --- get ----------------------------------------------------------------------------------------------------- */

static void print_state(const json_t *st)
{
    xl_cli_output_fields(state_fields, COUNT(state_fields), st);
    json_t *tasks = json_object_get(st, "tasks");
    if (json_array_size(tasks) > 0) {
        fputc('\n', stdout);
        xl_cli_output_table(task_columns, COUNT(task_columns), tasks);
    }
    size_t i;
    json_t *w;
    json_array_foreach(json_object_get(st, "warnings"), i, w)
    {
        char buf[1024];
        printf("%swarning: %s\n", i == 0 ? "\n" : "", xl_cli_output_format(w, XL_CLI_FMT_VALUE, buf, sizeof(buf)));
    }
}

static const struct option get_options[] = {
    {"message-id", required_argument, NULL, 'm'}, {"as-of", required_argument, NULL, 'a'},
    {"min-position", required_argument, NULL, 'p'}, {NULL, 0, NULL, 0},
};

static int cmd_get(xl_cli_t *cli, int argc, char **argv)
{
    const char *message_id = NULL, *as_of = NULL, *min_position = NULL;
    json_t *answer = NULL;
    char *path;
    int c, rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", get_options, NULL)) != -1) {
        switch (c) {
        case 'm':
            message_id = optarg;
            break;
        case 'a':
            as_of = optarg;
            break;
        case 'p':
            min_position = optarg;
            break;
        default:
            return xl_cli_command_usage("get", "unknown option");
        }
    }
    if ((message_id != NULL) == (optind < argc) || argc - optind > 1)
        return xl_cli_command_usage("get", "give one audit ID, or --message-id");
    if (message_id != NULL) {
        char *enc = xl_cli_api_escape(message_id);
        path = xl_cli_api_strf("/v1/messages/%s", enc);
        free(enc);
        xl_cli_api_query_add(&path, "tenant_id", cli->tenant);
    } else {
        long long id = xl_cli_command_parse_id("get", argv[optind]);
        if (id == 0)
            return XL_CLI_EXIT_USAGE;
        path = xl_cli_api_strf("/v1/executions/%lld", id);
        xl_cli_api_query_add(&path, "as_of", as_of);
    }
    xl_cli_api_query_add(&path, "min_position", min_position);
    rc = xl_cli_api_call(cli, "GET", path, NULL, &answer, NULL, NULL);
    free(path);
    if (rc != XL_CLI_EXIT_OK)
        return rc;
    if (cli->output == XL_CLI_OUTPUT_JSON)
        xl_cli_output_json(cli, answer);
    else if (message_id != NULL)
        xl_cli_output_table(execution_columns, COUNT(execution_columns), json_object_get(answer, "items"));
    else
        print_state(answer);
    json_decref(answer);
    return XL_CLI_EXIT_OK;
}

const xl_cli_command_t xl_cli_command_get = {
    "get", cmd_get, "an execution's current state, by audit ID or message ID",
    "usage: execlog get <audit-id> [--as-of MS] [--min-position P:O]\n"
    "       execlog get --message-id ID\n"
    "\n"
    "The current state of an execution (GET /v1/executions/{id}); with --as-of, as it was at that time\n"
    "(ms since the epoch). With --message-id, the executions started for that message, newest first\n"
    "(GET /v1/messages/{id}). --min-position waits until the server has projected that log position.\n"
    "Exit code 2 when there is none.\n",
};

/* --- ls ------------------------------------------------------------------------------------------------------ */

/* ms, or "<n>s|m|h|d" meaning that long ago; anything else is left to the server to refuse */
static char *parse_time(const char *text)
{
    char *end;
    long long n = strtoll(text, &end, 10);
    static const struct {
        char unit;
        long long ms;
    } units[] = {{'s', 1000}, {'m', 60000}, {'h', 3600000}, {'d', 86400000}};
    if (end != text && end[0] != '\0' && end[1] == '\0' && n >= 0) {
        for (size_t i = 0; i < COUNT(units); i++) {
            if (*end == units[i].unit) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
                return xl_cli_api_strf("%lld", now - n * units[i].ms);
            }
        }
    }
    return xl_cli_api_strf("%s", text);
}

static const struct option ls_options[] = {
    {"flow", required_argument, NULL, 'f'},       {"status", required_argument, NULL, 's'},
    {"message-id", required_argument, NULL, 'm'}, {"since", required_argument, NULL, 'g'},
    {"until", required_argument, NULL, 'u'},      {"order", required_argument, NULL, 'o'},
    {"limit", required_argument, NULL, 'n'},      {"all", no_argument, NULL, 'A'},
    {"page-token", required_argument, NULL, 't'}, {"min-position", required_argument, NULL, 'p'},
    {NULL, 0, NULL, 0},
};

static int cmd_ls(xl_cli_t *cli, int argc, char **argv)
{
    char *path = xl_cli_api_strf("/v1/executions"), *t;
    const char *token = NULL;
    long long limit = 50;
    int all = 0, c, rc;
    json_t *list = NULL;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", ls_options, NULL)) != -1) {
        switch (c) {
        case 'f':
            xl_cli_api_query_add(&path, "flow_id", optarg);
            break;
        case 's':
            xl_cli_api_query_add(&path, "status", optarg);
            break;
        case 'm':
            xl_cli_api_query_add(&path, "message_id", optarg);
            break;
        case 'g':
            xl_cli_api_query_add(&path, "created_gte", t = parse_time(optarg));
            free(t);
            break;
        case 'u':
            xl_cli_api_query_add(&path, "created_lt", t = parse_time(optarg));
            free(t);
            break;
        case 'o':
            xl_cli_api_query_add(&path, "order_by", strcmp(optarg, "oldest") == 0   ? "created"
                                                : strcmp(optarg, "newest") == 0 ? "-created"
                                                                                : optarg);
            break;
        case 'n':
            if (xl_cli_command_parse_count("ls", "limit", optarg, 1LL << 40, &limit) != 0 || limit == 0) {
                free(path);
                return limit == 0 ? xl_cli_command_usage("ls", "--limit must be at least 1") : XL_CLI_EXIT_USAGE;
            }
            break;
        case 'A':
            all = 1;
            break;
        case 't':
            token = optarg;
            break;
        case 'p':
            xl_cli_api_query_add(&path, "min_position", optarg);
            break;
        default:
            free(path);
            return xl_cli_command_usage("ls", "unknown option");
        }
    }
    if (optind < argc) {
        free(path);
        return xl_cli_command_usage("ls", "ls takes no arguments, only options (--flow, --status, ...)");
    }
    xl_cli_api_query_add(&path, "tenant_id", cli->tenant);
    rc = walk_pages(cli, path, token, all ? 0 : limit, 1, "listing", &list, NULL);
    free(path);
    if (rc != XL_CLI_EXIT_OK)
        return rc;
    return output_page(cli, list, execution_columns, COUNT(execution_columns));
}

const xl_cli_command_t xl_cli_command_ls = {
    "ls", cmd_ls, "list executions: filters, order, pages",
    "usage: execlog ls [--flow F] [--status S]... [--message-id M] [--since T] [--until T]\n"
    "                  [--order newest|oldest] [--limit N | --all] [--page-token TOKEN]\n"
    "\n"
    "Executions, newest first (GET /v1/executions). --status is repeatable or comma-separated\n"
    "(queued running paused cancelling succeeded warning failed cancelled). --since and --until bound\n"
    "the creation time: ms since the epoch, or a time ago such as 90s, 15m, 2h, 7d (--since is\n"
    "inclusive, --until exclusive). --tenant narrows to a tenant.\n"
    "\n"
    "--limit N (default 50) lists the first N, following the pages as needed; --all walks every page\n"
    "(with a progress count on a terminal). When more are left, the table ends with the page token on\n"
    "stderr, and the JSON answer has it as next_page_token: pass it back with --page-token and the\n"
    "same filters. JSON: {\"items\":[state...],\"next_page_token\":...}.\n",
};

/* --- events -------------------------------------------------------------------------------------------------- */

static const struct option events_options[] = {
    {"after-seq", required_argument, NULL, 'a'}, {"limit", required_argument, NULL, 'n'},
    {"reverse", no_argument, NULL, 'r'},         {NULL, 0, NULL, 0},
};

static int cmd_events(xl_cli_t *cli, int argc, char **argv)
{
    long long after = 0, limit = 0, id;
    int reverse = 0, c, rc = XL_CLI_EXIT_OK;
    json_t *items = json_array(), *page = NULL, *last_seq = json_null();
    xl_cli_progress_t bar;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", events_options, NULL)) != -1) {
        switch (c) {
        case 'a':
            if (xl_cli_command_parse_count("events", "after-seq", optarg, 1LL << 53, &after) != 0)
                goto usage;
            break;
        case 'n':
            if (xl_cli_command_parse_count("events", "limit", optarg, 1LL << 40, &limit) != 0)
                goto usage;
            break;
        case 'r':
            reverse = 1;
            break;
        default:
            xl_cli_command_usage("events", "unknown option");
            goto usage;
        }
    }
    if (argc - optind != 1) {
        xl_cli_command_usage("events", "give one audit ID");
        goto usage;
    }
    if ((id = xl_cli_command_parse_id("events", argv[optind])) == 0)
        goto usage;

    xl_cli_output_progress_init(&bar, cli, "events");
    long long cursor = after; /* reverse: before_seq, 0 for the newest */
    for (;;) {
        long long want = limit ? limit - (long long)json_array_size(items) : PAGE_MAX;
        if (want <= 0)
            break;
        char *path = xl_cli_api_strf("/v1/executions/%lld/events?limit=%lld", id, want > PAGE_MAX ? PAGE_MAX : want);
        if (reverse) {
            xl_cli_api_query_add(&path, "reverse", "true");
            if (cursor > 0) {
                char b[32];
                snprintf(b, sizeof(b), "%lld", cursor);
                xl_cli_api_query_add(&path, "before_seq", b);
            }
        } else {
            char a[32];
            snprintf(a, sizeof(a), "%lld", cursor);
            xl_cli_api_query_add(&path, "after_seq", a);
        }
        rc = xl_cli_api_call(cli, "GET", path, NULL, &page, NULL, NULL);
        free(path);
        if (rc != XL_CLI_EXIT_OK)
            break;
        json_array_extend(items, json_object_get(page, "items"));
        json_decref(last_seq);
        last_seq = json_incref(json_object_get(page, "last_seq"));
        json_t *next = json_object_get(page, reverse ? "next_before_seq" : "next_after_seq");
        int more = json_is_true(json_object_get(page, "has_more")) && json_is_integer(next);
        if (more)
            cursor = json_integer_value(next);
        json_decref(page);
        if (json_is_integer(last_seq))
            xl_cli_output_progress_update(&bar, json_array_size(items), (uint64_t)json_integer_value(last_seq));
        if (!more)
            break;
    }
    xl_cli_output_progress_dispose(&bar);
    if (rc == XL_CLI_EXIT_OK) {
        if (cli->output == XL_CLI_OUTPUT_JSON) {
            json_t *out = json_pack("{s:I,s:O,s:O}", "audit_id", (json_int_t)id, "items", items, "last_seq",
                                    last_seq ? last_seq : json_null());
            xl_cli_output_json(cli, out);
            json_decref(out);
        } else {
            xl_cli_output_table(event_columns, COUNT(event_columns), items);
        }
    }
    json_decref(items);
    json_decref(last_seq);
    return rc;
usage:
    json_decref(items);
    json_decref(last_seq);
    return XL_CLI_EXIT_USAGE;
}

const xl_cli_command_t xl_cli_command_events = {
    "events", cmd_events, "an execution's event history",
    "usage: execlog events <audit-id> [--after-seq N] [--limit N] [--reverse]\n"
    "\n"
    "Every event of the execution, oldest first, walking the pages of GET /v1/executions/{id}/events\n"
    "(a progress bar on a terminal when there are many). --after-seq starts after that sequence number;\n"
    "--limit stops after N events; --reverse lists newest first.\n"
    "JSON: {\"audit_id\",\"items\":[event...],\"last_seq\"}.\n",
};

/* --- lineage ------------------------------------------------------------------------------------------------- */

static char *node_label(const json_t *a, long long asked, int child)
{
    char status[64], flow[256], created[64], dur[32], err[512];
    const json_t *error = json_object_get(a, "error");
    xl_cli_output_format(json_object_get(a, "status"), XL_CLI_FMT_VALUE, status, sizeof(status));
    xl_cli_output_format(json_object_get(a, "flow_id"), XL_CLI_FMT_VALUE, flow, sizeof(flow));
    xl_cli_output_format(json_object_get(a, "created"), XL_CLI_FMT_TIME, created, sizeof(created));
    xl_cli_output_format(json_object_get(a, "duration_ms"), XL_CLI_FMT_DURATION, dur, sizeof(dur));
    err[0] = '\0';
    if (json_is_object(error)) {
        char cls[128], msg[256];
        xl_cli_output_format(json_object_get(error, "class"), XL_CLI_FMT_VALUE, cls, sizeof(cls));
        xl_cli_output_format(json_object_get(error, "message"), XL_CLI_FMT_VALUE, msg, sizeof(msg));
        snprintf(err, sizeof(err), "  %s: %s", cls, msg);
    }
    long long id = json_integer_value(json_object_get(a, "audit_id"));
    char kind[48];
    if (child)
        snprintf(kind, sizeof(kind), "child");
    else if (json_integer_value(json_object_get(a, "retries")) == 0)
        snprintf(kind, sizeof(kind), "attempt 1");
    else
        snprintf(kind, sizeof(kind), "retry %lld", (long long)json_integer_value(json_object_get(a, "retries")));
    return xl_cli_api_strf("%lld %s  [%s]  %s  %s  %s%s%s", id, status, kind, flow, created, dur, err,
                           id == asked ? "  ◀" : "");
}

static int cmd_lineage(xl_cli_t *cli, int argc, char **argv)
{
    json_t *answer = NULL;
    long long id;
    int rc;

    if (argc != 2 || argv[1][0] == '-')
        return xl_cli_command_usage("lineage", "give one audit ID");
    if ((id = xl_cli_command_parse_id("lineage", argv[1])) == 0)
        return XL_CLI_EXIT_USAGE;
    char *path = xl_cli_api_strf("/v1/executions/%lld/lineage", id);
    rc = xl_cli_api_call(cli, "GET", path, NULL, &answer, NULL, NULL);
    free(path);
    if (rc != XL_CLI_EXIT_OK)
        return rc;
    if (cli->output == XL_CLI_OUTPUT_JSON) {
        xl_cli_output_json(cli, answer);
        json_decref(answer);
        return XL_CLI_EXIT_OK;
    }
    /* one tree: a retry hangs under the attempt it retries, a child under the execution that started it */
    json_t *attempts = json_object_get(answer, "attempts"), *children = json_object_get(answer, "children");
    size_t na = json_array_size(attempts), n = na + json_array_size(children);
    xl_cli_tree_node_t *nodes = calloc(n ? n : 1, sizeof(*nodes));
    const json_t **rows = calloc(n ? n : 1, sizeof(*rows));
    if (nodes == NULL || rows == NULL) {
        free(nodes);
        free(rows);
        json_decref(answer);
        xl_cli_api_error("out of memory");
        return XL_CLI_EXIT_UNAVAILABLE;
    }
    for (size_t i = 0; i < n; i++)
        rows[i] = i < na ? json_array_get(attempts, i) : json_array_get(children, i - na);
    for (size_t i = 0; i < n; i++) {
        const char *link = i < na ? "parent_audit_id" : "parent_execution_id";
        json_int_t parent = json_integer_value(json_object_get(rows[i], link));
        if (i >= na && json_is_integer(json_object_get(rows[i], "parent_audit_id")))
            parent = json_integer_value(json_object_get(rows[i], "parent_audit_id")); /* a child's own retry */
        nodes[i].parent = -1;
        for (size_t j = 0; j < n && parent != 0; j++)
            if (j != i && json_integer_value(json_object_get(rows[j], "audit_id")) == parent)
                nodes[i].parent = (ptrdiff_t)j;
        nodes[i].label = node_label(rows[i], id, i >= na);
    }
    xl_cli_output_tree(nodes, n);
    if (json_is_true(json_object_get(answer, "truncated")))
        printf("(truncated: the lineage is larger than one answer holds)\n");
    for (size_t i = 0; i < n; i++)
        free(nodes[i].label);
    free(nodes);
    free(rows);
    json_decref(answer);
    return XL_CLI_EXIT_OK;
}

const xl_cli_command_t xl_cli_command_lineage = {
    "lineage", cmd_lineage, "an execution's retries and children, as a tree",
    "usage: execlog lineage <audit-id>\n"
    "\n"
    "The retry chain and the child executions of an execution's lineage\n"
    "(GET /v1/executions/{id}/lineage), drawn as a tree: each retry under the attempt it retries, each\n"
    "child under the execution that started it; ◀ marks the audit ID asked for.\n"
    "JSON: the API's answer ({\"attempts\":[...],\"children\":[...],...}).\n",
};

/* --- flows --------------------------------------------------------------------------------------------------- */

static const struct option flows_options[] = {
    {"limit", required_argument, NULL, 'n'}, {"min-position", required_argument, NULL, 'p'}, {NULL, 0, NULL, 0}};

static int cmd_flows(xl_cli_t *cli, int argc, char **argv)
{
    const char *min_position = NULL;
    long long limit = 0;
    json_t *answer = NULL;
    char problem[96];
    int c, rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", flows_options, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (xl_cli_command_parse_count("flows", "limit", optarg, 1LL << 40, &limit) != 0)
                return XL_CLI_EXIT_USAGE;
            break;
        case 'p':
            min_position = optarg;
            break;
        default:
            return xl_cli_command_usage("flows", "unknown option");
        }
    }
    if (argc - optind > 1)
        return xl_cli_command_usage("flows", "give at most one flow ID");
    if (argc - optind == 1) {
        char *enc = xl_cli_api_escape(argv[optind]);
        char *path = xl_cli_api_strf("/v1/flows/%s", enc);
        free(enc);
        xl_cli_api_query_add(&path, "tenant_id", cli->tenant);
        xl_cli_api_query_add(&path, "min_position", min_position);
        rc = xl_cli_api_call(cli, "GET", path, NULL, &answer, NULL, NULL);
        free(path);
        if (rc != XL_CLI_EXIT_OK)
            return rc;
        if (cli->output == XL_CLI_OUTPUT_JSON)
            xl_cli_output_json(cli, answer);
        else
            xl_cli_output_fields(flow_fields, COUNT(flow_fields), answer);
        json_decref(answer);
        return XL_CLI_EXIT_OK;
    }
    /* the list of flows: GET /v1/flows, where the server has it */
    char *path = xl_cli_api_strf("/v1/flows");
    xl_cli_api_query_add(&path, "tenant_id", cli->tenant);
    xl_cli_api_query_add(&path, "min_position", min_position);
    rc = walk_pages(cli, path, NULL, limit, 0, "flows", &answer, problem);
    free(path);
    if (rc == XL_CLI_EXIT_NOT_FOUND && strcmp(problem, "no-route") == 0) {
        xl_cli_api_error("this server has no list of flows (GET /v1/flows); ask for one: execlog flows <flow-id>");
        return rc;
    }
    if (rc != XL_CLI_EXIT_OK)
        return rc;
    return output_page(cli, answer, flow_columns, COUNT(flow_columns));
}

const xl_cli_command_t xl_cli_command_flows = {
    "flows", cmd_flows, "a flow's summary, or the list of flows",
    "usage: execlog flows <flow-id>\n"
    "       execlog flows [--limit N]\n"
    "\n"
    "A flow's summary (GET /v1/flows/{id}): counts by status, success rate, duration percentiles and\n"
    "the latest run. --tenant narrows an all-tenant token to one tenant.\n"
    "Without a flow ID, the list of flows (GET /v1/flows, every page unless --limit) where the server\n"
    "serves one; a server that does not is reported as such (exit code 2).\n",
};
