/*
 * execlog: the command-line client of execlogd's HTTP API. This file holds
 * the table of commands, the options every command takes (wherever they
 * appear on the line), the environment it reads and the exit codes; the
 * commands are in cmd_*.c.
 *
 * It must never print anything but the answer on stdout, so that scripts
 * can read it: messages, problems and progress go to stderr.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/cli/api.h"
#include "api/cli/commands.h"

#define DEFAULT_URL "http://127.0.0.1:8080"

static const xl_cli_command_t *const commands[] = {
    &xl_cli_command_get,  &xl_cli_command_ls,   &xl_cli_command_events, &xl_cli_command_lineage,
    &xl_cli_command_flows, &xl_cli_command_tail, &xl_cli_command_emit,
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

typedef struct st_globals_t {
    const char *server, *tenant, *output, *timeout, *cacert;
    int help, version;
} globals_t;

/* the options of every command; taken out of argv before the command parses the rest */
static const struct {
    const char *name;
    char short_name;
    size_t value; /* offset of the value's field in globals_t */
    int flag;     /* no value: sets the int at that offset */
} global_options[] = {
    {"server", 0, offsetof(globals_t, server), 0},   {"tenant", 0, offsetof(globals_t, tenant), 0},
    {"output", 'o', offsetof(globals_t, output), 0}, {"timeout", 0, offsetof(globals_t, timeout), 0},
    {"cacert", 0, offsetof(globals_t, cacert), 0},   {"help", 'h', offsetof(globals_t, help), 1},
    {"version", 0, offsetof(globals_t, version), 1},
};

static const char usage_text[] =
    "usage: execlog [options] <command> [arguments]\n"
    "\n"
    "The command-line client of execlogd's HTTP API.\n"
    "\n"
    "commands:\n"
    "%s"
    "\n"
    "options (before or after the command):\n"
    "  --server URL        execlogd's URL (default $EXECLOG_URL, else " DEFAULT_URL ");\n"
    "                      https:// is verified against the system's CAs or --cacert\n"
    "  --cacert FILE       PEM file of the CAs to trust for https:// (default $EXECLOG_CACERT)\n"
    "  --tenant T          a tenant's executions only (reads that take tenant_id; emit start's tenant_id)\n"
    "  -o, --output F      json or table (default: table on a terminal, json otherwise)\n"
    "  --timeout S         seconds to wait for the network on each request (default 30)\n"
    "  -h, --help          this text, or a command's (execlog <command> --help)\n"
    "  --version           execlog's version\n"
    "\n"
    "environment: EXECLOG_URL, EXECLOG_TOKEN (sent as Authorization: Bearer), EXECLOG_CACERT\n"
    "\n"
    "exit codes:\n"
    "  0  ok\n"
    "  1  usage: a bad command line or bad local input (e.g. the JSON on stdin)\n"
    "  2  not found (404): no such execution, message, flow or route\n"
    "  3  not allowed (401, 403): no token, an unknown token, or a role too low\n"
    "  4  rejected (any other 4xx): the server refused the input; its problem is printed\n"
    "  5  unavailable: 5xx, no connection, a timeout, an answer that is not the API's\n";

int xl_cli_command_usage(const char *command, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("execlog: ", stderr);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\ntry 'execlog %s%s--help'\n", command != NULL ? command : "",
            command != NULL && *command != '\0' ? " " : "");
    va_end(ap);
    return XL_CLI_EXIT_USAGE;
}

long long xl_cli_command_parse_id(const char *command, const char *text)
{
    char *end;
    errno = 0;
    long long id = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || id <= 0 || id >= (1LL << 53) || text[0] == '+') {
        xl_cli_command_usage(command, "not an audit ID: '%s' (a positive integer)", text);
        return 0;
    }
    return id;
}

int xl_cli_command_parse_count(const char *command, const char *option, const char *text, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || n < 0 || n > max) {
        xl_cli_command_usage(command, "--%s takes a number from 0 to %lld, not '%s'", option, max, text);
        return -1;
    }
    *out = n;
    return 0;
}

int xl_cli_command_flush(void)
{
    if (fflush(stdout) != 0 || ferror(stdout))
        return -1;
    return 0;
}

static void print_usage(FILE *fp)
{
    char *list = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&list, &len);
    if (m == NULL)
        return;
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(m, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
    fclose(m);
    fprintf(fp, usage_text, list);
    free(list);
}

