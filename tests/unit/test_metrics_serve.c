/* sources: lib/metrics/metrics_serve.c lib/metrics/metrics_http.c lib/metrics/metrics.c lib/metrics/telemetry.c lib/config.c lib/config_table.c lib/utf8.c lib/log.c lib/sl.c tests/unit/fixture.c */
/* The metrics endpoint started from config: metrics.listen parsing (table),
 * port 0 resolved, every telemetry family served, /healthz following the
 * reported checks, "" disabling the server but not the counters, a bind
 * failure reported with telemetry left freed. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "config.h"
#include "fixture.h"
#include "metrics/metrics_serve.h"
#include "metrics/telemetry.h"

/* The example config with "metrics" replaced by metrics_json (NULL: no
 * metrics section). */
static int parse_with(const char *metrics_json, struct config **cfg,
                      char *err, size_t err_size)
{
    char *text = fixture_read_path(SLUICE_SOURCE_DIR "/config/sluice.example.json", NULL);
    cJSON *root = cJSON_Parse(text);
    free(text);
    cJSON_DeleteItemFromObject(root, "metrics");
    if (metrics_json)
        cJSON_AddItemToObject(root, "metrics", cJSON_Parse(metrics_json));
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    int rc = config_parse(json, "t.json", cfg, err, err_size);
    free(json);
    return rc;
}

struct listen_case {
    const char *metrics_json;
    const char *want_listen; /* NULL: an error containing want_err */
    const char *want_err;
};

static const struct listen_case listen_cases[] = {
    {NULL, "127.0.0.1:9464", NULL},
    {"{}", "127.0.0.1:9464", NULL},
    {"{\"listen\": \"\"}", "", NULL},
    {"{\"listen\": \"127.0.0.1:0\"}", "127.0.0.1:0", NULL},
    {"{\"listen\": \"0.0.0.0:9100\"}", "0.0.0.0:9100", NULL},
    {"{\"listen\": \"[::1]:9464\"}", "[::1]:9464", NULL},
    {"{\"listen\": \"9464\"}", NULL, "t.json: metrics.listen: must be \"HOST:PORT\""},
    {"{\"listen\": \":9464\"}", NULL, "metrics.listen: must be"},
    {"{\"listen\": \"127.0.0.1:\"}", NULL, "metrics.listen: must be"},
    {"{\"listen\": \"127.0.0.1:x1\"}", NULL, "metrics.listen: must be"},
    {"{\"listen\": \"127.0.0.1:65536\"}", NULL, "metrics.listen: must be"},
    {"{\"listen\": \"127.0.0.1:-1\"}", NULL, "metrics.listen: must be"},
    {"{\"listen\": 9464}", NULL, "metrics.listen: must be a string"},
    {"{\"port\": 9464}", NULL, "metrics.port: unknown key"},
    {"[]", NULL, "metrics: must be an object"},
};

static void test_listen_config(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(listen_cases) / sizeof(listen_cases[0]); i++) {
        const struct listen_case *c = &listen_cases[i];
        struct config *cfg = NULL;
        char err[512] = "";
        int rc = parse_with(c->metrics_json, &cfg, err, sizeof(err));
        if (c->want_listen) {
            if (rc != SL_OK)
                fail_msg("case %zu: %s", i, err);
            assert_string_equal(cfg->metrics.listen, c->want_listen);
        } else {
            assert_int_equal(rc, SL_ECONFIG);
            if (!strstr(err, c->want_err))
                fail_msg("case %zu: got '%s', want '%s'", i, err, c->want_err);
        }
        config_free(cfg);
    }
}

struct body {
    char buf[1 << 16];
    size_t n;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    struct body *b = arg;
    size_t len = size * n;
    if (len > sizeof(b->buf) - 1 - b->n)
        len = sizeof(b->buf) - 1 - b->n;
    memcpy(b->buf + b->n, p, len);
    b->n += len;
    b->buf[b->n] = '\0';
    return size * n;
}

static long get(int port, const char *path, struct body *b)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    b->n = 0;
    b->buf[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return status;
}

