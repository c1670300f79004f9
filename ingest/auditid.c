/*
 * Audit ID allocator (see auditid.h). The reservation file holds one decimal
 * number: the first counter value NOT yet reserved. It must never be written
 * with a smaller value than before.
 */
#include "ingest/auditid.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "schemas/base/clock.h"
#include "schemas/event.h"

#define NODE_BITS 8
#define COUNTER_MAX (XL_AUDIT_ID_MAX >> NODE_BITS)
#define RESERVE_BLOCK 65536
#define EPOCH_2024_MS 1704067200000LL
#define PER_MS 16

struct st_xl_auditid_t {
    char *path;
    int node_id;
    int64_t next;     /* next counter value to hand out */
    int64_t reserved; /* first counter value not reserved on disk */
};

static int64_t clock_floor(void)
{
    int64_t ms = xl_now_ms() - EPOCH_2024_MS;
    return ms > 0 ? ms * PER_MS : 1;
}

static int write_reservation(xl_auditid_t *ids, int64_t upto, char *err, size_t errlen)
{
    char tmp[4096], text[32];
    snprintf(tmp, sizeof(tmp), "%s.tmp", ids->path);
    int len = snprintf(text, sizeof(text), "%lld\n", (long long)upto);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        goto fail;
    if (write(fd, text, (size_t)len) != len || fsync(fd) != 0) {
        close(fd);
        goto fail;
    }
    close(fd);
    if (rename(tmp, ids->path) != 0)
        goto fail;
    /* the rename itself must survive a crash: sync the directory */
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", ids->path);
    char *slash = strrchr(dir, '/');
    if (slash != NULL) {
        *slash = '\0';
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    ids->reserved = upto;
    return 0;
fail:
    snprintf(err, errlen, "cannot reserve audit IDs in %s: %s", ids->path, strerror(errno));
    return -EIO;
}

xl_auditid_t *xl_auditid_create(const char *dir, int node_id, char *err, size_t errlen)
{
    xl_auditid_t *ids = NULL;
    FILE *fp = NULL;
    if (node_id < 0 || node_id >= (1 << NODE_BITS)) {
        snprintf(err, errlen, "node ID %d is outside 0..%d", node_id, (1 << NODE_BITS) - 1);
        goto fail;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        goto fail;
    }
    ids = calloc(1, sizeof(*ids));
    size_t plen = strlen(dir) + 32;
    ids->path = malloc(plen);
    snprintf(ids->path, plen, "%s/audit_id.%d", dir, node_id);
    ids->node_id = node_id;

    int64_t stored = 0;
    if ((fp = fopen(ids->path, "r")) != NULL) {
        long long v;
        if (fscanf(fp, "%lld", &v) != 1 || v < 0 || v > COUNTER_MAX) {
            snprintf(err, errlen, "%s is corrupt; refusing to guess where audit IDs stand", ids->path);
            goto fail;
        }
        stored = v;
        fclose(fp);
        fp = NULL;
    } else if (errno != ENOENT) {
        snprintf(err, errlen, "cannot read %s: %s", ids->path, strerror(errno));
        goto fail;
    }
    int64_t floor = clock_floor();
    ids->next = stored > floor ? stored : floor;
    ids->reserved = ids->next;
    return ids;
fail:
    if (fp != NULL)
        fclose(fp);
    xl_auditid_destroy(ids);
    return NULL;
}

void xl_auditid_destroy(xl_auditid_t *ids)
{
    if (ids == NULL)
        return;
    free(ids->path);
    free(ids);
}

int xl_auditid_next(xl_auditid_t *ids, int64_t *id, char *err, size_t errlen)
{
    if (ids->next >= COUNTER_MAX) {
        snprintf(err, errlen, "audit ID counter exhausted on node %d", ids->node_id);
        return -ERANGE;
    }
    if (ids->next >= ids->reserved) {
        int64_t upto = ids->next + RESERVE_BLOCK;
        if (upto > COUNTER_MAX)
            upto = COUNTER_MAX;
        int ret = write_reservation(ids, upto, err, errlen);
        if (ret != 0)
            return ret;
    }
    *id = (ids->next++ << NODE_BITS) | ids->node_id;
    return 0;
}
