/*
 * Rendering for the command-line client (see output.h). Column widths are
 * counted in characters, not bytes, so UTF-8 names line up; control
 * characters from the server become '?'. Writes to stdout, except the
 * progress bar (stderr, terminals only).
 */
#include "api/cli/output.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CELL_MAX 512

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* copy s into buf, control characters replaced, cut to size */
static void clean(const char *s, char *buf, size_t size)
{
    size_t n = 0;
    for (; *s != '\0' && n + 1 < size; s++)
        buf[n++] = ((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s;
    buf[n] = '\0';
}

/* characters of a UTF-8 string (continuation bytes not counted) */
static size_t width_of(const char *s)
{
    size_t w = 0;
    for (; *s != '\0'; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

static void put_padded(const char *s, size_t width)
{
    fputs(s, stdout);
    for (size_t w = width_of(s); w < width; w++)
        fputc(' ', stdout);
}

static void format_duration(int64_t ms, char *buf, size_t size)
{
    if (ms < 1000)
        snprintf(buf, size, "%" PRId64 "ms", ms);
    else if (ms < 60000)
        snprintf(buf, size, "%.1fs", ms / 1000.0);
    else if (ms < 3600000)
        snprintf(buf, size, "%" PRId64 "m%02" PRId64 "s", ms / 60000, ms / 1000 % 60);
    else
        snprintf(buf, size, "%" PRId64 "h%02" PRId64 "m%02" PRId64 "s", ms / 3600000, ms / 60000 % 60, ms / 1000 % 60);
}

static void format_time(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (ms < 0 || gmtime_r(&t, &tm) == NULL) {
        snprintf(buf, size, "%" PRId64, ms);
        return;
    }
    char day[32];
    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, size, "%s.%03dZ", day, (int)(ms % 1000));
}

static void format_value(const json_t *v, char *buf, size_t size)
{
    if (json_is_string(v)) {
        clean(json_string_value(v), buf, size);
    } else {
        char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        clean(text != NULL ? text : "?", buf, size);
        free(text);
    }
}

const char *xl_cli_output_format(const json_t *v, xl_cli_fmt_t fmt, char *buf, size_t size)
{
    if (v == NULL || json_is_null(v)) {
        snprintf(buf, size, "-");
        return buf;
    }
    switch (fmt) {
    case XL_CLI_FMT_TIME:
        if (json_is_integer(v)) {
            format_time(json_integer_value(v), buf, size);
            return buf;
        }
        break;
    case XL_CLI_FMT_DURATION:
        if (json_is_integer(v)) {
            format_duration(json_integer_value(v), buf, size);
            return buf;
        }
        break;
    case XL_CLI_FMT_RATE:
        if (json_is_number(v)) {
            snprintf(buf, size, "%.1f%%", json_number_value(v) * 100.0);
            return buf;
        }
        break;
    case XL_CLI_FMT_PAIRS:
        if (json_is_object(v)) {
            const char *key;
            json_t *item;
            size_t n = 0;
            buf[0] = '\0';
            json_object_foreach((json_t *)v, key, item)
            {
                char val[CELL_MAX], k[CELL_MAX];
                if (json_is_null(item))
                    continue;
                format_value(item, val, sizeof(val));
                clean(key, k, sizeof(k));
                int m = snprintf(buf + n, size - n, "%s%s=%s", n ? " " : "", k, val);
                if (m < 0 || (size_t)m >= size - n)
                    break;
                n += (size_t)m;
            }
            if (n == 0)
                snprintf(buf, size, "-");
            return buf;
        }
        break;
    case XL_CLI_FMT_VALUE:
        break;
    }
    format_value(v, buf, size);
    return buf;
}

const json_t *xl_cli_output_member(const json_t *obj, const char *member)
{
    const char *dot = strchr(member, '.');
    if (dot == NULL)
        return json_object_get(obj, member);
    char outer[64];
    snprintf(outer, sizeof(outer), "%.*s", (int)(dot - member), member);
    return json_object_get(json_object_get(obj, outer), dot + 1);
}

void xl_cli_output_json(const xl_cli_t *cli, const json_t *j)
{
    json_dumpf(j, stdout, (cli->stdout_tty ? JSON_INDENT(2) : JSON_COMPACT) | JSON_ENCODE_ANY);
    fputc('\n', stdout);
}

void xl_cli_output_table(const xl_cli_column_t *cols, size_t ncols, const json_t *rows)
{
    size_t nrows = json_array_size(rows);
    size_t *width = calloc(ncols, sizeof(*width));
    char *cells = malloc((nrows ? nrows : 1) * ncols * CELL_MAX);
    if (width == NULL || cells == NULL) {
        free(width);
        free(cells);
        return;
    }
    for (size_t c = 0; c < ncols; c++)
        width[c] = strlen(cols[c].title);
    for (size_t r = 0; r < nrows; r++) {
        for (size_t c = 0; c < ncols; c++) {
            char *cell = cells + (r * ncols + c) * CELL_MAX;
            xl_cli_output_format(xl_cli_output_member(json_array_get(rows, r), cols[c].member), cols[c].fmt, cell,
                                 CELL_MAX);
            size_t w = width_of(cell);
            if (w > width[c])
                width[c] = w;
        }
    }
    for (size_t c = 0; c < ncols; c++) {
        if (c + 1 < ncols)
            put_padded(cols[c].title, width[c] + 2);
        else
            fputs(cols[c].title, stdout);
    }
    fputc('\n', stdout);
    for (size_t r = 0; r < nrows; r++) {
        for (size_t c = 0; c < ncols; c++) {
            const char *cell = cells + (r * ncols + c) * CELL_MAX;
            if (c + 1 < ncols)
                put_padded(cell, width[c] + 2);
            else
                fputs(cell, stdout);
        }
        fputc('\n', stdout);
    }
    free(width);
    free(cells);
}

void xl_cli_output_row(const xl_cli_column_t *cols, size_t ncols, const json_t *row, int header)
{
    char cell[CELL_MAX];
    for (int pass = header ? 0 : 1; pass < 2; pass++) {
        for (size_t c = 0; c < ncols; c++) {
            const char *text = pass == 0 ? cols[c].title
                                         : xl_cli_output_format(xl_cli_output_member(row, cols[c].member),
                                                                cols[c].fmt, cell, sizeof(cell));
            if (c + 1 < ncols)
                put_padded(text, (size_t)cols[c].width + 1);
            else
                fputs(text, stdout);
        }
        fputc('\n', stdout);
    }
}

void xl_cli_output_fields(const xl_cli_column_t *cols, size_t ncols, const json_t *obj)
{
    size_t w = 0;
    char cell[CELL_MAX * 4];
    for (size_t c = 0; c < ncols; c++)
        if (strlen(cols[c].title) > w)
            w = strlen(cols[c].title);
    for (size_t c = 0; c < ncols; c++) {
        fputs(cols[c].title, stdout);
        fputc(':', stdout);
        for (size_t i = strlen(cols[c].title); i < w + 1; i++)
            fputc(' ', stdout);
        fputs(xl_cli_output_format(xl_cli_output_member(obj, cols[c].member), cols[c].fmt, cell, sizeof(cell)), stdout);
        fputc('\n', stdout);
    }
}

static void draw_subtree(const xl_cli_tree_node_t *nodes, size_t n, size_t at, char *prefix, size_t plen)
{
    size_t last = n;
    for (size_t i = 0; i < n; i++)
        if (nodes[i].parent == (ptrdiff_t)at)
            last = i;
    for (size_t i = 0; i < n; i++) {
        if (nodes[i].parent != (ptrdiff_t)at)
            continue;
        printf("%s%s%s\n", prefix, i == last ? "└── " : "├── ", nodes[i].label);
        if (plen + 8 < 4096) { /* deeper than ~500 levels is drawn flat */
            strcpy(prefix + plen, i == last ? "    " : "│   ");
            draw_subtree(nodes, n, i, prefix, plen + strlen(prefix + plen));
            prefix[plen] = '\0';
        }
    }
}

void xl_cli_output_tree(const xl_cli_tree_node_t *nodes, size_t n)
{
    char prefix[4096] = "";
    for (size_t i = 0; i < n; i++) {
        if (nodes[i].parent >= 0)
            continue;
        printf("%s\n", nodes[i].label);
        draw_subtree(nodes, n, i, prefix, 0);
    }
}

void xl_cli_output_progress_init(xl_cli_progress_t *p, const xl_cli_t *cli, const char *label)
{
    *p = (xl_cli_progress_t){.enabled = cli->stderr_tty, .label = label};
}

void xl_cli_output_progress_update(xl_cli_progress_t *p, uint64_t done, uint64_t total)
{
    if (!p->enabled)
        return;
    int64_t t = now_ms();
    if (p->drawn && t - p->last_ms < 100 && !(total != 0 && done >= total))
        return;
    p->last_ms = t;
    p->drawn = 1;
    if (total == 0) {
        fprintf(stderr, "\r\033[K%s %" PRIu64 "", p->label, done);
    } else {
        enum { BAR = 30 };
        char bar[BAR * 3 + 1];
        size_t fill = (size_t)(done >= total ? BAR : done * BAR / total), n = 0;
        for (size_t i = 0; i < BAR; i++) {
            const char *s = i < fill ? "█" : "░";
            memcpy(bar + n, s, 3);
            n += 3;
        }
        bar[n] = '\0';
        fprintf(stderr, "\r\033[K%s %s %" PRIu64 "/%" PRIu64, p->label, bar, done, total);
    }
    fflush(stderr);
}

void xl_cli_output_progress_dispose(xl_cli_progress_t *p)
{
    if (p->enabled && p->drawn)
        fputs("\r\033[K", stderr);
    p->drawn = 0;
}