static struct config *config_listening(const char *listen)
{
    char json[128];
    struct config *cfg = NULL;
    char err[512];
    snprintf(json, sizeof(json), "{\"listen\": \"%s\"}", listen);
    if (parse_with(json, &cfg, err, sizeof(err)) != SL_OK)
        fail_msg("%s", err);
    return cfg;
}

static void test_serves_telemetry_and_health(void **state)
{
    (void)state;
    struct config *cfg = config_listening("127.0.0.1:0");
    struct metrics_serve *s = NULL;
    char err[256];
    assert_int_equal(metrics_serve_start(cfg, &s, err, sizeof(err)), SL_OK);
    int port = metrics_serve_port(s);
    assert_true(port > 0);
    assert_non_null(telemetry()->registry);

    metrics_count(telemetry()->cost_nanodollars, 1234567, telemetry_tier(2),
                  "inbox", NULL);
    struct body b;
    assert_int_equal(get(port, "/metrics", &b), 200);
    static const char *const families[] = {
        "sluice_jobs_total", "sluice_escalations_total",
        "sluice_cost_nanodollars_total", "sluice_provider_calls_total",
        "sluice_provider_retries_total", "sluice_provider_call_duration_seconds",
        "sluice_inflight_calls", "sluice_consumer_lag_messages",
        "sluice_rejected_total", "sluice_tier0_withdrawals_total",
    };
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        char want[128];
        snprintf(want, sizeof(want), "# TYPE %s ", families[i]);
        if (!strstr(b.buf, want))
            fail_msg("no %s in the scrape", want);
    }
    assert_non_null(strstr(b.buf, "sluice_cost_nanodollars_total{tier=\"2\","
                                  "feature=\"inbox\"} 1234567\n"));

    /* table: which check is down -> expected /healthz status */
    static const struct {
        enum metrics_check check;
        bool ok;
        long want;
    } steps[] = {
        {METRICS_CHECK_DB, true, 200},     {METRICS_CHECK_DB, false, 503},
        {METRICS_CHECK_KAFKA, false, 503}, {METRICS_CHECK_DB, true, 503},
        {METRICS_CHECK_KAFKA, true, 200},
    };
    assert_int_equal(get(port, "/healthz", &b), 200);
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        metrics_serve_set_health(s, steps[i].check, steps[i].ok);
        assert_int_equal(get(port, "/healthz", &b), steps[i].want);
    }
    metrics_serve_stop(s);
    assert_null(telemetry()->registry);
    config_free(cfg);
}

static void test_disabled_still_counts(void **state)
{
    (void)state;
    struct config *cfg = config_listening("");
    struct metrics_serve *s = NULL;
    char err[256];
    assert_int_equal(metrics_serve_start(cfg, &s, err, sizeof(err)), SL_OK);
    assert_non_null(s);
    assert_int_equal(metrics_serve_port(s), 0);
    metrics_count(telemetry()->jobs, 1, "answered", "llm", "1");
    const char *const v[] = {"answered", "llm", "1"};
    assert_true(metric_value(metric_series(telemetry()->jobs, v)) == 1.0);
    metrics_serve_set_health(s, METRICS_CHECK_DB, false); /* nothing reads it */
    metrics_serve_stop(s);
    assert_null(telemetry()->registry);
    metrics_serve_stop(NULL);
    metrics_serve_set_health(NULL, METRICS_CHECK_DB, true);
    assert_int_equal(metrics_serve_port(NULL), 0);
    config_free(cfg);
}

static void test_bind_failure(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 1), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    char listen_addr[64];
    snprintf(listen_addr, sizeof(listen_addr), "127.0.0.1:%d", ntohs(a.sin_port));
    struct config *cfg = config_listening(listen_addr);
    struct metrics_serve *s = (struct metrics_serve *)1;
    char err[256] = "";
    assert_int_equal(metrics_serve_start(cfg, &s, err, sizeof(err)), SL_EIO);
    assert_null(s);
    assert_non_null(strstr(err, "metrics.listen 127.0.0.1:"));
    assert_null(telemetry()->registry);
    close(fd);
    config_free(cfg);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listen_config),
        cmocka_unit_test(test_serves_telemetry_and_health),
        cmocka_unit_test(test_disabled_still_counts),
        cmocka_unit_test(test_bind_failure),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
