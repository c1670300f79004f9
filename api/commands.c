/*
 * execlogd's offline commands (see commands.h): argument parsing and the
 * report; the work is in projector/rebuild.c and projector/store.c.
 *
 * A command must never start the daemon's parts (broker, HTTP, projector)
 * and never create a store where none is: a typo in data.dir is an error,
 * not an empty digest.
 */
#include "api/commands.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "api/config.h"
#include "projector/rebuild.h"
#include "projector/store.h"
#include "schemas/base/log.h"

typedef struct st_xl_command_opts_t {
    xl_config_t cfg;
    int from_kafka;
    char store_dir[4096];
} xl_command_opts_t;

typedef int (*xl_command_fn)(xl_command_opts_t *opts);

static int cmd_rebuild(xl_command_opts_t *opts);
static int cmd_digest(xl_command_opts_t *opts);

/* clang-format off */
static const struct st_xl_command_t {
    const char *name;
    xl_command_fn run;
    int from_kafka_flag; /* accepts --from-kafka */
    const char *usage;
} commands[] = {
    {"rebuild", cmd_rebuild, 1, "execlogd rebuild [--from-kafka] [-c FILE] [--key=value ...]\n"
                                "  drop the derived projections of <data.dir>/projections and fold them again from\n"
                                "  the local event archive, or with --from-kafka everything from the topic\n"},
    {"digest",  cmd_digest,  0, "execlogd digest [-c FILE] [--key=value ...]\n"
                                "  print the SHA-256 digest of the projections of <data.dir>/projections\n"},
};
/* clang-format on */
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct st_xl_command_t *find(const char *name)
{
    for (size_t i = 0; i != NCOMMANDS; ++i)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

int xl_commands_is(const char *name)
{
    return name != NULL && find(name) != NULL;
}

static int take_from_kafka(void *ctx, const char *arg)
{
    if (strcmp(arg, "--from-kafka") != 0)
        return 0;
    ((xl_command_opts_t *)ctx)->from_kafka = 1;
    return 1;
}

/* Settings exactly as the daemon reads them, plus --from-kafka where the command takes it. */
static int parse(const struct st_xl_command_t *cmd, xl_command_opts_t *opts, int argc, char **argv, char *err,
                 size_t errlen)
{
    return xl_config_parse_args(&opts->cfg, argc, argv, 2, cmd->from_kafka_flag ? take_from_kafka : NULL, opts, err,
                                errlen);
}

/* The store must exist: a command never creates one. */
static int store_exists(const char *dir)
{
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "execlogd: no store at %s (check data.dir)\n", dir);
        return 0;
    }
    return 1;
}

static int cmd_digest(xl_command_opts_t *opts)
{
    char err[512], hex[XL_STORE_DIGEST_HEX_LEN + 1];
    if (!store_exists(opts->store_dir))
        return 1;
    xl_store_t *store = xl_store_open(opts->store_dir, 0, err, sizeof(err));
    if (store == NULL) {
        fprintf(stderr, "execlogd digest: %s (is execlogd running on it? use GET /v1/admin/digest)\n", err);
        return 1;
    }
    int ret = xl_store_digest(store, hex, err, sizeof(err));
    xl_store_close(store);
    if (ret != 0) {
        fprintf(stderr, "execlogd digest: %s\n", err);
        return 1;
    }
    printf("%s\n", hex);
    return 0;
}

static int cmd_rebuild(xl_command_opts_t *opts)
{
    char err[512];
    xl_rebuild_stats_t stats;
    xl_rebuild_conf_t conf = {.store_dir = opts->store_dir,
                              .from_kafka = opts->from_kafka,
                              .topic = opts->cfg.topic,
                              .kafka_props = (const char *const *)opts->cfg.kafka,
                              .nkafka_props = opts->cfg.nkafka,
                              .progress = 1,
                              .stats = &stats};

    if (opts->from_kafka && xl_config_kafka(&opts->cfg, "bootstrap.servers") == NULL) {
        fprintf(stderr, "execlogd rebuild: --from-kafka needs kafka.bootstrap.servers (the embedded broker's log "
                        "lives only in the daemon's memory; rebuild from the archive instead)\n");
        return 2;
    }
    if (!store_exists(opts->store_dir))
        return 1;
    if (xl_rebuild_run(&conf, err, sizeof(err)) != 0) {
        fprintf(stderr, "execlogd rebuild: %s\n", err);
        return 1;
    }
    double rate = stats.seconds > 0 ? (double)stats.messages / stats.seconds : 0;
    char tail[160] = "";
    if (opts->from_kafka)
        snprintf(tail, sizeof(tail), "; %llu duplicates and %llu rejected messages skipped (not dead-lettered again)",
                 (unsigned long long)stats.duplicates, (unsigned long long)stats.rejected);
    else
        snprintf(tail, sizeof(tail), ", in %s order", stats.order ? "(partition, offset)" : "(audit_id, seq)");
    fprintf(stderr, "execlogd rebuild: %llu %s, %llu archived, %llu executions in %.2f s (%.0f events/s)%s\n",
            (unsigned long long)stats.messages,
            opts->from_kafka ? "messages from the topic" : "events from the archive", (unsigned long long)stats.applied,
            (unsigned long long)stats.executions, stats.seconds, rate, tail);
    return 0;
}

int xl_commands_main(int argc, char **argv)
{
    char err[512];
    xl_command_opts_t opts;
    const struct st_xl_command_t *cmd = find(argv[1]);
    int status;

    if (cmd == NULL)
        return 2;
    for (int i = 2; i < argc; ++i) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(cmd->usage, stdout);
            return 0;
        }
    }
    memset(&opts, 0, sizeof(opts));
    xl_config_init(&opts.cfg);
    if (parse(cmd, &opts, argc, argv, err, sizeof(err)) != 0) {
        fprintf(stderr, "execlogd %s: %s\n%s", cmd->name, err, cmd->usage);
        xl_config_dispose(&opts.cfg);
        return 2;
    }
    xl_log_set_level(opts.cfg.log_level);
    snprintf(opts.store_dir, sizeof(opts.store_dir), "%s/projections", opts.cfg.data_dir);
    status = cmd->run(&opts);
    xl_config_dispose(&opts.cfg);
    return status;
}
