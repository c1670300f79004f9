/*
 * emit: report state changes from a shell script, the simplest client of
 * the write API there is. `emit start` creates an execution and prints its
 * audit ID; `emit event` (and its shorthands status, progress, metric, log)
 * appends an event; `emit retry` and `emit cancel` call those routes. The
 * body is built from flags (one table: flag, member, kind), over a JSON
 * object read from stdin with --json; the server validates it (a 422 is exit
 * code 4).
 *
 * Nothing is printed on stdout but the new audit ID (start, retry), or the
 * API's answer with --output json.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/cli/api.h"
#include "api/cli/commands.h"
#include "api/cli/output.h"

typedef enum { K_STR, K_INT, K_ATTR, K_METRIC, K_LIST, K_STDIN } kind_t;

/* flag -> member of the body ("a.b": member b of object a) */
static const struct {
    const char *flag;
    const char *member;
    kind_t kind;
} fields[] = {
    {"flow", "flow_id", K_STR},
    {"name", "flow_name", K_STR},
    {"message-id", "message_id", K_STR},
    {"trigger", "trigger_type", K_STR},
    {"started-by", "started_by", K_STR},
    {"parent", "parent_audit_id", K_INT},
    {"parent-execution", "parent_execution_id", K_INT},
    {"type", "type", K_STR},
    {"task", "task", K_STR},
    {"message", "message", K_STR},
    {"event-id", "event_id", K_STR},
    {"time", "time", K_INT},
    {"attr", "attributes", K_ATTR},
    {"metric", "metrics", K_METRIC},
    {"warning", "warnings", K_LIST},
    {"error-class", "error.class", K_STR},
    {"error-message", "error.message", K_STR},
    {"error-stack", "error.stack", K_STR},
    {"json", NULL, K_STDIN},
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

/* what the words after `emit <verb> <audit-id>` are */
typedef enum { ARGS_NONE, ARGS_TYPE, ARGS_METRICS, ARGS_MESSAGE } args_t;

static const struct {
    const char *verb;
    const char *route; /* %lld: the audit ID */
    const char *type;  /* the event type it sets, or NULL */
    args_t args;
    int prints_id; /* the answer's audit_id is the result */
} verbs[] = {
    {"start", "/v1/executions", NULL, ARGS_NONE, 1},
    {"event", "/v1/executions/%lld/events", NULL, ARGS_TYPE, 0},
    {"status", "/v1/executions/%lld/events", NULL, ARGS_TYPE, 0},
    {"progress", "/v1/executions/%lld/events", "progress", ARGS_METRICS, 0},
    {"metric", "/v1/executions/%lld/events", "metrics", ARGS_METRICS, 0},
    {"log", "/v1/executions/%lld/events", "log", ARGS_MESSAGE, 0},
    {"retry", "/v1/executions/%lld/retry", NULL, ARGS_NONE, 1},
    {"cancel", "/v1/executions/%lld/cancel", NULL, ARGS_NONE, 0},
};
#define NVERBS (sizeof(verbs) / sizeof(verbs[0]))

/* an integer when the text is one, else the string (for the server to refuse) */
static json_t *int_or_string(const char *text)
{
    char *end;
    long long v = strtoll(text, &end, 10);
    return end != text && *end == '\0' ? json_integer(v) : json_string(text);
}

static json_t *sub_object(json_t *body, const char *name)
{
    json_t *o = json_object_get(body, name);
    if (!json_is_object(o)) {
        o = json_object();
        json_object_set_new(body, name, o);
    }
    return o;
}

/* k=v into object member; returns -1 when there is no '=' */
static int set_pair(json_t *body, const char *member, const char *kv, int integer)
{
    const char *eq = strchr(kv, '=');
    if (eq == NULL || eq == kv)
        return -1;
    char *key = strndup(kv, (size_t)(eq - kv));
    json_object_set_new(sub_object(body, member), key, integer ? int_or_string(eq + 1) : json_string(eq + 1));
    free(key);
    return 0;
}

static int set_field(json_t *body, size_t f, const char *value)
{
    const char *m = fields[f].member, *dot = strchr(m, '.');
    switch (fields[f].kind) {
    case K_STR:
        if (dot != NULL) {
            char outer[32];
            snprintf(outer, sizeof(outer), "%.*s", (int)(dot - m), m);
            json_object_set_new(sub_object(body, outer), dot + 1, json_string(value));
        } else {
            json_object_set_new(body, m, json_string(value));
        }
        return 0;
    case K_INT:
        json_object_set_new(body, m, int_or_string(value));
        return 0;
    case K_ATTR:
        return set_pair(body, m, value, 0);
    case K_METRIC:
        return set_pair(body, m, value, 1);
    case K_LIST: {
        json_t *a = json_object_get(body, m);
        if (!json_is_array(a)) {
            a = json_array();
            json_object_set_new(body, m, a);
        }
        json_array_append_new(a, json_string(value));
        return 0;
    }
    case K_STDIN:
        return 0;
    }
    return 0;
}

static int cmd_emit(xl_cli_t *cli, int argc, char **argv)
{
    struct option opts[NFIELDS + 1];
    const char *values[64][2]; /* (flag index as text, value) in command-line order */
    size_t nvalues = 0, v;
    json_t *body = NULL, *answer = NULL;
    int from_stdin = 0, c, rc = XL_CLI_EXIT_USAGE;
    long long id = 0;
    char *path = NULL;

    if (argc < 2 || argv[1][0] == '-')
        return xl_cli_command_usage("emit", "give what to emit: start, event, status, progress, metric, log, retry or cancel");
    for (v = 0; v < NVERBS && strcmp(verbs[v].verb, argv[1]) != 0; v++)
        ;
    if (v == NVERBS)
        return xl_cli_command_usage("emit", "unknown: emit %s", argv[1]);

    for (size_t f = 0; f < NFIELDS; f++)
        opts[f] = (struct option){fields[f].flag, fields[f].kind == K_STDIN ? no_argument : required_argument, NULL,
                                  256 + (int)f};
    opts[NFIELDS] = (struct option){0};
    optind = 1;
    argc--;
    argv++;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c < 256)
            return xl_cli_command_usage("emit", "unknown option");
        if (fields[c - 256].kind == K_STDIN) {
            from_stdin = 1;
            continue;
        }
        if (nvalues == sizeof(values) / sizeof(values[0]))
            return xl_cli_command_usage("emit", "too many options");
        values[nvalues][0] = fields[c - 256].flag;
        values[nvalues++][1] = optarg;
    }

    /* the body: stdin's object, then the flags over it */
    if (from_stdin) {
        json_error_t jerr;
        body = json_loadf(stdin, 0, &jerr);
        if (!json_is_object(body)) {
            xl_cli_command_usage("emit", "--json: stdin is not a JSON object%s%s", body == NULL ? ": " : "",
                                 body == NULL ? jerr.text : "");
            goto done;
        }
    } else {
        body = json_object();
    }
    for (size_t i = 0; i < nvalues; i++) {
        size_t f = 0;
        while (strcmp(fields[f].flag, values[i][0]) != 0)
            f++;
        if (set_field(body, f, values[i][1]) != 0) {
            xl_cli_command_usage("emit", "--%s takes name=value, not '%s'", fields[f].flag, values[i][1]);
            goto done;
        }
    }

    /* positional words: the audit ID, then what the verb takes */
    int pos = optind;
    if (strstr(verbs[v].route, "%lld") != NULL) {
        if (pos >= argc) {
            xl_cli_command_usage("emit", "emit %s needs an audit ID", verbs[v].verb);
            goto done;
        }
        if ((id = xl_cli_command_parse_id("emit", argv[pos++])) == 0)
            goto done;
    }
    if (verbs[v].type != NULL)
        json_object_set_new(body, "type", json_string(verbs[v].type));
    for (; pos < argc; pos++) {
        switch (verbs[v].args) {
        case ARGS_TYPE:
            if (json_object_get(body, "type") != NULL) {
                xl_cli_command_usage("emit", "one event type only");
                goto done;
            }
            json_object_set_new(body, "type", json_string(argv[pos]));
            break;
        case ARGS_METRICS:
            if (set_pair(body, "metrics", argv[pos], 1) != 0) {
                xl_cli_command_usage("emit", "metrics are name=value, not '%s'", argv[pos]);
                goto done;
            }
            break;
        case ARGS_MESSAGE: {
            const char *old = json_string_value(json_object_get(body, "message"));
            char *msg = old ? xl_cli_api_strf("%s %s", old, argv[pos]) : xl_cli_api_strf("%s", argv[pos]);
            json_object_set_new(body, "message", json_string(msg));
            free(msg);
            break;
        }
        case ARGS_NONE:
            xl_cli_command_usage("emit", "emit %s takes no word '%s'", verbs[v].verb, argv[pos]);
            goto done;
        }
    }
    if (verbs[v].args == ARGS_TYPE && json_object_get(body, "type") == NULL) {
        xl_cli_command_usage("emit", "emit %s needs an event type (started, progress, succeeded, failed, ...)",
                             verbs[v].verb);
        goto done;
    }
    if (strcmp(verbs[v].verb, "start") == 0 && cli->tenant != NULL && json_object_get(body, "tenant_id") == NULL)
        json_object_set_new(body, "tenant_id", json_string(cli->tenant));

    path = xl_cli_api_strf(verbs[v].route, id);
    rc = xl_cli_api_call(cli, "POST", path, body, &answer, NULL, NULL);
    if (rc != XL_CLI_EXIT_OK)
        goto done;
    if (cli->output_given && cli->output == XL_CLI_OUTPUT_JSON)
        xl_cli_output_json(cli, answer);
    else if (verbs[v].prints_id)
        printf("%lld\n", (long long)json_integer_value(json_object_get(answer, "audit_id")));
