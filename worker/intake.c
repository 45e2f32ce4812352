/* intake.c — see intake.h. */
#include "intake.h"

#include "claiming.h"
#include "log.h"
#include "parked.h"
#include "reject.h"
#include "worker_internal.h"

struct intake {
    struct job *jobs[INTAKE_CHUNK];
    int32_t partitions[INTAKE_CHUNK];
    int64_t offsets[INTAKE_CHUNK];
    uint32_t gens[INTAKE_CHUNK];
    size_t n;
};

/* Starts the jobs of a chunk (see claiming_sort). */
static void start_intake(struct worker *w, struct intake *in)
{
    struct parked_job jobs[INTAKE_CHUNK];
    for (size_t i = 0; i < in->n; i++)
        jobs[i] = (struct parked_job){in->jobs[i], in->partitions[i],
                                      in->offsets[i], in->gens[i], 0};
    claiming_sort(w, jobs, in->n, false);
    in->n = 0;
    parked_start(w);
}

static void take_message(struct worker *w, struct intake *in,
                         rd_kafka_message_t *m)
{
    uint32_t gen = kconsumer_track(w->consumer, m);
    char reason[256];
    struct job *job = NULL;
    enum job_reject code = job_parse(w->cfg, m->payload ? m->payload : "",
                                     m->len, &job, reason, sizeof(reason));
    if (code != JOB_OK) {
        reject_message(w, m, gen, code, reason);
        return;
    }
    in->jobs[in->n] = job;
    in->partitions[in->n] = m->partition;
    in->offsets[in->n] = m->offset;
    in->gens[in->n] = gen;
    in->n++;
}

/* Parked jobs plus rejects waiting for the DLQ: what intake has taken and
 * not yet handed to a run or the batch. */
static size_t backlog(const struct worker *w)
{
    return w->parked_len + w->n_waiting + w->awaiting_dlq;
}

static void apply_backpressure(struct worker *w)
{
    if (!w->paused && backlog(w) >= w->parked_cap) {
        kconsumer_pause(w->consumer);
        w->paused = true;
        log_debug("paused consumption: %zu jobs parked", backlog(w));
    } else if (w->paused && backlog(w) < w->parked_cap / 2) {
        kconsumer_resume(w->consumer);
        w->paused = false;
    }
}

void intake_drain(struct worker *w)
{
    struct intake in;
    in.n = 0;
    /* Polling goes on while paused: rebalances are served from here. */
    for (;;) {
        if (w->runs.draining)
            break;
        if (backlog(w) + in.n >= w->parked_cap && !w->paused)
            break;
        rd_kafka_message_t *m = kconsumer_poll(w->consumer);
        if (!m)
            break;
        take_message(w, &in, m);
        rd_kafka_message_destroy(m);
        if (in.n == INTAKE_CHUNK)
            start_intake(w, &in);
    }
    if (in.n)
        start_intake(w, &in);
    apply_backpressure(w);
}
