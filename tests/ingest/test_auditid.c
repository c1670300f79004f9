/*
 * Tests of ingest/auditid.c: audit IDs are positive, at most 2^53-1, carry
 * the node in their low 8 bits, strictly increase, are never behind the wall
 * clock, and are never issued twice, also by a new allocator on the same
 * directory (across a reservation block of 65536). A reservation file that
 * cannot be trusted stops the allocator instead of guessing.
 * Every test runs in a fresh mkdtemp directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ingest/auditid.h"
#include "schemas/event.h"
#include "tests/test.h"

#define BLOCK 65536
#define COUNTER_MAX (XL_AUDIT_ID_MAX >> 8)
#define EPOCH_2024_MS 1704067200000LL

static char dir[] = "/tmp/xl-test-auditid-XXXXXX";

static int64_t clock_counter(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - EPOCH_2024_MS) * 16;
}

static void path_of(char *buf, size_t len, int node) { snprintf(buf, len, "%s/audit_id.%d", dir, node); }

/* The reservation file's number, or -1. */
static long long read_reservation(int node)
{
    char path[512];
    path_of(path, sizeof(path), node);
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return -1;
    long long v = -1;
    if (fscanf(fp, "%lld", &v) != 1)
        v = -1;
    fclose(fp);
    return v;
}

static void write_reservation(int node, const char *text)
{
    char path[512];
    path_of(path, sizeof(path), node);
    FILE *fp = fopen(path, "w");
    fputs(text, fp);
    fclose(fp);
}

/* Allocate n IDs, checking order, range and node bits on the way; returns the last one (0 on error). */
static int64_t allocate(xl_auditid_t *ids, int node, size_t n, int64_t prev)
{
    char err[256];
    size_t bad_order = 0, bad_range = 0, bad_node = 0, failed = 0;
    int64_t id = 0;
    for (size_t i = 0; i < n; ++i) {
        err[0] = '\0';
        if (xl_auditid_next(ids, &id, err, sizeof(err)) != 0) {
            if (failed++ == 0)
                fprintf(stderr, "  xl_auditid_next failed at %zu: %s\n", i, err);
            continue;
        }
        bad_order += id <= prev;
        bad_range += id <= 0 || id > XL_AUDIT_ID_MAX;
        bad_node += (id & 0xff) != node;
        prev = id;
    }
    XL_CHECK_INT(failed, 0);
    XL_CHECK_INT(bad_order, 0);
    XL_CHECK_INT(bad_range, 0);
    XL_CHECK_INT(bad_node, 0);
    return failed ? 0 : prev;
}

static void test_fresh(void)
{
    char err[256] = "";
    XL_PHASE("fresh directory");
    int64_t floor = clock_counter();
    xl_auditid_t *ids = xl_auditid_create(dir, 7, err, sizeof(err));
    XL_CHECK(ids != NULL, "create: %s", err);
    if (ids == NULL)
        return;
    XL_CHECK_INT(read_reservation(7), -1); /* nothing reserved before the first ID */

    int64_t first;
    XL_CHECK(xl_auditid_next(ids, &first, err, sizeof(err)) == 0, "%s", err);
    XL_CHECK(first > 0 && first <= XL_AUDIT_ID_MAX, "first ID %lld out of range", (long long)first);
    XL_CHECK_INT(first & 0xff, 7);
    XL_CHECK(first >> 8 >= floor, "counter %lld behind the wall clock %lld", (long long)(first >> 8),
             (long long)floor);
    XL_CHECK(first >> 8 < floor + 16 * 60 * 1000, "counter %lld far ahead of the wall clock %lld",
             (long long)(first >> 8), (long long)floor);

    XL_PHASE("reserved before use");
    long long r1 = read_reservation(7);
    XL_CHECK(r1 > first >> 8, "reservation %lld does not cover the first counter %lld", r1, (long long)(first >> 8));
    XL_CHECK_INT(r1, (first >> 8) + BLOCK);

    XL_PHASE("first block");
    /* the rest of the first block: no new reservation */
    int64_t last = allocate(ids, 7, BLOCK - 1, first);
    XL_CHECK_INT(last >> 8, (first >> 8) + BLOCK - 1);
    XL_CHECK_INT(read_reservation(7), r1);

    XL_PHASE("across the block boundary");
    int64_t next = allocate(ids, 7, 10, last);
    XL_CHECK_INT(next >> 8, (last >> 8) + 10);
    long long r2 = read_reservation(7);
    XL_CHECK_INT(r2, r1 + BLOCK);
    XL_CHECK(r2 > next >> 8, "reservation %lld behind issued counter %lld", r2, (long long)(next >> 8));
    xl_auditid_destroy(ids);

    XL_PHASE("a new allocator on the same directory");
    ids = xl_auditid_create(dir, 7, err, sizeof(err));
    XL_CHECK(ids != NULL, "reopen: %s", err);
    if (ids == NULL)
        return;
    int64_t again = allocate(ids, 7, 1, next);
    XL_CHECK(again > next, "reissued: %lld after %lld", (long long)again, (long long)next);
    XL_CHECK(again >> 8 >= r2, "counter %lld below the old reservation %lld", (long long)(again >> 8), r2);
    /* and one more block's worth, so the second allocator also crosses a boundary */
    int64_t more = allocate(ids, 7, BLOCK + 5, again);
    XL_CHECK(more > again, "%lld after %lld", (long long)more, (long long)again);
    xl_auditid_destroy(ids);

    XL_PHASE("reopen without allocating, twice");
    for (int k = 0; k < 2; ++k) {
        ids = xl_auditid_create(dir, 7, err, sizeof(err));
        XL_CHECK(ids != NULL, "reopen: %s", err);
        if (ids == NULL)
            return;
        xl_auditid_destroy(ids);
    }
    ids = xl_auditid_create(dir, 7, err, sizeof(err));
    if (ids != NULL) {
        int64_t after = allocate(ids, 7, 1, more);
        XL_CHECK(after > more, "reissued after idle reopens: %lld after %lld", (long long)after, (long long)more);
        xl_auditid_destroy(ids);
    }
}

