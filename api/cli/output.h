/*
 * How the command-line client shows answers: JSON as the API gave it, or
 * for people, tables whose columns are declared as data (title, member,
 * format), "name: value" lists, trees drawn with box-drawing characters,
 * and a progress bar on stderr (only when stderr is a terminal).
 *
 * Strings from the server are printed with their control characters
 * replaced, so an answer cannot drive the terminal. It never does I/O
 * on the network.
 */
#ifndef XL_CLI_OUTPUT_H
#define XL_CLI_OUTPUT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "api/cli/api.h"

typedef enum en_xl_cli_fmt_t {
    XL_CLI_FMT_VALUE,    /* a string as is, anything else as compact JSON */
    XL_CLI_FMT_TIME,     /* ms since the epoch -> 2026-11-22T05:21:28.123Z */
    XL_CLI_FMT_DURATION, /* ms -> 850ms, 12.5s, 3m05s, 2h00m07s */
    XL_CLI_FMT_RATE,     /* 0..1 -> 97.5% */
    XL_CLI_FMT_PAIRS,    /* an object -> k=v k=v (null members left out) */
} xl_cli_fmt_t;

typedef struct st_xl_cli_column_t {
    const char *title;
    const char *member; /* a member of the row; "a.b" looks into a member object */
    xl_cli_fmt_t fmt;
    int width; /* for rows printed one at a time (xl_cli_output_row); 0: unbounded, last column */
} xl_cli_column_t;

/** @brief Format v (may be NULL: "-") into buf. @return buf. */
const char *xl_cli_output_format(const json_t *v, xl_cli_fmt_t fmt, char *buf, size_t size);

/** @brief The member of obj a column names ("a.b" goes one level in). @return borrowed, or NULL. */
const json_t *xl_cli_output_member(const json_t *obj, const char *member);

/** @brief Print j on stdout: indented on a terminal, one line otherwise. */
void xl_cli_output_json(const xl_cli_t *cli, const json_t *j);

/** @brief Print the objects of rows (an array) as a table with a header line, columns sized to fit. */
void xl_cli_output_table(const xl_cli_column_t *cols, size_t ncols, const json_t *rows);

/** @brief Print one row with the columns' fixed widths (header first when header is nonzero). */
void xl_cli_output_row(const xl_cli_column_t *cols, size_t ncols, const json_t *row, int header);

/** @brief Print "title: value" lines for obj, titles aligned. */
void xl_cli_output_fields(const xl_cli_column_t *cols, size_t ncols, const json_t *obj);

typedef struct st_xl_cli_tree_node_t {
    char *label;    /* owned by the caller */
    ptrdiff_t parent; /* index of the parent node, -1 for a root; parents need not come first */
} xl_cli_tree_node_t;

/** @brief Draw the forest of nodes, children in index order, with ├── └── │. */
void xl_cli_output_tree(const xl_cli_tree_node_t *nodes, size_t n);

typedef struct st_xl_cli_progress_t {
    int enabled;
    const char *label;
    int64_t last_ms; /* last drawn */
    int drawn;
} xl_cli_progress_t;

/** @brief A progress bar on stderr, drawn only when stderr is a terminal. label: borrowed. */
void xl_cli_output_progress_init(xl_cli_progress_t *p, const xl_cli_t *cli, const char *label);
/** @brief done of total (total 0: unknown, a counter is shown); redrawn at most 10 times a second. */
void xl_cli_output_progress_update(xl_cli_progress_t *p, uint64_t done, uint64_t total);
/** @brief Erase the bar. */
void xl_cli_output_progress_dispose(xl_cli_progress_t *p);

#endif
