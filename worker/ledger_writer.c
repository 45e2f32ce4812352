/* ledger_writer.c — see ledger_writer.h. */
#include "ledger_writer.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sl.h"

struct ledger_writer {
    uv_loop_t *loop;
    uv_async_t async; /* the writer → loop wake-up; freed in its close_cb */
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cond; /* signalled on new work, finished work, stop */
    struct ledger_task *todo_head, *todo_tail; /* submitted, not yet run */
    struct ledger_task *done_head, *done_tail; /* run, done not yet called */
    size_t pending;   /* submitted, done not yet called (loop thread only) */
    bool running_one; /* the thread is inside a work callback */
    bool stop;
    char *conninfo, *app_name;
    struct db *db; /* the thread's */
};

static void push(struct ledger_task **head, struct ledger_task **tail,
                 struct ledger_task *t)
{
    t->next = NULL;
    if (*tail)
        (*tail)->next = t;
    else
        *head = t;
    *tail = t;
}

static void run_task(struct ledger_writer *lw, struct ledger_task *t)
{
    t->err[0] = '\0';
    if (!lw->db) {
        lw->db = db_open(lw->conninfo, lw->app_name, t->err, sizeof(t->err));
        t->rc = lw->db ? SL_OK : SL_EDB;
    } else {
        t->rc = db_ensure_connected(lw->db, t->err, sizeof(t->err));
    }
    if (t->rc == SL_OK)
        t->rc = t->work(lw->db, t, t->err, sizeof(t->err));
}

static void thread_main(void *arg)
{
    struct ledger_writer *lw = arg;
    uv_mutex_lock(&lw->mu);
    for (;;) {
        while (!lw->todo_head && !lw->stop)
            uv_cond_wait(&lw->cond, &lw->mu);
        struct ledger_task *t = lw->todo_head;
        if (!t)
            break; /* stop, and nothing left */
        lw->todo_head = t->next;
        if (!lw->todo_head)
            lw->todo_tail = NULL;
        lw->running_one = true;
        uv_mutex_unlock(&lw->mu);
        run_task(lw, t);
        uv_mutex_lock(&lw->mu);
        lw->running_one = false;
        push(&lw->done_head, &lw->done_tail, t);
        uv_cond_broadcast(&lw->cond);
        uv_async_send(&lw->async);
    }
    uv_mutex_unlock(&lw->mu);
    db_close(lw->db);
    lw->db = NULL;
}

/* Runs the done callbacks of finished tasks, in order. */
static void deliver(struct ledger_writer *lw)
{
    uv_mutex_lock(&lw->mu);
    struct ledger_task *t = lw->done_head;
    lw->done_head = lw->done_tail = NULL;
    uv_mutex_unlock(&lw->mu);
    while (t) {
        struct ledger_task *next = t->next;
        lw->pending--;
        t->done(t);
        t = next;
    }
}

static void on_async(uv_async_t *a)
{
    deliver(a->data);
}

struct ledger_writer *ledger_writer_new(uv_loop_t *loop, const char *conninfo,
                                        const char *app_name)
{
    struct ledger_writer *lw = xcalloc(1, sizeof(*lw));
    lw->loop = loop;
    lw->conninfo = xstrdup(conninfo ? conninfo : "");
    lw->app_name = xstrdup(app_name);
    uv_mutex_init(&lw->mu);
    uv_cond_init(&lw->cond);
    uv_async_init(loop, &lw->async, on_async);
    lw->async.data = lw;
    if (uv_thread_create(&lw->thread, thread_main, lw) != 0) {
        log_error("ledger writer: cannot start its thread");
        abort();
    }
    return lw;
}

void ledger_writer_submit(struct ledger_writer *lw, struct ledger_task *t)
{
    uv_mutex_lock(&lw->mu);
    push(&lw->todo_head, &lw->todo_tail, t);
    lw->pending++;
    uv_cond_broadcast(&lw->cond);
    uv_mutex_unlock(&lw->mu);
}

size_t ledger_writer_pending(const struct ledger_writer *lw)
{
    return lw ? lw->pending : 0;
}

void ledger_writer_wait(struct ledger_writer *lw)
{
    while (lw && lw->pending > 0) {
        uv_mutex_lock(&lw->mu);
        while (lw->todo_head || lw->running_one)
            uv_cond_wait(&lw->cond, &lw->mu);
        uv_mutex_unlock(&lw->mu);
        deliver(lw);
    }
}

static void on_closed(uv_handle_t *h)
{
    struct ledger_writer *lw = h->data;
    uv_mutex_destroy(&lw->mu);
    uv_cond_destroy(&lw->cond);
    free(lw->conninfo);
    free(lw->app_name);
    free(lw);
}

void ledger_writer_close(struct ledger_writer *lw)
{
    if (!lw)
        return;
    ledger_writer_wait(lw);
    uv_mutex_lock(&lw->mu);
    lw->stop = true;
    uv_cond_broadcast(&lw->cond);
    uv_mutex_unlock(&lw->mu);
    uv_thread_join(&lw->thread);
    uv_close((uv_handle_t *)&lw->async, on_closed);
}
