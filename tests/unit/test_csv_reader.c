/* sources: ops/common/csv_reader.c lib/sl.c */
/* The CSV reader of the ops tools (ops/common/csv_reader.h, on libcsv):
 * quoted commas, doubled quotes, newlines inside quotes, CRLF line ends, a
 * last line without one, blank lines, a field longer than one read chunk;
 * `text` and `label` found by header name or taken from the first two
 * columns; and each malformed file failing with its record number. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../ops/common/csv_reader.h"
#include "sl.h"

static char dir[] = "/tmp/test_csv_reader.XXXXXX";

/* Writes len bytes of body to a new file of the test's folder. */
static const char *write_csv(const char *name, const char *body, size_t len)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(body, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return path;
}

#define WRITE(name, body) write_csv(name, body, sizeof(body) - 1)

/* Every record as "N:field|field|...\n", appended to a buffer. */
struct collect {
    char out[1024];
    int stop_at; /* record at which to return 7, or 0 */
};

static int on_record(void *ctx, long record, char *const *fields, const size_t *lens,
                     size_t n)
{
    struct collect *c = ctx;
    size_t len = strlen(c->out);
    len += (size_t)snprintf(c->out + len, sizeof c->out - len, "%ld:", record);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(strlen(fields[i]), lens[i]);
        len += (size_t)snprintf(c->out + len, sizeof c->out - len, "%s%s", i ? "|" : "",
                                fields[i]);
    }
    snprintf(c->out + len, sizeof c->out - len, "\n");
    return record == c->stop_at ? 7 : 0;
}

static void test_quoting(void **state)
{
    (void)state;
    const char *path = WRITE("quoting.csv",
                             "text,label\r\n"
                             "plain,a\r\n"
                             "\"with, comma\",b\r\n"
                             "\"say \"\"hi\"\"\",c\r\n"
                             "\"two\r\nlines\",d\r\n"
                             "\r\n"
                             "\"lf\nonly\", e \r\n"
                             "\"\",f\r\n"
                             "no line end,g");
    struct collect c = {0};
    char err[256] = "";
    assert_int_equal(csv_stream(path, on_record, &c, err, sizeof err), SL_OK);
    assert_string_equal(c.out, "1:text|label\n"
                               "2:plain|a\n"
                               "3:with, comma|b\n"
                               "4:say \"hi\"|c\n"
                               "5:two\r\nlines|d\n"
                               "6:lf\nonly| e \n"
                               "7:|f\n"
                               "8:no line end|g\n");
}

/* A quoted field of 200,000 bytes spans several reads of the file. */
static void test_long_field(void **state)
{
    (void)state;
    size_t big = 200000;
    char *body = malloc(big + 64);
    assert_non_null(body);
    size_t len = (size_t)sprintf(body, "text,label\n\"");
    for (size_t i = 0; i < big; i++)
        body[len++] = i % 1000 == 999 ? ',' : i % 100 == 99 ? '\n' : 'x';
    len += (size_t)sprintf(body + len, "\",long\nshort,s\n");
    struct csv_labelled d;
    char err[256] = "";
    assert_int_equal(csv_labelled_read(write_csv("long.csv", body, len), &d, err, sizeof err),
                     SL_OK);
    assert_int_equal(d.n, 2);
    assert_int_equal(strlen(d.text[0]), big);
    assert_memory_equal(d.text[0], body + strlen("text,label\n\""), big);
    assert_string_equal(d.label[0], "long");
    assert_string_equal(d.text[1], "short");
    csv_labelled_free(&d);
    free(body);
}

static void test_labelled_columns(void **state)
{
    (void)state;
    struct csv_labelled d;
    char err[256] = "";
    /* By name, in any order, the header trimmed. */
    const char *path = WRITE("named.csv", "id, label ,text\r\n1,x,\"hello, there\"\r\n2,y,bye\r\n");
    assert_int_equal(csv_labelled_read(path, &d, err, sizeof err), SL_OK);
    assert_int_equal(d.n, 2);
    assert_string_equal(d.text[0], "hello, there");
    assert_string_equal(d.label[0], "x");
    assert_string_equal(d.text[1], "bye");
    assert_string_equal(d.label[1], "y");
    csv_labelled_free(&d);
    /* Other names: the first two columns. */
    path = WRITE("other.csv", "message,intent,extra\nhi,greet,z\n");
    assert_int_equal(csv_labelled_read(path, &d, err, sizeof err), SL_OK);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.text[0], "hi");
    assert_string_equal(d.label[0], "greet");
    csv_labelled_free(&d);
    /* One column cannot be a data set. */
    path = WRITE("one.csv", "text\nhello\n");
    assert_int_equal(csv_labelled_read(path, &d, err, sizeof err), SL_EINVAL);
    assert_non_null(strstr(err, "one.csv: record 1: 1 field"));
    assert_null(d.text);
}

/* Reads path, expecting SL_EINVAL and an error ending in want. */
static void expect_malformed(const char *path, const char *want)
{
    struct collect c = {0};
    char err[256] = "";
    assert_int_equal(csv_stream(path, on_record, &c, err, sizeof err), SL_EINVAL);
    size_t n = strlen(err), w = strlen(want);
    assert_true(n >= w);
    assert_string_equal(err + n - w, want);
    assert_non_null(strstr(err, dir));
}

static void test_malformed(void **state)
{
    (void)state;
    expect_malformed(WRITE("unterminated.csv", "text,label\nok,a\n\"never closed,b\nc,d\n"),
                     "record 3: unterminated quote");
    expect_malformed(WRITE("count.csv", "text,label\r\nok,a\r\nok,b\r\none,two,three\r\n"),
                     "record 4: 3 fields, the header has 2");
    expect_malformed(WRITE("short.csv", "text,label\nalone\n"),
                     "record 2: 1 fields, the header has 2");
    expect_malformed(WRITE("stray.csv", "text,label\nsay \"hi\",a\n"),
                     "record 2: a quote inside an unquoted field or text after a closing quote");
    expect_malformed(WRITE("after.csv", "text,label\n\"quoted\"tail,a\n"),
                     "record 2: a quote inside an unquoted field or text after a closing quote");
    expect_malformed(WRITE("empty.csv", ""), "empty.csv: no header row");
    /* The malformed record is refused, not half-read into a data set. */
    struct csv_labelled d;
    char err[256];
    assert_int_equal(csv_labelled_read(WRITE("count2.csv", "text,label\na,b\nc\n"), &d, err,
                                       sizeof err),
                     SL_EINVAL);
    assert_null(d.text);
    assert_int_equal(d.n, 0);
}

static void test_stop_and_missing(void **state)
{
    (void)state;
    const char *path = WRITE("stop.csv", "a,b\n1,2\n3,4\n5,6\n");
    struct collect c = {.stop_at = 3};
    char err[256] = "";
    assert_int_equal(csv_stream(path, on_record, &c, err, sizeof err), 7);
    assert_string_equal(c.out, "1:a|b\n2:1|2\n3:3|4\n");
    char missing[256];
    snprintf(missing, sizeof missing, "%s/missing.csv", dir);
    assert_int_equal(csv_stream(missing, on_record, &c, err, sizeof err), SL_EIO);
    assert_non_null(strstr(err, "missing.csv: "));
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quoting),
        cmocka_unit_test(test_long_field),
        cmocka_unit_test(test_labelled_columns),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_stop_and_missing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