done:
    free(path);
    json_decref(body);
    json_decref(answer);
    return rc;
}

const xl_cli_command_t xl_cli_command_emit = {
    "emit", cmd_emit, "report a state change: start an execution, append an event",
    "usage: execlog emit start --flow F [--name N] [--message-id M] [--trigger T] [--started-by U]\n"
    "                          [--parent AUDIT_ID] [--parent-execution AUDIT_ID] [--attr k=v]...\n"
    "       execlog emit event <audit-id> <type> [--message M] [--task T] [--metric k=v]... [--attr k=v]...\n"
    "                          [--warning W]... [--error-class C] [--error-message M] [--error-stack S]\n"
    "       execlog emit status <audit-id> <type>          (the same as event)\n"
    "       execlog emit progress <audit-id> [k=v]...       (a progress event with these metrics)\n"
    "       execlog emit metric <audit-id> k=v...           (a metrics event)\n"
    "       execlog emit log <audit-id> <message>...        (a log event)\n"
    "       execlog emit retry <audit-id>                   (a new attempt; prints its audit ID)\n"
    "       execlog emit cancel <audit-id>\n"
    "every form also takes --event-id E (idempotency key: a retried emit is stored once), --time MS,\n"
    "--message M, and --json (read the body as a JSON object from stdin; the flags are set over it).\n"
    "\n"
    "Event types: started progress paused resumed warning succeeded failed cancel_requested cancelled\n"
    "task_started task_progress task_finished task_failed metrics log.\n"
    "\n"
    "start and retry print the new audit ID on stdout, the other forms print nothing; with --output json\n"
    "each prints the API's answer. --tenant sets start's tenant_id. Exit code 4 when the server refuses\n"
    "the event (its problem is on stderr), 5 when it was not acknowledged: emit again with the same\n"
    "--event-id.\n"
    "\n"
    "  A=$(execlog emit start --flow nightly-load --message-id \"$RUN\")\n"
    "  execlog emit status \"$A\" started\n"
    "  execlog emit progress \"$A\" rows=1200\n"
    "  execlog emit event \"$A\" failed --error-class IOError --error-message 'disk full'\n",
};
