/*
 * execlogd's offline commands, run instead of the daemon:
 *   execlogd rebuild [--from-kafka] [-c FILE] [--key=value ...]
 *   execlogd digest  [-c FILE] [--key=value ...]
 * They read the same settings as the daemon (data.dir, topic, kafka.*) and
 * work on <data.dir>/projections, which the daemon must not hold open.
 * They never serve HTTP and never write to Kafka.
 */
#ifndef XL_API_COMMANDS_H
#define XL_API_COMMANDS_H

/** @brief 1 if name is a command of execlogd ("rebuild", "digest"), else 0. */
int xl_commands_is(const char *name);

/**
 * @brief Run the command argv[1] with its arguments argv[2..argc).
 * @return the process exit status: 0 done, 1 failed, 2 bad usage.
 */
int xl_commands_main(int argc, char **argv);

#endif
