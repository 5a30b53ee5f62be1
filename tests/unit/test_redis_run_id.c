/* test_redis_run_id.c — reading a Redis run id out of INFO's text (store/redis.h): the value a
 * sale script compares with the run a sale was synced on (store/sale.h), so a wrong parse
 * would either trust a Redis that came back behind PostgreSQL or refuse every sale. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "store/redis.h"

#define EXPECT_EQ(a, b)                                                                            \
    do {                                                                                           \
        long long ea_ = (long long)(a), eb_ = (long long)(b);                                      \
        if (ea_ != eb_) fail_msg("%s == %s: %lld != %lld", #a, #b, ea_, eb_);                      \
    } while (0)
#define EXPECT_STREQ(a, b)                                                                         \
    do {                                                                                           \
        const char *ea_ = (a), *eb_ = (b);                                                         \
        if (strcmp(ea_, eb_) != 0) fail_msg("%s == %s: \"%s\" != \"%s\"", #a, #b, ea_, eb_);       \
    } while (0)

static void reads_run_id_from_info_server(void **state) {
    (void)state;
    const char *info = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n"
                       "process_id:4242\r\nrun_id:2d0d6f2fb301749519693818bc3ae8353c697442\r\n"
                       "tcp_port:6379\r\n";
    char out[REDIS_RUN_ID_MAX] = "x";
    EXPECT_EQ(redis_parse_run_id(info, out), TR_OK);
    EXPECT_STREQ(out, "2d0d6f2fb301749519693818bc3ae8353c697442");
}

static void missing_or_malformed_run_id_is_an_error(void **state) {
    (void)state;
    char out[REDIS_RUN_ID_MAX] = "stale";
    EXPECT_EQ(redis_parse_run_id("# Server\r\nredis_version:7.0.15\r\n", out), TR_REDIS);
    EXPECT_STREQ(out, "");
    EXPECT_EQ(redis_parse_run_id(NULL, out), TR_REDIS);
    EXPECT_EQ(redis_parse_run_id("run_id:\r\n", out), TR_REDIS);
    EXPECT_EQ(redis_parse_run_id("run_id:zz\r\n", out), TR_REDIS);
    char longer[128] = "run_id:";
    memset(longer + 7, 'a', 60);
    longer[67] = '\0';
    EXPECT_EQ(redis_parse_run_id(longer, out), TR_REDIS);
    EXPECT_STREQ(out, "");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_run_id_from_info_server),
        cmocka_unit_test(missing_or_malformed_run_id_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
