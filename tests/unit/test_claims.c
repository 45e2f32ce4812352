/* sources: worker/claims.c lib/db.c lib/log.c lib/sl.c lib/utf8.c tests/unit/pg_fixture.c */
/* Job id claims against a real PostgreSQL (pg_fixture, all migrations):
 * the claim/lease rules of claims.h, table-driven where they are a table.
 * - a free id is claimed; a second owner finds it busy, and so does the
 *   owner itself (its run is elsewhere in the process);
 * - the same id twice in one micro-batch: only the first copy is claimed;
 * - a finished job (jobs row) is done for everyone, claim or not;
 * - an expired lease is taken over by the next owner that asks; a renewed
 *   one is not;
 * - released claims are free again; release never touches others' claims;
 * - base_attempt continues the cost lines a released run left behind;
 * - the function keeps the planner on its indexes (schema/015). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "claims.h"
#include "db.h"
#include "pg_fixture.h"

static struct pg_fixture pg;
static struct db *db;
static char errstr[512];

static int group_setup(void **state)
{
    (void)state;
    db = pg_fixture_start_db(&pg, "test_claims", true);
    return db ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    pg_fixture_stop_db(&pg, db);
    return 0;
}

static void take(const char *owner, int64_t lease_ms, const char *const *ids,
                 size_t n, enum claim_state *st, int *base)
{
    int rc = claims_take(db, owner, lease_ms, ids, n, st, base, errstr,
                         sizeof errstr);
    if (rc != SL_OK)
        fail_msg("claims_take: %s", errstr);
}

/* One id per row: who asks, and what they must get. */
struct step {
    const char *owner;
    const char *id;
    enum claim_state want;
};

static void test_claim_busy_done(void **state)
{
    (void)state;
    static const struct step steps[] = {
        {"w1", "a", CLAIM_TAKEN},  /* free: claimed */
        {"w2", "a", CLAIM_BUSY},   /* another owner's live claim */
        {"w1", "a", CLAIM_BUSY},   /* its own live claim: the run is elsewhere */
        {"w2", "b", CLAIM_TAKEN},
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        enum claim_state st;
        int base;
        take(steps[i].owner, 60000, &steps[i].id, 1, &st, &base);
        if (st != steps[i].want)
            fail_msg("step %zu: %s asking for %s got %s, wanted %s", i,
                     steps[i].owner, steps[i].id, claim_state_name(st),
                     claim_state_name(steps[i].want));
        assert_int_equal(base, 0);
    }
    /* The job a is finished (and its claim still there): done for all. */
    pg_fixture_exec(db, "INSERT INTO jobs (job_id, task, mode, input_chars,"
                        " received_at) VALUES ('a', 't', 'realtime', 1, now())");
    const char *ids[] = {"a", "b"};
    enum claim_state st[2];
    int base[2];
    take("w3", 60000, ids, 2, st, base);
    assert_int_equal(st[0], CLAIM_DONE);
    assert_int_equal(st[1], CLAIM_BUSY);
}

static void test_same_batch_duplicates(void **state)
{
    (void)state;
    const char *ids[] = {"d1", "d2", "d1", "d1", "d2", "d3"};
    const enum claim_state want[] = {CLAIM_TAKEN, CLAIM_TAKEN, CLAIM_BUSY,
                                     CLAIM_BUSY, CLAIM_BUSY, CLAIM_TAKEN};
    enum claim_state st[6];
    int base[6];
    take("w1", 60000, ids, 6, st, base);
    for (size_t i = 0; i < 6; i++)
        if (st[i] != want[i])
            fail_msg("copy %zu of %s: %s, wanted %s", i, ids[i],
                     claim_state_name(st[i]), claim_state_name(want[i]));
    assert_int_equal(pg_fixture_query_int(db, "SELECT count(*) FROM job_claims"
                                              " WHERE job_id LIKE 'd_'"), 3);
}

