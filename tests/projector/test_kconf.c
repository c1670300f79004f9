/*
 * Tests of projector/kconf.c, the one builder of librdkafka configurations:
 * the precedence of its three layers (defaults, then the operator's kafka.*
 * settings, then what must not be overridden), read back from the built
 * rd_kafka_conf_t with rd_kafka_conf_get, for each client whose contract
 * rests on a locked setting; and the error an unknown or bad setting gives.
 */
#include <string.h>

#include "projector/kconf.h"
#include "tests/test.h"

/* The value of name in kconf, or "(unset)"; valid until the next call. */
static const char *get(const rd_kafka_conf_t *kconf, const char *name)
{
    static char value[512];
    size_t len = sizeof(value);
    if (rd_kafka_conf_get(kconf, name, value, &len) != RD_KAFKA_CONF_OK)
        return "(unset)";
    return value;
}

#define CHECK_GET(kconf, name, want)                                                                                   \
    do {                                                                                                               \
        const char *got_ = get(kconf, name);                                                                           \
        XL_CHECK(strcmp(got_, want) == 0, "%s = '%s', expected '%s'", name, got_, want);                               \
    } while (0)

/* what an operator who wants a fast, unsafe producer would write */
static const char *const unsafe[] = {
    "bootstrap.servers", "broker-1:9092", "linger.ms", "50", "acks", "0", "enable.idempotence", "false",
    "client.id", "operator-id", "message.timeout.ms", "777",
};
#define NUNSAFE (sizeof(unsafe) / sizeof(unsafe[0]) / 2)

