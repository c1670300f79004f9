/*
 * The commands of the execlog command-line client. Each command parses its
 * own arguments (argv[0] is the command's name), talks to the API through
 * api.h, prints through output.h and returns an XL_CLI_EXIT_* code; the
 * table of commands and the options every command takes are in main.c.
 */
#ifndef XL_CLI_COMMANDS_H
#define XL_CLI_COMMANDS_H

#include "api/cli/api.h"

typedef struct st_xl_cli_command_t {
    const char *name;
    int (*run)(xl_cli_t *cli, int argc, char **argv);
    const char *summary; /* one line, for execlog --help */
    const char *help;    /* execlog <command> --help */
} xl_cli_command_t;

extern const xl_cli_command_t xl_cli_command_get, xl_cli_command_ls, xl_cli_command_events, xl_cli_command_lineage,
    xl_cli_command_flows, xl_cli_command_tail, xl_cli_command_emit;

/** @brief Print "execlog: <msg>" and a pointer to the command's --help on stderr. @return XL_CLI_EXIT_USAGE. */
int xl_cli_command_usage(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** @brief Parse a positive audit ID (1..2^53-1). @return it, or 0 (after printing a usage error). */
long long xl_cli_command_parse_id(const char *command, const char *text);

/** @brief Parse a count (0..max). @return 0 or -1 (after printing a usage error). */
int xl_cli_command_parse_count(const char *command, const char *option, const char *text, long long max, long long *out);

/** @brief Flush stdout. @return 0, or -1 when the reader went away (EPIPE): stop quietly. */
int xl_cli_command_flush(void);

#endif