/* take the global options out of argv (up to a "--"); returns the new argc, or -1 after a usage error */
static int take_globals(int argc, char **argv, globals_t *g)
{
    int out = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            while (i < argc)
                argv[out++] = argv[i++];
            break;
        }
        size_t k = 0, n = sizeof(global_options) / sizeof(global_options[0]);
        const char *value = NULL;
        for (; k < n; k++) {
            size_t len = strlen(global_options[k].name);
            if (a[0] == '-' && a[1] == '-' && strncmp(a + 2, global_options[k].name, len) == 0 &&
                (a[2 + len] == '\0' || (a[2 + len] == '=' && !global_options[k].flag))) {
                value = a[2 + len] == '=' ? a + 3 + len : NULL;
                break;
            }
            if (global_options[k].short_name != 0 && a[0] == '-' && a[1] == global_options[k].short_name && a[2] == '\0')
                break;
        }
        if (k == n) {
            argv[out++] = argv[i];
            continue;
        }
        char *field = (char *)g + global_options[k].value;
        if (global_options[k].flag) {
            *(int *)field = 1;
            continue;
        }
        if (value == NULL) {
            if (i + 1 >= argc) {
                xl_cli_command_usage(NULL, "--%s needs a value", global_options[k].name);
                return -1;
            }
            value = argv[++i];
        }
        *(const char **)field = value;
    }
    argv[out] = NULL;
    return out;
}

int main(int argc, char **argv)
{
    globals_t g = {0};
    xl_cli_t cli = {0};
    char err[256];
    const xl_cli_command_t *cmd = NULL;

    signal(SIGPIPE, SIG_IGN); /* a closed stdout is seen by xl_cli_flush */
    if ((argc = take_globals(argc, argv, &g)) < 0)
        return XL_CLI_EXIT_USAGE;
    if (g.version) {
        printf("execlog " XL_VERSION "\n");
        return XL_CLI_EXIT_OK;
    }
    if (argc >= 2 && strcmp(argv[1], "help") == 0) { /* execlog help [command] */
        g.help = 1;
        argv++;
        argc--;
    }
    if (argc < 2) {
        print_usage(g.help ? stdout : stderr);
        return g.help ? XL_CLI_EXIT_OK : XL_CLI_EXIT_USAGE;
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(argv[1], commands[i]->name) == 0)
            cmd = commands[i];
    if (cmd == NULL) {
        xl_cli_api_error("unknown command '%s'", argv[1]);
        print_usage(stderr);
        return XL_CLI_EXIT_USAGE;
    }
    if (g.help) {
        fputs(cmd->help, stdout);
        return XL_CLI_EXIT_OK;
    }

    cli.stdout_tty = isatty(STDOUT_FILENO);
    cli.stderr_tty = isatty(STDERR_FILENO);
    cli.output = cli.stdout_tty ? XL_CLI_OUTPUT_TABLE : XL_CLI_OUTPUT_JSON;
    if (g.output != NULL) {
        if (strcmp(g.output, "json") == 0)
            cli.output = XL_CLI_OUTPUT_JSON;
        else if (strcmp(g.output, "table") == 0)
            cli.output = XL_CLI_OUTPUT_TABLE;
        else
            return xl_cli_command_usage(NULL, "--output is json or table, not '%s'", g.output);
        cli.output_given = 1;
    }
    cli.tenant = g.tenant;
    long long timeout_s = 30;
    if (g.timeout != NULL && xl_cli_command_parse_count("", "timeout", g.timeout, 86400, &timeout_s) != 0)
        return XL_CLI_EXIT_USAGE;
    if (timeout_s == 0)
        return xl_cli_command_usage(NULL, "--timeout must be at least 1 second");

    const char *url = g.server ? g.server : getenv("EXECLOG_URL") ? getenv("EXECLOG_URL") : DEFAULT_URL;
    const char *token = getenv("EXECLOG_TOKEN");
    const char *cacert = g.cacert ? g.cacert : getenv("EXECLOG_CACERT");
    if (token != NULL && *token == '\0')
        token = NULL;
    if ((cli.http = xl_cli_http_create(url, token, cacert, (unsigned)timeout_s * 1000, err, sizeof(err))) == NULL) {
        xl_cli_api_error("%s", err);
        return XL_CLI_EXIT_USAGE;
    }
    int rc = cmd->run(&cli, argc - 1, argv + 1);
    if (xl_cli_command_flush() != 0 && errno != EPIPE && rc == XL_CLI_EXIT_OK) {
        xl_cli_api_error("cannot write the answer: %s", strerror(errno));
        rc = XL_CLI_EXIT_USAGE;
    }
    xl_cli_http_destroy(cli.http);
    return rc;
}