int main(void)
{
    char err[512];
    rd_kafka_conf_t *kconf;

    XL_PHASE("ingest producer: defaults alone");
    {
        const char *const defaults[] = {"message.timeout.ms", "4321"};
        const xl_kconf_spec_t spec = {.client = XL_KCONF_INGEST_PRODUCER, .defaults = defaults, .ndefaults = 1};
        XL_REQUIRE((kconf = xl_kconf_build(&spec, err, sizeof(err))) != NULL, "%s", err);
        CHECK_GET(kconf, "linger.ms", "2");
        CHECK_GET(kconf, "partitioner", "murmur2_random");
        CHECK_GET(kconf, "client.id", "execlog-ingest");
        CHECK_GET(kconf, "message.max.bytes", "2097152");
        CHECK_GET(kconf, "message.timeout.ms", "4321"); /* the caller's default after the row's */
        CHECK_GET(kconf, "enable.idempotence", "true");
        CHECK_GET(kconf, "acks", "-1"); /* "all" */
        rd_kafka_conf_destroy(kconf);
    }

    XL_PHASE("ingest producer: the operator overrides defaults, not acks or idempotence");
    {
        const char *const defaults[] = {"message.timeout.ms", "4321"};
        const xl_kconf_spec_t spec = {.client = XL_KCONF_INGEST_PRODUCER,
                                      .defaults = defaults,
                                      .ndefaults = 1,
                                      .props = unsafe,
                                      .nprops = NUNSAFE};
        XL_REQUIRE((kconf = xl_kconf_build(&spec, err, sizeof(err))) != NULL, "%s", err);
        CHECK_GET(kconf, "bootstrap.servers", "broker-1:9092");
        CHECK_GET(kconf, "linger.ms", "50");
        CHECK_GET(kconf, "client.id", "operator-id");
        CHECK_GET(kconf, "message.timeout.ms", "777"); /* the operator's setting beats the caller's default */
        CHECK_GET(kconf, "partitioner", "murmur2_random");
        CHECK_GET(kconf, "enable.idempotence", "true");
        CHECK_GET(kconf, "acks", "-1");
        rd_kafka_conf_destroy(kconf);
    }

    XL_PHASE("dead-letter producer: the operator overrides defaults, not acks or idempotence");
    {
        const xl_kconf_spec_t spec = {.client = XL_KCONF_DLQ_PRODUCER, .props = unsafe, .nprops = NUNSAFE};
        XL_REQUIRE((kconf = xl_kconf_build(&spec, err, sizeof(err))) != NULL, "%s", err);
        CHECK_GET(kconf, "linger.ms", "50");
        CHECK_GET(kconf, "client.id", "operator-id");
        CHECK_GET(kconf, "message.timeout.ms", "777");
        CHECK_GET(kconf, "enable.idempotence", "true");
        CHECK_GET(kconf, "acks", "-1");
        rd_kafka_conf_destroy(kconf);
    }

    XL_PHASE("dead-letter producer: defaults alone");
    {
        const xl_kconf_spec_t spec = {.client = XL_KCONF_DLQ_PRODUCER};
        XL_REQUIRE((kconf = xl_kconf_build(&spec, err, sizeof(err))) != NULL, "%s", err);
        CHECK_GET(kconf, "client.id", "execlog-projector-dlq");
        CHECK_GET(kconf, "linger.ms", "1");
        CHECK_GET(kconf, "message.timeout.ms", "30000");
        rd_kafka_conf_destroy(kconf);
    }

    XL_PHASE("projector consumer: group.id is a default the operator may replace");
    {
        const char *const group[] = {"group.id", "execlog-projector-r1"};
        const xl_kconf_spec_t spec0 = {.client = XL_KCONF_PROJECTOR, .defaults = group, .ndefaults = 1};
        XL_REQUIRE((kconf = xl_kconf_build(&spec0, err, sizeof(err))) != NULL, "%s", err);
        CHECK_GET(kconf, "group.id", "execlog-projector-r1");
        CHECK_GET(kconf, "enable.auto.commit", "false");
        CHECK_GET(kconf, "auto.offset.reset", "smallest"); /* librdkafka's name for "earliest" */
        rd_kafka_conf_destroy(kconf);
        const char *const props[] = {"group.id", "operator-group", "fetch.wait.max.ms", "99"};
        const xl_kconf_spec_t spec = {
            .client = XL_KCONF_PROJECTOR, .defaults = group, .ndefaults = 1, .props = props, .nprops = 2};
        XL_REQUIRE((kconf = xl_kconf_build(&spec, err, sizeof(err))) != NULL, "%s", err);
        CHECK_GET(kconf, "group.id", "operator-group");
        CHECK_GET(kconf, "fetch.wait.max.ms", "99");
        rd_kafka_conf_destroy(kconf);
    }

    XL_PHASE("claim: the caller's locked settings beat the operator's");
    {
        const char *const props[] = {"group.id", "operator-group", "enable.auto.commit", "true",
                                     "session.timeout.ms", "45000"};
        const char *const own[] = {"group.id", "execlog-ingest-t-node-3", "session.timeout.ms", "6000"};
        const xl_kconf_spec_t spec = {
            .client = XL_KCONF_CLAIM, .props = props, .nprops = 3, .locked = own, .nlocked = 2};
        XL_REQUIRE((kconf = xl_kconf_build(&spec, err, sizeof(err))) != NULL, "%s", err);
        CHECK_GET(kconf, "group.id", "execlog-ingest-t-node-3");
        CHECK_GET(kconf, "session.timeout.ms", "6000");
        CHECK_GET(kconf, "enable.auto.commit", "false");
        rd_kafka_conf_destroy(kconf);
    }

    XL_PHASE("admin: client.id is fixed");
    {
        const xl_kconf_spec_t spec = {.client = XL_KCONF_ADMIN, .props = unsafe, .nprops = NUNSAFE};
        XL_REQUIRE((kconf = xl_kconf_build(&spec, err, sizeof(err))) != NULL, "%s", err);
        CHECK_GET(kconf, "client.id", "execlog-admin");
        CHECK_GET(kconf, "bootstrap.servers", "broker-1:9092");
        rd_kafka_conf_destroy(kconf);
    }

    XL_PHASE("rebuild: defaults, then the operator");
    {
        const char *const props[] = {"fetch.wait.max.ms", "5"};
        const xl_kconf_spec_t spec = {.client = XL_KCONF_REBUILD, .props = props, .nprops = 1};
        XL_REQUIRE((kconf = xl_kconf_build(&spec, err, sizeof(err))) != NULL, "%s", err);
        CHECK_GET(kconf, "group.id", "execlog-rebuild");
        CHECK_GET(kconf, "enable.partition.eof", "true");
        CHECK_GET(kconf, "fetch.wait.max.ms", "5");
        rd_kafka_conf_destroy(kconf);
    }

    XL_PHASE("errors name the setting");
    {
        const char *const bad_name[] = {"linger.ms", "3", "no.such.setting", "1"};
        const xl_kconf_spec_t spec = {.client = XL_KCONF_INGEST_PRODUCER, .props = bad_name, .nprops = 2};
        err[0] = '\0';
        XL_CHECK(xl_kconf_build(&spec, err, sizeof(err)) == NULL, "an unknown setting was accepted");
        XL_CHECK(strncmp(err, "kafka.no.such.setting: ", 23) == 0, "err = '%s'", err);
        const char *const bad_value[] = {"linger.ms", "soon"};
        const xl_kconf_spec_t spec2 = {.client = XL_KCONF_DLQ_PRODUCER, .props = bad_value, .nprops = 1};
        err[0] = '\0';
        XL_CHECK(xl_kconf_build(&spec2, err, sizeof(err)) == NULL, "a bad value was accepted");
        XL_CHECK(strncmp(err, "kafka.linger.ms: ", 17) == 0, "err = '%s'", err);
        const xl_kconf_spec_t spec3 = {.client = XL_KCONF__COUNT};
        XL_CHECK(xl_kconf_build(&spec3, err, sizeof(err)) == NULL, "an unknown client was accepted");
    }
    return xl_test_finish();
}