static void test_nodes(void)
{
    char err[256] = "";
    XL_PHASE("nodes");
    xl_auditid_t *a = xl_auditid_create(dir, 0, err, sizeof(err));
    xl_auditid_t *b = xl_auditid_create(dir, 255, err, sizeof(err));
    XL_CHECK(a != NULL && b != NULL, "create nodes 0 and 255: %s", err);
    if (a != NULL && b != NULL) {
        int64_t ia = allocate(a, 0, 100, 0), ib = allocate(b, 255, 100, 0);
        XL_CHECK(ia != ib, "nodes 0 and 255 issued the same ID %lld", (long long)ia);
        XL_CHECK(read_reservation(0) > 0 && read_reservation(255) > 0, "one reservation file per node");
    }
    xl_auditid_destroy(a);
    xl_auditid_destroy(b);

    XL_PHASE("node out of range");
    err[0] = '\0';
    XL_CHECK(xl_auditid_create(dir, 256, err, sizeof(err)) == NULL, "node 256 accepted");
    XL_CHECK(err[0] != '\0', "node 256: no error text");
    err[0] = '\0';
    XL_CHECK(xl_auditid_create(dir, -1, err, sizeof(err)) == NULL, "node -1 accepted");
    XL_CHECK(err[0] != '\0', "node -1: no error text");
}

static void test_corrupt(void)
{
    static const char *const bad[] = {"garbage\n", "", "-5\n", "99999999999999999999\n", "35184372088833\n"};
    char err[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
        XL_PHASE("corrupt reservation file");
        write_reservation(3, bad[i]);
        err[0] = '\0';
        xl_auditid_t *ids = xl_auditid_create(dir, 3, err, sizeof(err));
        XL_CHECK(ids == NULL, "a reservation file holding '%s' was accepted", bad[i]);
        XL_CHECK(err[0] != '\0' && strstr(err, "audit_id.3") != NULL, "error names the file: '%s'", err);
        xl_auditid_destroy(ids);
        /* the file is left for the operator: never overwritten by a guess */
        char path[512], text[64] = "";
        path_of(path, sizeof(path), 3);
        FILE *fp = fopen(path, "r");
        size_t n = fp != NULL ? fread(text, 1, sizeof(text) - 1, fp) : 0;
        if (fp != NULL)
            fclose(fp);
        XL_CHECK_STR(text, n, bad[i]);
    }

    XL_PHASE("unreadable directory");
    char file[512];
    snprintf(file, sizeof(file), "%s/plainfile", dir);
    FILE *fp = fopen(file, "w");
    fclose(fp);
    char sub[600];
    snprintf(sub, sizeof(sub), "%s/sub", file);
    err[0] = '\0';
    xl_auditid_t *ids = xl_auditid_create(sub, 0, err, sizeof(err));
    XL_CHECK(ids == NULL, "a directory below a plain file was accepted");
    XL_CHECK(err[0] != '\0', "no error text");
    xl_auditid_destroy(ids);
}

static void test_ahead_and_exhausted(void)
{
    char err[256] = "", text[64];
    XL_PHASE("reservation ahead of the clock");
    long long ahead = (long long)clock_counter() + 1000000000LL;
    snprintf(text, sizeof(text), "%lld\n", ahead);
    write_reservation(4, text);
    xl_auditid_t *ids = xl_auditid_create(dir, 4, err, sizeof(err));
    XL_CHECK(ids != NULL, "%s", err);
    if (ids != NULL) {
        int64_t id = allocate(ids, 4, 1, 0);
        XL_CHECK_INT(id >> 8, ahead);
        xl_auditid_destroy(ids);
    }

    XL_PHASE("counter exhausted");
    snprintf(text, sizeof(text), "%lld\n", (long long)COUNTER_MAX - 2);
    write_reservation(5, text);
    ids = xl_auditid_create(dir, 5, err, sizeof(err));
    XL_CHECK(ids != NULL, "%s", err);
    if (ids == NULL)
        return;
    int64_t last = allocate(ids, 5, 2, 0);
    XL_CHECK(last > 0 && last <= XL_AUDIT_ID_MAX, "last ID %lld", (long long)last);
    XL_CHECK_INT(last >> 8, COUNTER_MAX - 1);
    for (int k = 0; k < 2; ++k) {
        int64_t id = 0;
        err[0] = '\0';
        int ret = xl_auditid_next(ids, &id, err, sizeof(err));
        XL_CHECK(ret < 0, "an ID beyond the counter's end: %lld", (long long)id);
        XL_CHECK(err[0] != '\0', "no error text when exhausted");
    }
    XL_CHECK(read_reservation(5) <= COUNTER_MAX, "reservation %lld beyond the counter's end", read_reservation(5));
    xl_auditid_destroy(ids);
}

int main(void)
{
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    test_fresh();
    test_nodes();
    test_corrupt();
    test_ahead_and_exhausted();
    xl_test_rm_rf(dir);
    return xl_test_finish();
}
