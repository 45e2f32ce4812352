/* sources: lib/db.c lib/log.c lib/sl.c lib/utf8.c tests/unit/pg_fixture.c */
/* Retention of jobs, results and rejected messages (schema/016) against a
 * real PostgreSQL (pg_fixture, all migrations):
 * - a finished job older than the retention goes with its result, in
 *   batches of at most max_jobs; a recent one stays, and so does an old job
 *   that is not finished (no result yet, or still pending for the
 *   scheduler); its cost lines stay;
 * - rejected messages older than the retention go, in batches;
 * - a retention or batch below 1 is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "db.h"
#include "pg_fixture.h"

static struct pg_fixture pg;
static struct db *db;

static int group_setup(void **state)
{
    (void)state;
    db = pg_fixture_start_db(&pg, "test_row_retention", true);
    return db ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    pg_fixture_stop_db(&pg, db);
    return 0;
}

/* A job finished `age` ago, with a result when answered. */
static void add_job(const char *id, const char *age, bool answered)
{
    char q[1024];
    snprintf(q, sizeof q,
             "INSERT INTO jobs (job_id, task, mode, input_chars, received_at,"
             " finished_at) VALUES ('%s', 'intent', 'async', 5,"
             " now() - interval '%s', now() - interval '%s')",
             id, age, age);
    pg_fixture_exec(db, q);
    if (answered) {
        snprintf(q, sizeof q,
                 "INSERT INTO results (job_id, status, source, attempts)"
                 " VALUES ('%s', 'answered', 'llm', 1)", id);
        pg_fixture_exec(db, q);
    }
}

/* Calls q until it deletes nothing: batches of 2 over 3 old rows. */
static void assert_batches_2_1_0(const char *q)
{
    assert_int_equal(pg_fixture_query_int(db, q), 2);
    assert_int_equal(pg_fixture_query_int(db, q), 1);
    assert_int_equal(pg_fixture_query_int(db, q), 0);
}

static void test_jobs_retain(void **state)
{
    (void)state;
    add_job("old-1", "40 days", true);
    add_job("old-2", "40 days", true);
    add_job("old-3", "31 days", true);
    add_job("recent", "29 days", true);
    add_job("old-unanswered", "40 days", false);
    add_job("old-pending", "40 days", false);
    pg_fixture_exec(db, "INSERT INTO pending (job_id, task, mode, input, ladder,"
                        " tier, provider, model) VALUES ('old-pending',"
                        " 'intent', 'async', 'hello', '{1}', 1, 'p', 'm')");
    pg_fixture_exec(db, "INSERT INTO cost_lines (job_id, attempt, tier, provider,"
                        " model, mode, tokens_in, tokens_cached_in, tokens_out,"
                        " cost_nanousd, baseline_nanousd, latency_ms, outcome,"
                        " task, feature, tenant, cohort) VALUES ('old-1', 1, 1,"
                        " 'p', 'm', 'realtime', 10, 0, 2, 100, 900, 5,"
                        " 'accepted', 'intent', '', '', '')");
    assert_batches_2_1_0("SELECT sluice_jobs_retain(30, 2)");
    char left[256];
    pg_fixture_query_text(db, "SELECT string_agg(job_id, ',' ORDER BY job_id) FROM jobs",
                          left, sizeof left);
    assert_string_equal(left, "old-pending,old-unanswered,recent");
    pg_fixture_query_text(db, "SELECT string_agg(job_id, ',' ORDER BY job_id) FROM results",
                          left, sizeof left);
    assert_string_equal(left, "recent");
    assert_int_equal(pg_fixture_query_int(db, "SELECT count(*) FROM cost_lines"
                                              " WHERE job_id = 'old-1'"), 1);
}

static void test_rejected_retain(void **state)
{
    (void)state;
    pg_fixture_exec(db, "INSERT INTO rejected (payload_sha256, reason_code, reason,"
                        " payload, created_at) SELECT sha256(i::text::bytea),"
                        " 'invalid_json', 'not JSON', i::text::bytea,"
                        " now() - i * interval '10 days' FROM generate_series(1, 5) i");
    /* 10 and 20 days old stay; 30 (a little over), 40 and 50 go. */
    assert_batches_2_1_0("SELECT sluice_rejected_retain(25, 2)");
    assert_int_equal(pg_fixture_query_int(db, "SELECT count(*) FROM rejected"), 2);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    const char *const bad[] = {
        "SELECT sluice_jobs_retain(0, 10)", "SELECT sluice_jobs_retain(30, 0)",
        "SELECT sluice_rejected_retain(0, 10)", "SELECT sluice_rejected_retain(30, -1)"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[512];
        PGresult *res = db_query(db, "retention", bad[i], 0, NULL, err, sizeof err);
        assert_null(res);
        assert_non_null(strstr(err, "must be >= 1"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jobs_retain),
        cmocka_unit_test(test_rejected_retain),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
