/* shutdown.c — see shutdown.h. */
#include "shutdown.h"

#include <unistd.h>

#include "claiming_release.h"
#include "log.h"
#include "parked.h"
#include "worker_internal.h"

bool shutdown_drained(const struct worker *w)
{
    return w->in_flight == 0 && w->parked_len == 0 && w->n_waiting == 0 &&
           w->awaiting_dlq == 0 &&
           w->n_done_runs + w->n_rejects == 0 && !w->batch_retry &&
           ledger_writer_pending(w->batch_writer) == 0 &&
           ledger_writer_pending(w->intent_writer) == 0;
}

void shutdown_stop_loop(struct worker *w)
{
    claiming_flush_releases(w);
    uv_timer_stop(&w->tick);
    uv_poll_stop(&w->kafka_poll);
    uv_check_stop(&w->flush_check);
    uv_close((uv_handle_t *)&w->flush_check, NULL);
    ledger_writer_close(w->intent_writer);
    ledger_writer_close(w->batch_writer);
    w->intent_writer = w->batch_writer = NULL;
    uv_close((uv_handle_t *)&w->tick, NULL);
    uv_close((uv_handle_t *)&w->kafka_poll, NULL);
    uv_close((uv_handle_t *)&w->sigterm, NULL);
    uv_close((uv_handle_t *)&w->sigint, NULL);
    uv_close((uv_handle_t *)&w->sighup, NULL);
    http_multi_close(w->http);
    w->http = NULL;
}

static void start_drain(struct worker *w)
{
    w->runs.draining = true;
    log_info("draining: %zu jobs in flight, %zu parked, %zu waiting to be "
             "written", w->in_flight, w->parked_len,
             w->n_done_runs + w->n_rejects);
    parked_release(w);
    /* Cut retry waits short: a draining run takes no new call. */
    for (struct retry_wait *wait = w->runs.waits; wait; wait = wait->next)
        uv_timer_start(&wait->timer, wait->timer.timer_cb, 0, 0);
}

void shutdown_on_signal(uv_signal_t *s, int signum)
{
    struct worker *w = s->data;
    if (w->runs.draining) {
        log_warn("second signal %d: exiting without draining", signum);
        _exit(1);
    }
    log_info("signal %d: stopping consumption", signum);
    start_drain(w);
}
