/*
 * Tests of api/config.c: the defaults the README documents, xl_config_set
 * (ranges, booleans, levels, kafka.* passthrough, unknown keys), and
 * properties files (comments, blank lines, spaces, CRLF, the last value of a
 * key wins, errors with FILE:LINE). The order defaults < file < flags is
 * main's job; here a set after a load must override the file's value.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/config.h"
#include "schemas/base/log.h"
#include "tests/test.h"

static char dir[] = "/tmp/xl-test-config-XXXXXX";

#define CHECK_CSTR(s, text) XL_CHECK((s) != NULL && strcmp((s), (text)) == 0, "%s = '%s', expected '%s'", #s, (s) ? (s) : "(null)", (text))

static const char *write_file(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    fputs(text, fp);
    fclose(fp);
    return path;
}

static void test_defaults(void)
{
    xl_config_t cfg;
    XL_PHASE("defaults");
    xl_config_init(&cfg);
    CHECK_CSTR(cfg.listen, "127.0.0.1:8080");
    CHECK_CSTR(cfg.data_dir, "./data");
    CHECK_CSTR(cfg.topic, "execlog.events");
    CHECK_CSTR(cfg.dlq_topic, "execlog.events.dlq");
    XL_CHECK(cfg.group_id == NULL, "group_id defaults to the replica's own group, not '%s'", cfg.group_id);
    CHECK_CSTR(cfg.role, "all");
    XL_CHECK_INT(cfg.topic_partitions, 6);
    XL_CHECK_INT(cfg.topic_replication, 3);
    XL_CHECK_INT(cfg.topic_retention_h, -1);
    CHECK_CSTR(cfg.ack, "auto");
    XL_CHECK_INT(cfg.embedded_brokers, 3);
    XL_CHECK_INT(cfg.embedded_partitions, 6);
    XL_CHECK_INT(cfg.node_id, 0);
    XL_CHECK_INT(cfg.ack_timeout_ms, 10000);
    XL_CHECK_INT(cfg.max_body, 1048576);
    XL_CHECK_INT(cfg.cache_bytes, 64 << 20);
    XL_CHECK_INT(cfg.sync_writes, 1);
    XL_CHECK_INT(cfg.log_level, xl_log_parse_level("info"));
    XL_CHECK_INT(cfg.nkafka, 0);
    XL_CHECK(xl_config_kafka(&cfg, "bootstrap.servers") == NULL, "no bootstrap servers by default (embedded broker)");
    XL_CHECK(cfg.listen_tls == NULL && cfg.tls_cert == NULL && cfg.tls_key == NULL, "no TLS listener by default");
    XL_CHECK(cfg.auth_tokens == NULL, "no tokens file by default (protected mode)");
    XL_CHECK_INT(cfg.projector_threads, 1);
    XL_CHECK_INT(cfg.idle_timeout_ms, 10000);
    XL_CHECK_INT(cfg.wait_max_ms, 10000);
    XL_CHECK_INT(cfg.stream_keepalive_ms, 15000);
    xl_config_dispose(&cfg);
}

static void test_set(void)
{
    xl_config_t cfg;
    char err[256];
    xl_config_init(&cfg);

    XL_PHASE("set: strings");
    XL_CHECK_INT(xl_config_set(&cfg, "listen", "0.0.0.0:9090", err, sizeof(err)), 0);
    CHECK_CSTR(cfg.listen, "0.0.0.0:9090");
    XL_CHECK_INT(xl_config_set(&cfg, "data.dir", "/var/lib/execlog", err, sizeof(err)), 0);
    CHECK_CSTR(cfg.data_dir, "/var/lib/execlog");
    XL_CHECK_INT(xl_config_set(&cfg, "topic", "t1", err, sizeof(err)), 0);
    XL_CHECK_INT(xl_config_set(&cfg, "topic", "t2", err, sizeof(err)), 0); /* the last one wins */
    CHECK_CSTR(cfg.topic, "t2");
    XL_CHECK_INT(xl_config_set(&cfg, "topic.dlq", "t2.dlq", err, sizeof(err)), 0);
    CHECK_CSTR(cfg.dlq_topic, "t2.dlq");
    XL_CHECK_INT(xl_config_set(&cfg, "projector.group.id", "g", err, sizeof(err)), 0);
    CHECK_CSTR(cfg.group_id, "g");
    XL_CHECK_INT(xl_config_set(&cfg, "ingest.ack", "delivered", err, sizeof(err)), 0);
    CHECK_CSTR(cfg.ack, "delivered");
    err[0] = '\0';
    XL_CHECK_INT(xl_config_set(&cfg, "listen", "", err, sizeof(err)), -EINVAL);
    XL_CHECK(strstr(err, "listen") != NULL, "error does not name the key: '%s'", err);
    CHECK_CSTR(cfg.listen, "0.0.0.0:9090");

    XL_PHASE("set: integers and their ranges");
    static const struct {
        const char *key;
        const char *lo, *hi, *below, *above;
    } ranges[] = {
        {"ingest.node.id", "0", "255", "-1", "256"},
        {"embedded.brokers", "1", "16", "0", "17"},
        {"embedded.partitions", "1", "256", "0", "257"},
        {"projector.threads", "1", "64", "0", "65"},
        {"ingest.timeout.ms", "100", "600000", "99", "600001"},
        {"http.max_body", "64", "1073741824", "63", "1073741825"},
        {"http.cache.bytes", "0", "1099511627776", "-1", "1099511627777"},
    };
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); ++i) {
        const char *key = ranges[i].key;
        XL_CHECK(xl_config_set(&cfg, key, ranges[i].lo, err, sizeof(err)) == 0, "%s=%s: %s", key, ranges[i].lo, err);
        XL_CHECK(xl_config_set(&cfg, key, ranges[i].hi, err, sizeof(err)) == 0, "%s=%s: %s", key, ranges[i].hi, err);
        static const char *const junk[] = {"", "12x", "x", "1.5", "99999999999999999999999"};
        const char *bad[2 + sizeof(junk) / sizeof(junk[0])] = {ranges[i].below, ranges[i].above};
        for (size_t k = 0; k < sizeof(junk) / sizeof(junk[0]); ++k)
            bad[2 + k] = junk[k];
        for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); ++k) {
            err[0] = '\0';
            XL_CHECK(xl_config_set(&cfg, key, bad[k], err, sizeof(err)) == -EINVAL, "%s='%s' accepted", key, bad[k]);
            XL_CHECK(strstr(err, key) != NULL, "%s='%s': error does not name the key: '%s'", key, bad[k], err);
        }
    }
    /* a refused value leaves the previous one */
    XL_CHECK_INT(xl_config_set(&cfg, "ingest.node.id", "42", err, sizeof(err)), 0);
    XL_CHECK_INT(cfg.node_id, 42);
    XL_CHECK_INT(xl_config_set(&cfg, "ingest.node.id", "256", err, sizeof(err)), -EINVAL);
    XL_CHECK_INT(cfg.node_id, 42);
    XL_CHECK_INT(xl_config_set(&cfg, "http.max_body", "1024", err, sizeof(err)), 0);
    XL_CHECK_INT(cfg.max_body, 1024);
    XL_CHECK_INT(xl_config_set(&cfg, "ingest.timeout.ms", "2500", err, sizeof(err)), 0);
    XL_CHECK_INT(cfg.ack_timeout_ms, 2500);
    XL_CHECK_INT(xl_config_set(&cfg, "embedded.partitions", "12", err, sizeof(err)), 0);
    XL_CHECK_INT(cfg.embedded_partitions, 12);
    XL_CHECK_INT(xl_config_set(&cfg, "http.cache.bytes", "0", err, sizeof(err)), 0); /* 0: no cache */
    XL_CHECK_INT(cfg.cache_bytes, 0);

    XL_PHASE("set: booleans");
    static const struct {
        const char *text;
        int value;
    } bools[] = {{"false", 0}, {"true", 1}, {"0", 0}, {"1", 1}};
    for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); ++i) {
        XL_CHECK_INT(xl_config_set(&cfg, "store.sync", bools[i].text, err, sizeof(err)), 0);
        XL_CHECK_INT(cfg.sync_writes, bools[i].value);
    }
    static const char *const notbool[] = {"yes", "", "TRUE ", "2"};
    for (size_t i = 0; i < sizeof(notbool) / sizeof(notbool[0]); ++i) {
        err[0] = '\0';
        XL_CHECK(xl_config_set(&cfg, "store.sync", notbool[i], err, sizeof(err)) == -EINVAL, "store.sync='%s' accepted",
                 notbool[i]);
        XL_CHECK(strstr(err, "store.sync") != NULL, "'%s'", err);
    }
    XL_CHECK_INT(cfg.sync_writes, 1);

    XL_PHASE("set: log level");
    static const char *const levels[] = {"error", "warn", "info", "debug"};
    for (size_t i = 0; i < 4; ++i) {
        XL_CHECK_INT(xl_config_set(&cfg, "log.level", levels[i], err, sizeof(err)), 0);
        XL_CHECK_INT(cfg.log_level, xl_log_parse_level(levels[i]));
    }
    XL_CHECK(xl_log_parse_level("error") != xl_log_parse_level("debug"), "levels are distinct");
    err[0] = '\0';
    XL_CHECK_INT(xl_config_set(&cfg, "log.level", "loud", err, sizeof(err)), -EINVAL);
    XL_CHECK(strstr(err, "log.level") != NULL, "'%s'", err);

    XL_PHASE("set: unknown keys");
    static const char *const unknown[] = {"lissten", "Listen", "data_dir", "kafka.", "kafka", "kafkax.acks", "", "topic "};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); ++i) {
        err[0] = '\0';
        XL_CHECK(xl_config_set(&cfg, unknown[i], "v", err, sizeof(err)) == -EINVAL, "unknown key '%s' accepted",
                 unknown[i]);
        XL_CHECK(err[0] != '\0' && strstr(err, unknown[i]) != NULL, "error for '%s' does not name it: '%s'", unknown[i],
                 err);
    }
    XL_CHECK_INT(cfg.nkafka, 0);

    XL_PHASE("set: kafka.* goes to librdkafka unchanged");
    XL_CHECK_INT(xl_config_set(&cfg, "kafka.bootstrap.servers", "b1:9092,b2:9092", err, sizeof(err)), 0);
    XL_CHECK_INT(xl_config_set(&cfg, "kafka.security.protocol", "SASL_SSL", err, sizeof(err)), 0);
    XL_CHECK_INT(xl_config_set(&cfg, "kafka.no.such.librdkafka.key", "anything at all", err, sizeof(err)), 0);
    XL_CHECK_INT(cfg.nkafka, 3);
    CHECK_CSTR(xl_config_kafka(&cfg, "bootstrap.servers"), "b1:9092,b2:9092");
    CHECK_CSTR(xl_config_kafka(&cfg, "security.protocol"), "SASL_SSL");
    CHECK_CSTR(xl_config_kafka(&cfg, "no.such.librdkafka.key"), "anything at all");
    XL_CHECK(xl_config_kafka(&cfg, "kafka.bootstrap.servers") == NULL, "the prefix is stripped");
    XL_CHECK(xl_config_kafka(&cfg, "acks") == NULL, "unset kafka key found");
    if (cfg.nkafka == 3) {
        CHECK_CSTR(cfg.kafka[0], "bootstrap.servers");
        CHECK_CSTR(cfg.kafka[1], "b1:9092,b2:9092");
        CHECK_CSTR(cfg.kafka[2], "security.protocol");
        CHECK_CSTR(cfg.kafka[4], "no.such.librdkafka.key");
    }
    /* setting a key again replaces its value in place */
    XL_CHECK_INT(xl_config_set(&cfg, "kafka.bootstrap.servers", "b3:9092", err, sizeof(err)), 0);
    XL_CHECK_INT(cfg.nkafka, 3);
    CHECK_CSTR(xl_config_kafka(&cfg, "bootstrap.servers"), "b3:9092");
    if (cfg.nkafka == 3)
        CHECK_CSTR(cfg.kafka[0], "bootstrap.servers");
    xl_config_dispose(&cfg);
}