static void test_expiry_takeover_renew(void **state)
{
    (void)state;
    const char *id = "e1";
    enum claim_state st;
    int base;
    take("dead", 1, &id, 1, &st, &base); /* a 1 ms lease: lapses at once */
    assert_int_equal(st, CLAIM_TAKEN);
    pg_fixture_exec(db, "SELECT pg_sleep(0.01)");
    take("alive", 60000, &id, 1, &st, &base);
    assert_int_equal(st, CLAIM_TAKEN); /* taken over */
    char owner[64];
    pg_fixture_query_text(db, "SELECT owner FROM job_claims WHERE job_id = 'e1'",
                          owner, sizeof owner);
    assert_string_equal(owner, "alive");
    /* The dead owner coming back finds it busy. */
    take("dead", 60000, &id, 1, &st, &base);
    assert_int_equal(st, CLAIM_BUSY);

    /* A lease renewed before it lapses is not taken over. */
    const char *id2 = "e2";
    take("slow", 1, &id2, 1, &st, &base);
    long renewed = 0;
    assert_int_equal(claims_renew(db, "slow", 60000, &renewed, errstr,
                                  sizeof errstr), SL_OK);
    assert_true(renewed >= 1);
    take("other", 60000, &id2, 1, &st, &base);
    assert_int_equal(st, CLAIM_BUSY);
}

static void test_release_and_base_attempt(void **state)
{
    (void)state;
    const char *id = "r1";
    enum claim_state st;
    int base;
    take("w1", 60000, &id, 1, &st, &base);
    assert_int_equal(st, CLAIM_TAKEN);
    /* Release by another owner touches nothing. */
    assert_int_equal(claims_release(db, "w2", &id, 1, errstr, sizeof errstr), SL_OK);
    take("w2", 60000, &id, 1, &st, &base);
    assert_int_equal(st, CLAIM_BUSY);
    /* The run was released at shutdown after two calls: its lines stay. */
    pg_fixture_exec(db, "INSERT INTO cost_lines (job_id, attempt, tier, provider,"
                        " model, mode, tokens_in, tokens_cached_in, tokens_out,"
                        " cost_nanousd, baseline_nanousd, latency_ms, outcome,"
                        " task, feature, tenant, cohort) SELECT 'r1', a, 1, 'p',"
                        " 'm', 'realtime', 1, 0, 1, 1, 0, 1, 'unconfirmed', 't',"
                        " '', '', '' FROM generate_series(1, 2) a");
    assert_int_equal(claims_release(db, "w1", &id, 1, errstr, sizeof errstr), SL_OK);
    take("w2", 60000, &id, 1, &st, &base);
    assert_int_equal(st, CLAIM_TAKEN);
    assert_int_equal(base, 2);
    /* A run begun last month filed its line in last month's table
     * (schema/014): it counts too. */
    assert_int_equal(claims_release(db, "w2", &id, 1, errstr, sizeof errstr), SL_OK);
    pg_fixture_exec(db, "SELECT sluice_ledger_partitions(now()::date - 31, now()::date - 31)");
    pg_fixture_exec(db, "INSERT INTO cost_lines (job_id, attempt, tier, provider,"
                        " model, mode, tokens_in, tokens_cached_in, tokens_out,"
                        " cost_nanousd, baseline_nanousd, latency_ms, outcome,"
                        " task, feature, tenant, cohort, ledger_month)"
                        " VALUES ('r1', 3, 1, 'p', 'm', 'realtime', 1, 0, 1, 1, 0, 1,"
                        " 'unconfirmed', 't', '', '', '',"
                        " date_trunc('month', now() - interval '31 days')::date)");
    take("w1", 60000, &id, 1, &st, &base);
    assert_int_equal(st, CLAIM_TAKEN);
    assert_int_equal(base, 3);
}

/* The claim's lookups are all by primary key; schema/015 keeps the planner
 * off whole-table scans of jobs for it, a setting any redefinition of the
 * function drops unless it sets it again. */
static void test_claim_stays_on_indexes(void **state)
{
    (void)state;
    char config[256];
    pg_fixture_query_text(db, "SELECT array_to_string(proconfig, ',') FROM pg_proc"
                              " WHERE proname = 'sluice_claim_jobs'",
                          config, sizeof config);
    assert_non_null(strstr(config, "enable_seqscan=off"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_claim_busy_done),
        cmocka_unit_test(test_same_batch_duplicates),
        cmocka_unit_test(test_expiry_takeover_renew),
        cmocka_unit_test(test_release_and_base_attempt),
        cmocka_unit_test(test_claim_stays_on_indexes),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