static void test_file(void)
{
    xl_config_t cfg;
    char err[512];

    XL_PHASE("file: comments, blanks, spaces, CRLF");
    const char *path = write_file("good.properties", "# execlogd settings\n"
                                                     "\n"
                                                     "   # an indented comment\n"
                                                     "listen = 127.0.0.1:9999\n"
                                                     "data.dir=/srv/execlog\n"
                                                     "\tingest.node.id\t=\t17\t\n"
                                                     "store.sync = false\r\n"
                                                     "log.level = debug\n"
                                                     "kafka.bootstrap.servers = k1:9092\n"
                                                     "kafka.sasl.jaas.config = a=b c=d\n"
                                                     "topic = first\n"
                                                     "topic = second\n"
                                                     "   \n"
                                                     "http.max_body = 2048"); /* no newline at the end */
    xl_config_init(&cfg);
    err[0] = '\0';
    XL_CHECK(xl_config_load_file(&cfg, path, err, sizeof(err)) == 0, "load: %s", err);
    CHECK_CSTR(cfg.listen, "127.0.0.1:9999");
    CHECK_CSTR(cfg.data_dir, "/srv/execlog");
    XL_CHECK_INT(cfg.node_id, 17);
    XL_CHECK_INT(cfg.sync_writes, 0);
    XL_CHECK_INT(cfg.log_level, xl_log_parse_level("debug"));
    CHECK_CSTR(xl_config_kafka(&cfg, "bootstrap.servers"), "k1:9092");
    CHECK_CSTR(xl_config_kafka(&cfg, "sasl.jaas.config"), "a=b c=d");
    CHECK_CSTR(cfg.topic, "second");
    XL_CHECK_INT(cfg.max_body, 2048);
    /* untouched keys keep their defaults */
    CHECK_CSTR(cfg.dlq_topic, "execlog.events.dlq");
    XL_CHECK_INT(cfg.ack_timeout_ms, 10000);

    XL_PHASE("file, then a flag: the flag wins");
    XL_CHECK_INT(xl_config_set(&cfg, "listen", "127.0.0.1:1", err, sizeof(err)), 0);
    CHECK_CSTR(cfg.listen, "127.0.0.1:1");
    XL_CHECK_INT(xl_config_set(&cfg, "kafka.bootstrap.servers", "k2:9092", err, sizeof(err)), 0);
    CHECK_CSTR(xl_config_kafka(&cfg, "bootstrap.servers"), "k2:9092");
    xl_config_dispose(&cfg);

    XL_PHASE("file: empty file");
    xl_config_init(&cfg);
    XL_CHECK_INT(xl_config_load_file(&cfg, write_file("empty.properties", ""), err, sizeof(err)), 0);
    CHECK_CSTR(cfg.listen, "127.0.0.1:8080");
    xl_config_dispose(&cfg);

    XL_PHASE("file: errors name FILE:LINE");
    static const struct {
        const char *name, *text, *where, *also;
    } bad[] = {
        {"noeq.properties", "# ok\nlisten = a:1\nlisten a:2\n", "noeq.properties:3:", "key = value"},
        {"unknown.properties", "listen = a:1\n\nlissten = a:2\n", "unknown.properties:3:", "lissten"},
        {"range.properties", "ingest.node.id = 300\n", "range.properties:1:", "ingest.node.id"},
        {"empty.value.properties", "\n\ntopic =\n", "empty.value.properties:3:", "topic"},
        {"bool.properties", "# c\n# c\n# c\nstore.sync = maybe\n", "bool.properties:4:", "store.sync"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
        xl_config_init(&cfg);
        err[0] = '\0';
        int ret = xl_config_load_file(&cfg, write_file(bad[i].name, bad[i].text), err, sizeof(err));
        XL_CHECK(ret < 0, "%s accepted", bad[i].name);
        XL_CHECK(strstr(err, bad[i].where) != NULL, "%s: error '%s' does not say '%s'", bad[i].name, err, bad[i].where);
        XL_CHECK(strstr(err, bad[i].also) != NULL, "%s: error '%s' does not say '%s'", bad[i].name, err, bad[i].also);
        xl_config_dispose(&cfg);
    }

    XL_PHASE("file: missing");
    xl_config_init(&cfg);
    char missing[600];
    snprintf(missing, sizeof(missing), "%s/no-such.properties", dir);
    err[0] = '\0';
    XL_CHECK(xl_config_load_file(&cfg, missing, err, sizeof(err)) < 0, "a missing file loaded");
    XL_CHECK(strstr(err, "no-such.properties") != NULL, "error does not name the file: '%s'", err);
    xl_config_dispose(&cfg);
}

static void test_help(void)
{
    XL_PHASE("help lists every key");
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    xl_config_print_help(fp);
    fclose(fp);
    static const char *const keys[] = {"--listen", "--data.dir", "--topic", "--topic.dlq", "--projector.group.id",
                                       "--embedded.brokers", "--embedded.partitions", "--ingest.node.id", "--ingest.ack",
                                       "--ingest.timeout.ms", "--http.max_body", "--store.sync", "--log.level",
                                       "--kafka.<name>", "--listen.tls", "--tls.cert", "--tls.key", "--auth.tokens",
                                       "--http.idle_timeout.ms", "--read.wait.max.ms", "--stream.keepalive.ms",
                                       "--http.cache.bytes"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); ++i)
        XL_CHECK(text != NULL && strstr(text, keys[i]) != NULL, "--help does not mention %s", keys[i]);
    free(text);
}

int main(void)
{
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    test_defaults();
    test_set();
    test_file();
    test_help();
    xl_test_rm_rf(dir);
    return xl_test_finish();
}
